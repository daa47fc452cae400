"""REST routes owned by the realtime layer."""

from core.urls import slash_optional
from realtime.api import WsTicketView

urlpatterns = [
    *slash_optional("auth/ws-ticket", WsTicketView.as_view()),
]
