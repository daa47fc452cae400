"""Handlers for accounts' signals (connected in ContactsConfig.ready())."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from contacts.services import (
    contacts_remove_user,
    invitation_accept_on_registration,
    invitations_accept_for_address,
)


def on_user_registered(
    sender: Any, *, user_id: UUID, email: str, invitation_token: str | None = None, **kwargs: Any
) -> None:
    """Inside the registration transaction: the invitation whose token the user brought makes
    its inviter an accepted contact. The address alone proves nothing (see on_user_verified)."""
    invitation_accept_on_registration(user_id=user_id, email=email, invitation_token=invitation_token)


def on_user_verified(sender: Any, *, user_id: UUID, email: str, **kwargs: Any) -> None:
    """Inside the verification transaction: the address is proven the user's, so the pending
    invitations to it make their inviters accepted contacts."""
    invitations_accept_for_address(user_id=user_id, email=email)


def on_user_deleted(sender: Any, *, user_id: UUID, **kwargs: Any) -> None:
    """Inside the deletion transaction: the user's contacts and invitations go."""
    contacts_remove_user(user_id=user_id)
