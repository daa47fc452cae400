"""REST routes owned by presence."""

from core.urls import slash_optional
from presence.api import PresenceView

urlpatterns = [
    *slash_optional("presence", PresenceView.as_view(), "presence"),
]
