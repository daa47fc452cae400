from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from notifications.models import OutboundEmail
from notifications.services import emails_resend


@admin.register(OutboundEmail)
class OutboundEmailAdmin(admin.ModelAdmin):
    list_display = ("created_at", "to_email", "template", "status", "attempts", "short_error", "sent_at")
    list_filter = ("status", "template")
    search_fields = ("to_email", "subject", "last_error")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    actions = ("resend",)
    # The outbox is written by services only; admins read it and resend, they do not edit mail.
    readonly_fields = (
        "id",
        "to_email",
        "template",
        "subject",
        "body_text",
        "body_html",
        "status",
        "attempts",
        "last_error",
        "next_attempt_at",
        "created_at",
        "sent_at",
    )

    @admin.display(description="last error")
    def short_error(self, obj: OutboundEmail) -> str:
        return obj.last_error[:80]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Resend the selected emails", permissions=["change"])
    def resend(self, request: HttpRequest, queryset: QuerySet[OutboundEmail]) -> None:
        count = emails_resend(email_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{count} email(s) queued again.", messages.SUCCESS)
