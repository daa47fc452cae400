from __future__ import annotations

from django.contrib import admin

from contacts.models import Contact, Invitation


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ("id", "requester", "addressee", "status", "blocked_by", "created_at", "updated_at")
    list_filter = ("status",)
    search_fields = (
        "=id",
        "requester__username",
        "requester__email",
        "addressee__username",
        "addressee__email",
    )
    list_select_related = ("requester", "addressee", "blocked_by")
    raw_id_fields = ("requester", "addressee", "blocked_by")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("id", "inviter", "invitee_email", "status", "expires_at", "last_sent_at", "accepted_by")
    list_filter = ("status",)
    search_fields = ("=id", "invitee_email", "inviter__username", "inviter__email")
    list_select_related = ("inviter", "accepted_by")
    raw_id_fields = ("inviter", "accepted_by")
    # The token hash is useless to a human and the token itself is never stored.
    exclude = ("token_hash",)
    readonly_fields = ("created_at", "last_sent_at", "accepted_at")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
