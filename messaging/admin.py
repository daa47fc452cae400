"""Admin for messages: metadata only (who, when, sizes), never ciphertext or keys.

A moderator (role moderator/admin, or a superuser) can delete a message for everyone through
the same service a sender uses; nobody can edit or hard-delete a message here.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import QuerySet
from django.db.models.functions import Length
from django.http import HttpRequest
from django.utils.functional import cached_property

from accounts.requests import AuthenticatedHttpRequest
from messaging.models import Message
from messaging.services import MODERATOR_ROLES, message_moderate_delete

CIPHERTEXT_FIELDS = ("encrypted_content", "encrypted_session_key", "sender_encrypted_session_key")


def is_moderator(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and (user.is_superuser or getattr(user, "role", None) in MODERATOR_ROLES))


class EstimatedCountPaginator(Paginator):
    """The unfiltered list counts from PostgreSQL's statistics instead of `COUNT(*)`, which reads
    the whole table (3 s at 10 million messages); a search or a filter still counts exactly."""

    estimate_from_rows = 100_000

    @cached_property
    def count(self) -> int:
        query = getattr(self.object_list, "query", None)
        if connection.vendor == "postgresql" and query is not None and not query.where:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [self.object_list.model._meta.db_table],  # type: ignore[attr-defined]  # a queryset (`query` above)
                )
                row = cursor.fetchone()
            if row and row[0] >= self.estimate_from_rows:
                return int(row[0])
        return super().count


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "sender",
        "recipient",
        "content_bytes",
        "key_bytes",
        "attachment_count",
        "crypto_version",
        "created_at",
        "read_at",
        "deleted_at",
    )
    list_select_related = ("sender", "recipient")
    list_filter = ("created_at",)
    search_fields = ("=id", "=sender__username", "=recipient__username")
    ordering = ("-stream_position",)  # a backward scan of the unique stream_position index
    show_full_result_count = False  # no second COUNT(*) over millions of rows on every page
    paginator = EstimatedCountPaginator
    actions = ["delete_for_everyone"]
    # The detail page: metadata only. The ciphertext fields are never listed, so never rendered.
    fields = (
        "id",
        "sender",
        "recipient",
        "content_bytes",
        "key_bytes",
        "attachment_count",
        "crypto_version",
        "encryption_algorithm",
        "client_message_id",
        "created_at",
        "read_at",
        "deleted_at",
        "stream_position",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Message]:
        return (
            super()
            .get_queryset(request)
            .defer(*CIPHERTEXT_FIELDS)
            .annotate(_content_bytes=Length("encrypted_content"), _key_bytes=Length("encrypted_session_key"))
        )

    @admin.display(description="content bytes")
    def content_bytes(self, message: Message) -> int:
        return message._content_bytes  # type: ignore[attr-defined]  # get_queryset's annotation

    @admin.display(description="key bytes")
    def key_bytes(self, message: Message) -> int:
        return message._key_bytes  # type: ignore[attr-defined]  # get_queryset's annotation

    @admin.display(description="attachments")
    def attachment_count(self, message: Message) -> int:
        return len(message.attachment_ids or [])

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Message | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Message | None = None) -> bool:
        return False  # no hard delete: moderation leaves a tombstone

    def has_moderate_permission(self, request: HttpRequest) -> bool:
        return is_moderator(request)

    @admin.action(
        description="Delete for everyone (wipe content, keep a tombstone)", permissions=["moderate"]
    )
    def delete_for_everyone(self, request: AuthenticatedHttpRequest, queryset: QuerySet[Message]) -> None:
        count = 0
        for message_id in queryset.filter(deleted_at__isnull=True).values_list("pk", flat=True):
            message_moderate_delete(moderator_id=request.user.pk, message_id=message_id)
            count += 1
        self.message_user(request, f"Deleted {count} message(s) for everyone.", messages.SUCCESS)
