"""Routes of the relay app, mounted under /api/v1/."""

urlpatterns: list = []
