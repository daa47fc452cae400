"""Django admin for users: search, filters, and moderation actions that go through the services.

The admin never shows the password hash and never edits `is_active` directly: bans and un-bans
go through accounts.services, so tokens and sockets are revoked exactly as on every other path.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts import services
from accounts.backends import REFUSED_ATTRIBUTE
from accounts.models import DeletedUser, User, validate_unreserved_email, validate_unreserved_username
from core.exceptions import ApplicationError


class RateLimitedAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin login, refused by the shared login limits (accounts.backends): a plain message,
    not "wrong password", so a locked-out admin knows to wait rather than doubt the password."""

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "rate_limited": "Too many login attempts for this account or from this address. Try again later.",
    }

    def get_invalid_login_error(self) -> ValidationError:
        if getattr(self.request, REFUSED_ATTRIBUTE, None) is not None:
            return ValidationError(self.error_messages["rate_limited"], code="rate_limited")
        return super().get_invalid_login_error()


admin.site.login_form = RateLimitedAdminAuthenticationForm


class ModerationActionForm(ActionForm):
    reason = forms.CharField(
        required=False,
        max_length=500,
        label="Reason",
        help_text="Required to ban: shown in the user's record.",
    )


class UserAdminForm(forms.ModelForm):
    """The deletion placeholders' shapes are refused here as at registration (accounts.models);
    a value that is not being changed (a deleted row's own placeholder) is left alone."""

    class Meta:
        model = User
        fields = ("username", "email")  # ModelAdmin.get_form adds the fieldsets' others

    def _unchanged(self, name: str, value: str) -> bool:
        return self.instance.pk is not None and getattr(self.instance, name) == value

    def clean_username(self) -> str:
        value = self.cleaned_data["username"]
        if not self._unchanged("username", value):
            validate_unreserved_username(value)
        return value

    def clean_email(self) -> str:
        value = self.cleaned_data["email"]
        if not self._unchanged("email", value):
            validate_unreserved_email(value)
        return value


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    form = UserAdminForm
    action_form = ModerationActionForm
    actions = ("ban_users", "unban_users", "mark_verified")
    list_display = (
        "username",
        "email",
        "full_name",
        "role",
        "is_active",
        "is_verified",
        "banned_at",
        "date_joined",
    )
    list_filter = ("role", "is_active", "is_verified", "is_staff")
    search_fields = ("email", "username", "full_name")
    ordering = ("-date_joined",)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    show_full_result_count = False  # a COUNT(*) over a million users on every page is not free
    # No `password` anywhere: the hash is nobody's business, not even an admin's.
    fieldsets = (
        (None, {"fields": ("id", "username", "email", "role", "is_staff", "is_superuser")}),
        ("Profile", {"fields": ("full_name", "avatar_url", "bio", "public_key", "last_seen")}),
        ("Status", {"fields": ("is_active", "is_verified", "banned_at", "ban_reason", "deleted_at")}),
        ("Dates", {"fields": ("date_joined", "updated_at", "last_login")}),
    )
    readonly_fields = (
        "id",
        "is_active",
        "banned_at",
        "ban_reason",
        "deleted_at",
        "date_joined",
        "updated_at",
        "last_login",
        "last_seen",
        "public_key",
    )

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> tuple[str, ...]:
        readonly = tuple(self.readonly_fields)
        if not request.user.is_superuser:
            # Staff who may change users must not be able to raise anyone's powers, their own first.
            readonly += ("role", "is_staff", "is_superuser")
        return readonly

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # accounts are made by registration (or `createsuperuser`)

    def save_model(self, request: HttpRequest, obj: User, form: forms.ModelForm, change: bool) -> None:
        # Ticking "verified" is the "mark verified" action: through the service, so the higher
        # apps hear of it (contacts accepts the invitations waiting for the address).
        verifies = change and "is_verified" in form.changed_data and obj.is_verified
        if verifies:
            obj.is_verified = False
        super().save_model(request, obj, form, change)
        if verifies:
            obj.is_verified = services.user_mark_verified(user_id=obj.pk).is_verified

    def has_delete_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return False  # a hard delete would cascade through messages; deletion is a scrub

    @admin.action(description="Ban selected users (deactivate with the reason given)")
    def ban_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        reason = (request.POST.get("reason") or "").strip()
        if not reason:
            self.message_user(request, "Give a reason to ban.", level=messages.ERROR)
            return
        done = 0
        for user_id in queryset.exclude(pk=request.user.pk).values_list("pk", flat=True):
            try:
                services.user_ban(user_id=user_id, reason=reason)
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"{user_id}: {exc.message}", level=messages.WARNING)
        self.message_user(request, f"Banned {done} user(s).")

    @admin.action(description="Un-ban selected users")
    def unban_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        done = 0
        for user_id in queryset.filter(banned_at__isnull=False).values_list("pk", flat=True):
            try:
                services.user_unban(user_id=user_id)
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"{user_id}: {exc.message}", level=messages.WARNING)
        self.message_user(request, f"Un-banned {done} user(s).")

    @admin.action(description="Mark selected users' email as verified")
    def mark_verified(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        ids = list(queryset.filter(is_verified=False, deleted_at__isnull=True).values_list("pk", flat=True))
        for user_id in ids:
            services.user_mark_verified(user_id=user_id)
        self.message_user(request, f"Marked {len(ids)} user(s) verified.")


@admin.register(DeletedUser)
class DeletedUserAdmin(admin.ModelAdmin):
    list_display = ("former_user_id", "reason", "deleted_at")
    search_fields = ("=former_user_id", "=email_hash")
    search_help_text = "A former user id, or an email address (matched by its keyed hash)."
    readonly_fields = ("id", "former_user_id", "email_hash", "reason", "deleted_at")

    def get_search_results(self, request, queryset, search_term):  # type: ignore[no-untyped-def]
        if "@" in search_term:
            return queryset.filter(email_hash=services.deleted_email_hash(search_term)), False
        return super().get_search_results(request, queryset, search_term)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: DeletedUser | None = None) -> bool:
        return False
