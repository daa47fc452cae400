"""Routes of the contacts app, mounted under /api/v1/."""

urlpatterns: list = []
