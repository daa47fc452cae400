"""Routes of the groups app, mounted under /api/v1/ (trailing slash optional)."""

from core.urls import slash_optional
from groups import api

urlpatterns = [
    *slash_optional("groups", api.GroupListCreateView.as_view(), "group-list"),
    *slash_optional("groups/<uuid:group_id>", api.GroupDetailView.as_view(), "group-detail"),
    *slash_optional("groups/<uuid:group_id>/members", api.GroupMembersView.as_view(), "group-members"),
    *slash_optional(
        "groups/<uuid:group_id>/members/<uuid:user_id>", api.GroupMemberView.as_view(), "group-member"
    ),
    *slash_optional(
        "groups/<uuid:group_id>/transfer-ownership",
        api.GroupOwnershipTransferView.as_view(),
        "group-transfer-ownership",
    ),
    *slash_optional("groups/<uuid:group_id>/messages", api.GroupMessagesView.as_view(), "group-messages"),
]
