"""Routes of the contacts app, mounted under /api/v1/."""

from django.urls import register_converter

from contacts.api import ContactDetailView, ContactListView, InvitationSendView, InvitationVerifyView
from core.urls import slash_optional


class InvitationTokenConverter:
    regex = r"[A-Za-z0-9_\-]{1,128}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(InvitationTokenConverter, "invitation_token")

urlpatterns = [
    *slash_optional("contacts", ContactListView.as_view(), "contact-list"),
    *slash_optional("contacts/<uuid:contact_id>", ContactDetailView.as_view(), "contact-detail"),
    *slash_optional("invitations/send", InvitationSendView.as_view(), "invitation-send"),
    *slash_optional(
        "invitations/verify/<invitation_token:token>", InvitationVerifyView.as_view(), "invitation-verify"
    ),
]
