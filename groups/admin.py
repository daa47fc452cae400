"""Moderation of chat groups: groups with member counts and their members inline, search, and a
delete action that goes through the service (so members' sockets hear `group.deleted`).

Group messages are shown as metadata only: the ciphertext and the wrapped keys never appear.
Memberships are read-only here: roles and the one-owner rule change through the API's services.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.db.models.functions import Length
from django.http import HttpRequest

from groups.models import ChatGroup, GroupMember, GroupMessage
from groups.services import group_delete_by_staff


class GroupMemberInline(admin.TabularInline):
    model = GroupMember
    fields = ("user", "role", "joined_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[GroupMember]:
        return super().get_queryset(request).select_related("user").order_by("role", "joined_at")


@admin.register(ChatGroup)
class ChatGroupAdmin(admin.ModelAdmin):
    list_display = ("name", "id", "member_count", "creator", "created_at")
    list_select_related = ("creator",)
    search_fields = ("name", "description", "=id", "memberships__user__username")
    readonly_fields = ("id", "creator", "created_at", "updated_at")
    fields = ("id", "name", "description", "creator", "created_at", "updated_at")
    ordering = ("-created_at",)
    inlines = (GroupMemberInline,)
    actions = ("delete_groups",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ChatGroup]:
        return super().get_queryset(request).annotate(member_count=Count("memberships", distinct=True))

    @admin.display(description="members", ordering="member_count")
    def member_count(self, obj: ChatGroup) -> int:
        return obj.member_count  # type: ignore[attr-defined]  # get_queryset's annotation

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        # Django's bulk delete would skip the service (no events to the members' sockets).
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Delete the selected groups (members are notified)", permissions=["delete"])
    def delete_groups(self, request: HttpRequest, queryset: QuerySet[ChatGroup]) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        for group_id in ids:
            group_delete_by_staff(group_id=group_id)
        self.message_user(request, f"Deleted {len(ids)} group(s).", messages.SUCCESS)

    def delete_model(self, request: HttpRequest, obj: ChatGroup) -> None:
        group_delete_by_staff(group_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ChatGroup]) -> None:
        for group_id in list(queryset.values_list("pk", flat=True)):
            group_delete_by_staff(group_id=group_id)


@admin.register(GroupMessage)
class GroupMessageAdmin(admin.ModelAdmin):
    """Metadata only: who, where, when, how big. Never the ciphertext or the keys."""

    list_display = (
        "id",
        "group",
        "sender",
        "created_at",
        "ciphertext_bytes",
        "attachment_count",
        "crypto_version",
    )
    list_select_related = ("group", "sender")
    search_fields = ("=id", "=group__id", "group__name", "sender__username")
    fields = (
        "id",
        "group",
        "sender",
        "created_at",
        "stream_position",
        "ciphertext_bytes",
        "crypto_version",
        "encryption_algorithm",
        "client_message_id",
        "attachment_ids",
    )
    readonly_fields = fields
    ordering = ("-stream_position",)
    list_filter = ("crypto_version", "encryption_algorithm")

    def get_queryset(self, request: HttpRequest) -> QuerySet[GroupMessage]:
        # defer the ciphertext: the admin never loads it, only its length.
        return (
            super()
            .get_queryset(request)
            .defer("encrypted_content")
            .annotate(content_length=Length("encrypted_content"))
        )

    @admin.display(description="ciphertext bytes", ordering="content_length")
    def ciphertext_bytes(self, obj: GroupMessage) -> int:
        return obj.content_length  # type: ignore[attr-defined]  # get_queryset's annotation

    @admin.display(description="attachments")
    def attachment_count(self, obj: GroupMessage) -> int:
        return len(obj.attachment_ids or [])

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
