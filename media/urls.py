"""Routes of the media app, mounted under /api/v1/."""

urlpatterns: list = []
