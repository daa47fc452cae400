"""The events contacts publishes, their payload, and its builder.

`contact.request`, to the addressee of a new request; `contact.updated`, to both sides when a
contact is accepted, blocked or deleted. Each side gets its own view of the row (`ContactPayload`,
the REST `<contact>`): the other user, and who asked (`direction`); a deleted one carries
`status: "deleted"`.
"""

from __future__ import annotations

from typing import Literal, TypedDict
from uuid import UUID

from accounts.events import PublicUserPayload, public_user_payload
from contacts.models import Contact
from core.ids import as_uuid
from core.rendering import iso

CONTACT_REQUEST = "contact.request"
CONTACT_UPDATED = "contact.updated"
DELETED = "deleted"  # the status a deleted contact's last event carries


class ContactPayload(TypedDict):
    id: str
    user: PublicUserPayload  # the other side
    status: str  # a Contact.Status, or "deleted" in the event of a deletion
    direction: Literal["outgoing", "incoming"]
    blocked_by_me: bool
    created_at: str
    updated_at: str


def contact_payload(contact: Contact, *, viewer_id: UUID | str, status: str | None = None) -> ContactPayload:
    """`<contact>` as `viewer_id` sees it. `status` overrides the row's (a deletion's event)."""
    viewer = as_uuid(viewer_id)
    outgoing = contact.requester_id == viewer
    other = contact.addressee if outgoing else contact.requester
    status = status or contact.status
    # last_seen only between accepted contacts (one row per pair: accepted means no block)
    return {
        "id": str(contact.pk),
        "user": public_user_payload(other, may_see_activity=status == Contact.Status.ACCEPTED),
        "status": str(status),
        "direction": "outgoing" if outgoing else "incoming",
        "blocked_by_me": contact.blocked_by_id is not None and contact.blocked_by_id == viewer,
        "created_at": iso(contact.created_at),
        "updated_at": iso(contact.updated_at),
    }
