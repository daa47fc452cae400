"""Reads of contacts and invitations, and the blocking rules other apps ask about.

The blocking model: a block is held by one side (`Contact.blocked_by`) and cuts the pair off
both ways. Neither side may message, add, invite or see the presence of the other, and only the
blocker can lift it. So `is_blocked(actor, target)` is True when the target blocked the actor
(docs/API.md's rule) and also when the actor blocked the target (you cannot message someone you
blocked, who could not answer you).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from django.db import connection
from django.db.models import Exists, Q, QuerySet

from contacts.exceptions import ContactNotFound
from contacts.models import Contact, Invitation
from core.stream import column_of


def _pair(a: UUID | str, b: UUID | str) -> Q:
    return Q(requester_id=a, addressee_id=b) | Q(requester_id=b, addressee_id=a)


def block_between_sql() -> str:
    """`is_blocked`'s rule as an SQL boolean, for a writer that folds the check into a statement
    of its own (messaging's one-statement send). Its four parameters are, in order, the two user
    ids, then the same two swapped: `(actor, target, target, actor)`. The index on
    (requester, status) answers each side."""
    quote = connection.ops.quote_name
    table, status = quote(Contact._meta.db_table), quote(column_of(Contact._meta.get_field("status")))
    requester = quote(Contact._meta.get_field("requester").column)
    addressee = quote(Contact._meta.get_field("addressee").column)
    # Only identifiers from the model and a fixed literal are formatted in; the ids are parameters.
    return (
        f"EXISTS (SELECT 1 FROM {table} WHERE {status} = '{Contact.Status.BLOCKED.value}' "  # noqa: S608
        f"AND (({requester} = %s AND {addressee} = %s) OR ({requester} = %s AND {addressee} = %s)))"
    )


def is_blocked(*, actor_id: UUID | str, target_id: UUID | str) -> bool:
    """True when a block stands between `actor` and `target`, whoever holds it (so `actor` may
    not message, add, invite or see the presence of `target`). One indexed query."""
    return Contact.objects.filter(_pair(actor_id, target_id), status=Contact.Status.BLOCKED).exists()


def blocked_by_any(*, actor_id: UUID | str, target_ids: Iterable[UUID | str]) -> set[UUID]:
    """The subset of `target_ids` with a block between them and `actor` (one query; for group
    creation and member adds)."""
    targets = [str(target) for target in target_ids]
    if not targets:
        return set()
    rows = Contact.objects.filter(
        Q(requester_id=actor_id, addressee_id__in=targets)
        | Q(addressee_id=actor_id, requester_id__in=targets),
        status=Contact.Status.BLOCKED,
    ).values_list("requester_id", "addressee_id")
    actor = UUID(str(actor_id))
    return {addressee if requester == actor else requester for requester, addressee in rows}


def accepted_contact_ids(*, user_id: UUID | str) -> set[UUID]:
    """Ids of the user's accepted contacts (presence goes to these). One query."""
    rows = Contact.objects.filter(
        Q(requester_id=user_id) | Q(addressee_id=user_id), status=Contact.Status.ACCEPTED
    ).values_list("requester_id", "addressee_id")
    user = UUID(str(user_id))
    return {addressee if requester == user else requester for requester, addressee in rows}


def accepted_contact_ids_among(*, user_id: UUID | str, candidate_ids: Iterable[UUID | str]) -> set[UUID]:
    """The subset of `candidate_ids` that are the user's accepted contacts: whom the user may
    see the presence of (pending and blocked pairs are not). One query, bounded by the candidates."""
    candidates = [str(candidate) for candidate in candidate_ids]
    if not candidates:
        return set()
    rows = Contact.objects.filter(
        Q(requester_id=user_id, addressee_id__in=candidates)
        | Q(addressee_id=user_id, requester_id__in=candidates),
        status=Contact.Status.ACCEPTED,
    ).values_list("requester_id", "addressee_id")
    user = UUID(str(user_id))
    return {addressee if requester == user else requester for requester, addressee in rows}


def accepted_contact_exists(viewer_id: UUID | str, other: Any) -> Exists:
    """A boolean expression for annotations: is `other` (a column reference, e.g. OuterRef("pk"))
    an accepted contact of the viewer, the pair that may see each other's activity (`last_seen`,
    presence). Registered with accounts at startup (contacts.apps); no query of its own."""
    return Exists(
        Contact.objects.filter(
            Q(requester_id=viewer_id, addressee_id=other) | Q(addressee_id=viewer_id, requester_id=other),
            status=Contact.Status.ACCEPTED,
        )
    )


def contacts_for_user(*, user_id: UUID | str, status: str | None = None) -> QuerySet[Contact]:
    """The caller's contacts, both directions, with both users joined (no query per row)."""
    queryset = Contact.objects.filter(Q(requester_id=user_id) | Q(addressee_id=user_id)).select_related(
        "requester", "addressee"
    )
    if status:
        queryset = queryset.filter(status=status)
    return queryset


def contact_for_participant(*, contact_id: UUID | str, user_id: UUID | str) -> Contact:
    """The contact if `user` is one of its two sides; otherwise not found (no existence oracle)."""
    contact = contacts_for_user(user_id=user_id).filter(pk=contact_id).first()
    if contact is None:
        raise ContactNotFound()
    return contact


def hash_invitation_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_by_token(*, token: str) -> Invitation | None:
    return (
        Invitation.objects.select_related("inviter")
        .filter(token_hash=hash_invitation_token(token), inviter__is_active=True)
        .first()
    )
