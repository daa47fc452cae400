"""Routes of the groups app, mounted under /api/v1/."""

urlpatterns: list = []
