"""Writes of contacts and invitations. Events go to sockets after commit (core.events).

Realtime events: `contact.request` to the addressee of a new request; `contact.updated` to both
sides when a contact is accepted, blocked or deleted (each side gets its own view of the row;
a deleted one carries `status: "deleted"`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.selectors import active_account_for_email, get_active_user
from accounts.services import user_mark_verified
from contacts.exceptions import (
    CannotContactSelf,
    CannotInviteSelf,
    ContactBlocked,
    ContactBlockedByYou,
    ContactNotFound,
    EmailNotVerified,
    InvitationExpired,
    InvitationNotFound,
    InvitationUsed,
    NotAddressee,
)
from contacts.models import Contact, Invitation
from contacts.selectors import (
    hash_invitation_token,
    invitation_by_token,
    is_blocked,
)
from contacts.serializers import contact_view
from core.events import publish
from notifications.services import email_enqueue
from relay.services import block_forget, block_record

DELETED = "deleted"


def _uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def _locked_contacts():  # type: ignore[no-untyped-def]
    # `of=("self",)`: lock the contact row only, not the joined users' rows.
    return Contact.objects.select_for_update(no_key=True, of=("self",)).select_related(
        "requester", "addressee"
    )


def _locked_pair(a: UUID, b: UUID) -> Contact | None:
    return (
        _locked_contacts()
        .filter(Q(requester_id=a, addressee_id=b) | Q(requester_id=b, addressee_id=a))
        .first()
    )


def _locked_for_participant(contact_id: UUID | str, actor: UUID) -> Contact:
    """The contact, locked, if `actor` is one of its sides; otherwise not found (no oracle)."""
    contact = _locked_contacts().filter(Q(requester_id=actor) | Q(addressee_id=actor), pk=contact_id).first()
    if contact is None:
        raise ContactNotFound()
    return contact


def _publish_updated(contact: Contact, *, status: str | None = None) -> None:
    for viewer_id in (contact.requester_id, contact.addressee_id):
        publish([viewer_id], "contact.updated", contact_view(contact, viewer_id=viewer_id, status=status))


@dataclass(frozen=True)
class ContactRequestResult:
    contact: Contact
    created: bool


@transaction.atomic
def contact_request(*, requester_id: UUID | str, addressee_id: UUID | str) -> ContactRequestResult:
    """Ask `addressee` to be a contact.

    New pair: a `pending` row (created=True). The addressee had
    already asked: both accepted. Asked before, or already contacts: the row as it is
    (idempotent). A block either way: refused.
    """
    requester, addressee = _uuid(requester_id), _uuid(addressee_id)
    if requester == addressee:
        raise CannotContactSelf()
    get_active_user(user_id=addressee)  # unknown, inactive and deleted: 404 alike
    contact = _locked_pair(requester, addressee)
    if contact is None:
        try:
            with transaction.atomic():  # a savepoint: the reverse request may be racing us
                contact = Contact.objects.create(requester_id=requester, addressee_id=addressee)
        except IntegrityError:
            contact = _locked_pair(requester, addressee)
            if contact is None:  # pragma: no cover - the unique violation names this pair
                raise
        else:
            contact = Contact.objects.select_related("requester", "addressee").get(pk=contact.pk)
            # Both sides, each with its own direction: the requester's other devices list the
            # outgoing request too.
            for viewer_id in (addressee, requester):
                publish([viewer_id], "contact.request", contact_view(contact, viewer_id=viewer_id))
            return ContactRequestResult(contact, created=True)

    if contact.status == Contact.Status.BLOCKED:
        raise ContactBlockedByYou() if contact.blocked_by_id == requester else ContactBlocked()
    if contact.status == Contact.Status.PENDING and contact.addressee_id == requester:
        # They asked first: asking back is accepting (mutual acceptance).
        contact.status = Contact.Status.ACCEPTED
        contact.save(update_fields=["status", "updated_at"])
        _publish_updated(contact)
    return ContactRequestResult(contact, created=False)


@transaction.atomic
def contact_set_status(*, contact_id: UUID | str, actor_id: UUID | str, status: str) -> Contact:
    """PATCH by one side. `accepted`: only the addressee of a pending request. `blocked`: either
    side, from any state; the block is the actor's. The blocked side can change nothing."""
    actor = _uuid(actor_id)
    contact = _locked_for_participant(contact_id, actor)
    if contact.status == Contact.Status.BLOCKED:
        if contact.blocked_by_id != actor:
            raise ContactBlocked()
        if status == Contact.Status.BLOCKED:
            return contact  # already blocked by the actor: idempotent
        raise ContactBlockedByYou()

    if status == Contact.Status.ACCEPTED:
        if contact.status == Contact.Status.ACCEPTED:
            return contact
        if contact.addressee_id != actor:
            raise NotAddressee()
        contact.status = Contact.Status.ACCEPTED
        contact.save(update_fields=["status", "updated_at"])
    elif status == Contact.Status.BLOCKED:
        contact.status = Contact.Status.BLOCKED
        contact.blocked_by_id = actor
        contact.save(update_fields=["status", "blocked_by", "updated_at"])
        # The relay keeps its own copy (it may not read contacts): same transaction, same fate.
        block_record(blocker_id=actor, blocked_id=contact.other_id(actor))
    else:  # the serializer allows only the two above
        raise ValueError(f"Unsupported contact status {status!r}")
    _publish_updated(contact)
    return contact


@transaction.atomic
def contact_delete(*, contact_id: UUID | str, actor_id: UUID | str) -> None:
    """Either side removes the contact; a block can be removed (lifted) only by its holder."""
    actor = _uuid(actor_id)
    contact = _locked_for_participant(contact_id, actor)
    if contact.status == Contact.Status.BLOCKED and contact.blocked_by_id != actor:
        raise ContactBlocked()
    _publish_updated(contact, status=DELETED)  # sent on commit; the views are built now
    if contact.status == Contact.Status.BLOCKED:  # the holder lifts the block: the relay's copy too
        block_forget(blocker_id=actor, blocked_id=contact.other_id(actor))
    contact.delete()


@transaction.atomic
def contacts_remove_user(*, user_id: UUID | str) -> int:
    """Account deletion: every contact row and every invitation the user sent goes."""
    user = _uuid(user_id)
    contacts = list(
        Contact.objects.select_related("requester", "addressee").filter(
            Q(requester_id=user) | Q(addressee_id=user)
        )
    )
    for contact in contacts:
        other = contact.other_id(user)
        publish([other], "contact.updated", contact_view(contact, viewer_id=other, status=DELETED))
    Contact.objects.filter(pk__in=[contact.pk for contact in contacts]).delete()
    Invitation.objects.filter(inviter_id=user).delete()
    return len(contacts)


# --- Invitations --------------------------------------------------------------------------------


def _invitation_expiry() -> datetime:
    return timezone.now() + timedelta(days=settings.INVITATION_TTL_DAYS)


def _invitation_accept_url(token: str) -> str:
    return f"{settings.FRONTEND_URL.rstrip('/')}/register?invitation={token}"


@dataclass(frozen=True)
class InvitationSendResult:
    invitation: Invitation
    created: bool


@transaction.atomic
def invitation_send(*, inviter_id: UUID | str, email: str) -> InvitationSendResult:
    """Invite an address. One pending invitation per inviter and address: sending again gives it
    a fresh token and expiry and sends a new email (the old link stops working). The email is
    written to the outbox in this transaction and leaves after commit.

    The answer never tells whether the address has an account (no enumeration through
    invitations): the invitation row is stored and answered alike in every case, and only the
    email differs, which the inviter does not see:
    - no account, or an unverified one (the address is not proven its holder's, and its owner
      may still register): the invitation with its token;
    - a verified account: `invitation_existing`, naming the inviter so the owner can add them;
      no token, nothing becomes a contact by itself (a silent contact request would show up in
      the inviter's own contact list and give the answer away);
    - an account with a block between the two: no email at all.
    """
    inviter = get_active_user(user_id=inviter_id)
    if not inviter.is_verified:
        raise EmailNotVerified()  # else a throwaway account would make us mail strangers
    address = email.strip().lower()
    if address == inviter.email.lower():
        raise CannotInviteSelf()
    template: str | None = "invitation"
    existing = active_account_for_email(email=address)
    if existing is not None:
        existing_user_id, existing_verified = existing
        if is_blocked(actor_id=inviter.pk, target_id=existing_user_id):
            template = None
        elif existing_verified:
            template = "invitation_existing"

    token = secrets.token_urlsafe(32)
    now = timezone.now()
    fields = {
        "token_hash": hash_invitation_token(token),
        "expires_at": _invitation_expiry(),
        "last_sent_at": now,
    }
    pending = Invitation.objects.select_for_update(no_key=True).filter(
        inviter_id=inviter.pk, invitee_email=address, status=Invitation.Status.PENDING
    )
    invitation = pending.first()
    created = invitation is None
    if created:
        try:
            with transaction.atomic():  # a racing send to the same address
                invitation = Invitation.objects.create(inviter_id=inviter.pk, invitee_email=address, **fields)
        except IntegrityError:
            invitation = pending.first()
            created = False
            if invitation is None:  # pragma: no cover
                raise
    if not created:
        for name, value in fields.items():
            setattr(invitation, name, value)
        invitation.save(update_fields=list(fields))

    inviter_name = inviter.full_name or inviter.username
    if template == "invitation":
        email_enqueue(
            to=address,
            template="invitation",
            context={
                "inviter_name": inviter_name,
                "accept_url": _invitation_accept_url(token),
                "token": token,
                "expires_at": invitation.expires_at,
            },
        )
    elif template == "invitation_existing":
        email_enqueue(
            to=address,
            template="invitation_existing",
            context={"inviter_name": inviter_name, "inviter_username": inviter.username},
        )
    return InvitationSendResult(invitation, created=created)


def invitation_check(*, token: str) -> Invitation:
    """The pending, unexpired invitation for this token: 404 unknown, 410 used or expired."""
    invitation = invitation_by_token(token=token)
    if invitation is None:
        raise InvitationNotFound()
    if invitation.status == Invitation.Status.ACCEPTED:
        raise InvitationUsed()
    if invitation.is_expired:
        raise InvitationExpired()
    return invitation


def _accept_invitations(invitations: list[Invitation], *, user: UUID) -> list[Invitation]:
    """Mark the (locked, pending) invitations accepted by `user` and make each inviter an
    accepted contact of theirs; a block between them outranks an invitation."""
    if not invitations:
        return []
    now = timezone.now()
    Invitation.objects.filter(pk__in=[invitation.pk for invitation in invitations]).update(
        status=Invitation.Status.ACCEPTED, accepted_at=now, accepted_by_id=user
    )
    for inviter_id in {invitation.inviter_id for invitation in invitations}:
        contact = _locked_pair(inviter_id, user)
        if contact is None:
            contact = Contact.objects.create(
                requester_id=inviter_id, addressee_id=user, status=Contact.Status.ACCEPTED
            )
        elif contact.status == Contact.Status.PENDING:
            contact.status = Contact.Status.ACCEPTED
            contact.save(update_fields=["status", "updated_at"])
        else:
            continue  # accepted already, or blocked: a block outranks an invitation
        contact = Contact.objects.select_related("requester", "addressee").get(pk=contact.pk)
        _publish_updated(contact)
    for invitation in invitations:
        invitation.status = Invitation.Status.ACCEPTED
        invitation.accepted_at = now
        invitation.accepted_by_id = user
    return invitations


def _locked_acceptable_invitations(match: Q, *, user: UUID) -> list[Invitation]:
    return list(
        Invitation.objects.select_for_update(no_key=True)
        .filter(
            match, status=Invitation.Status.PENDING, expires_at__gt=timezone.now(), inviter__is_active=True
        )
        .exclude(inviter_id=user)
    )


@transaction.atomic
def invitation_accept_on_registration(
    *, user_id: UUID | str, email: str, invitation_token: str | None = None
) -> list[Invitation]:
    """A user registered. Registering proves nothing about the address (anyone may type any
    address), so invitations sent to it wait for its verification (invitations_accept_for_address).

    The invitation whose token they brought is proof on its own: the token exists only in the
    email sent to the invited address, so the holder read that mailbox (or its owner handed them
    the link). It becomes a contact whatever address they registered. Brought with the invited
    address itself, it also proves that address: the user is marked verified (accounts sends
    user_verified, and every other pending invitation to the address is accepted too)."""
    if not invitation_token:
        return []
    user = _uuid(user_id)
    invitations = _locked_acceptable_invitations(
        Q(token_hash=hash_invitation_token(invitation_token)), user=user
    )
    accepted = _accept_invitations(invitations, user=user)
    address = email.strip().lower()
    if any(invitation.invitee_email == address for invitation in accepted):
        user_mark_verified(user_id=user)
    return accepted


@transaction.atomic
def invitations_accept_for_address(*, user_id: UUID | str, email: str) -> list[Invitation]:
    """The user proved `email` is theirs (verification): every pending, unexpired invitation to
    it becomes `accepted` and each inviter an accepted contact."""
    user = _uuid(user_id)
    invitations = _locked_acceptable_invitations(Q(invitee_email=email.strip().lower()), user=user)
    return _accept_invitations(invitations, user=user)


def invitations_expire() -> int:
    """Mark pending invitations past their expiry `expired` (the periodic task)."""
    return Invitation.objects.filter(status=Invitation.Status.PENDING, expires_at__lte=timezone.now()).update(
        status=Invitation.Status.EXPIRED
    )
