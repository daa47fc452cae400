"""Routes of the messaging app, mounted under /api/v1/."""

from core.urls import slash_optional
from messaging import api

urlpatterns = [
    *slash_optional("messages/send", api.MessageSendView.as_view(), "message-send"),
    *slash_optional("messages/conversations", api.ConversationsView.as_view(), "message-conversations"),
    *slash_optional(
        "messages/conversation/<uuid:user_id>", api.ConversationView.as_view(), "message-conversation"
    ),
    *slash_optional(
        "messages/conversation/<uuid:user_id>/read",
        api.ConversationReadView.as_view(),
        "message-conversation-read",
    ),
    *slash_optional("messages/<uuid:message_id>/read", api.MessageReadView.as_view(), "message-read"),
    *slash_optional("messages/<uuid:message_id>", api.MessageDeleteView.as_view(), "message-delete"),
    *slash_optional("sync", api.SyncView.as_view(), "sync"),
]
