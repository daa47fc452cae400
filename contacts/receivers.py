"""Handlers for accounts' signals (connected in ContactsConfig.ready())."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from contacts.services import contacts_remove_user, invitations_accept_for_new_user


def on_user_registered(
    sender: Any, *, user_id: UUID, email: str, invitation_token: str | None = None, **kwargs: Any
) -> None:
    """Inside the registration transaction: an invitation token or the invited address makes
    the inviter and the new user accepted contacts."""
    invitations_accept_for_new_user(user_id=user_id, email=email, invitation_token=invitation_token)


def on_user_deleted(sender: Any, *, user_id: UUID, **kwargs: Any) -> None:
    """Inside the deletion transaction: the user's contacts and invitations go."""
    contacts_remove_user(user_id=user_id)
