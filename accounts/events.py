"""What accounts tells others: the signals it sends to the apps above it (docs/ARCHITECTURE.md:
lower apps never import higher ones), its socket event (`keys.low`), and `<user>`, the public
user every app embeds (a group's members, a conversation's peer, a contact), built once here.

Receivers live in the higher app's receivers.py and are connected in its AppConfig.ready().
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

import django.dispatch

from core.rendering import iso

if TYPE_CHECKING:  # the builder needs the type only: importing the signals loads no model
    from accounts.models import User

# Sent inside the registration transaction, after the user row exists.
# kwargs: user_id (UUID), email (str), invitation_token (str | None).
# contacts subscribes: an invitation token or the invited address makes the two accepted contacts.
user_registered = django.dispatch.Signal()

# Sent inside the transaction that marks an address verified (the verification link, an admin's
# "mark verified", or a registration whose invitation token proves the address).
# kwargs: user_id (UUID), email (str). contacts subscribes: pending invitations to that address
# become contacts only now, once the address is proven to be the user's.
user_verified = django.dispatch.Signal()

# Sent inside the deletion transaction, after the user is deactivated and scrubbed.
# kwargs: user_id (UUID). contacts, relay and media subscribe and remove what they own.
user_deleted = django.dispatch.Signal()

# Sent on commit when access must end now: logout (jti = that session's access-token id), a spent
# refresh token presented again (jti = None, session_id: that session) or a ban / account deletion
# (jti = None, no session_id: every session). kwargs: user_id (UUID), jti (str | None),
# session_id (str | None).
# realtime subscribes and closes the matching sockets.
access_revoked = django.dispatch.Signal()


# The event a claim sends the owner's devices when it leaves fewer one-time prekeys than
# ACCOUNTS_PREKEYS_LOW_THRESHOLD: GET /keys/count's body.
KEYS_LOW = "keys.low"


class KeysLowPayload(TypedDict):
    one_time_prekeys: int


class PublicUserPayload(TypedDict):
    """`<user>` (PublicUserSerializer documents it)."""

    id: str
    username: str
    full_name: str
    avatar_url: str
    bio: str
    last_seen: str | None
    public_key: str
    is_verified: bool


def public_user_payload(user: User, *, may_see_activity: bool) -> PublicUserPayload:
    """`<user>` as a plain dict (the serializer fields' own to_representation per user was most
    of a list's rendering): the same keys, order and text. `last_seen` only when the viewer may
    see this user's activity (accounts.selectors.may_see_activity), else null."""
    return {
        "id": str(user.pk),
        "username": user.username,
        "full_name": user.full_name,
        "avatar_url": user.avatar_url,
        "bio": user.bio,
        "last_seen": iso(user.last_seen) if may_see_activity else None,
        "public_key": user.public_key,
        "is_verified": bool(user.is_verified),
    }
