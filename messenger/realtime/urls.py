"""REST routes owned by the realtime layer."""

from messenger.core.urls import slash_optional
from messenger.realtime.api import PresenceView, WsTicketView

urlpatterns = [
    *slash_optional("auth/ws-ticket", WsTicketView.as_view()),
    *slash_optional("presence", PresenceView.as_view(), "presence"),
]
