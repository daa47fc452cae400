"""REST routes owned by the realtime layer."""

from messenger.core.urls import slash_optional
from messenger.realtime.api import WsTicketView

urlpatterns = [*slash_optional("auth/ws-ticket", WsTicketView.as_view())]
