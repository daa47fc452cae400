from django.db import models


class StreamCounter(models.Model):
    """One row per named stream; `value` is the last position handed out.

    See core.stream: the row lock taken by the increment is held until commit, so
    positions become visible in the order they were handed out.
    """

    name = models.CharField(max_length=32, primary_key=True)
    value = models.BigIntegerField(default=0)

    class Meta:
        db_table = "core_stream_counter"

    def __str__(self) -> str:
        return f"{self.name}={self.value}"
