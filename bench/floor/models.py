from django.db import models
from django.utils import timezone


class FloorRow(models.Model):
    """One row the size of a small message: the insert floor writes one, the page floor reads 50."""

    owner_id = models.UUIDField()
    body = models.TextField()  # base64 of random bytes, as a message's ciphertext is rendered
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["owner_id", "-id"], name="bench_floor_owner_id")]

    def __str__(self) -> str:
        return f"floor row {self.pk}"
