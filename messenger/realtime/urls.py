"""REST routes owned by the realtime layer (the WebSocket ticket comes with its issue)."""

urlpatterns: list = []
