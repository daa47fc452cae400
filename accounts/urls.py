"""Routes of the accounts app, mounted under /api/v1/ (trailing slash optional on each)."""

from accounts import api
from core.urls import slash_optional

urlpatterns = [
    *slash_optional("auth/register", api.RegisterView.as_view(), "auth-register"),
    *slash_optional("auth/login", api.LoginView.as_view(), "auth-login"),
    *slash_optional("auth/refresh", api.RefreshView.as_view(), "auth-refresh"),
    *slash_optional("auth/logout", api.LogoutView.as_view(), "auth-logout"),
    *slash_optional("auth/verify-email", api.VerifyEmailView.as_view(), "auth-verify-email"),
    *slash_optional("auth/me", api.MeView.as_view(), "auth-me"),
    *slash_optional("users/search", api.UserSearchView.as_view(), "user-search"),
    *slash_optional("users/<uuid:user_id>", api.UserDetailView.as_view(), "user-detail"),
]

urlpatterns += [
    *slash_optional("keys", api.KeysUploadView.as_view(), "keys-upload"),
    *slash_optional("keys/count", api.KeysCountView.as_view(), "keys-count"),
    *slash_optional("keys/backup", api.KeyBackupView.as_view(), "keys-backup"),
    *slash_optional("keys/<uuid:user_id>", api.KeyBundleView.as_view(), "keys-claim"),
]
