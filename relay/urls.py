"""Routes of the relay app, mounted under /api/v1/ (by messenger.urls, or alone by
messenger.relay_service.urls in a relay-only process)."""

from core.urls import slash_optional
from relay.api import RelayAckView, RelayPendingView, RelayQueueView

urlpatterns = [
    *slash_optional("relay/queue", RelayQueueView.as_view(), "relay-queue"),
    *slash_optional("relay/pending/<uuid:user_id>", RelayPendingView.as_view(), "relay-pending"),
    *slash_optional("relay/<uuid:message_id>", RelayAckView.as_view(), "relay-ack"),
]
