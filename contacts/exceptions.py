"""Errors of the contacts app, each with a stable code."""

from core.exceptions import ApplicationError, Conflict, Forbidden, NotFound


class ContactNotFound(NotFound):
    default_code = "contact_not_found"
    default_message = "Contact not found."


class CannotContactSelf(ApplicationError):
    default_code = "cannot_add_self"
    default_message = "You cannot add yourself as a contact."


class ContactBlocked(Forbidden):
    """The other side blocked the caller: they may not add, accept, invite or change it."""

    default_code = "blocked"
    default_message = "This user has blocked you."


class ContactBlockedByYou(Conflict):
    default_code = "blocked_by_you"
    default_message = "You blocked this user; delete the contact to lift the block."


class NotAddressee(Forbidden):
    default_code = "not_addressee"
    default_message = "Only the user who received the request can accept it."


class InvitationNotFound(NotFound):
    default_code = "invitation_not_found"
    default_message = "Invitation not found."


class InvitationUsed(ApplicationError):
    status_code = 410
    default_code = "invitation_used"
    default_message = "This invitation has already been used."


class InvitationExpired(ApplicationError):
    status_code = 410
    default_code = "invitation_expired"
    default_message = "This invitation has expired."


class CannotInviteSelf(ApplicationError):
    default_code = "cannot_invite_self"
    default_message = "You cannot invite your own address."


class EmailNotVerified(Forbidden):
    """An unverified account may be reached (accept requests, register by an invitation's token)
    but not reach out: it proved no address, so it could be a throwaway (README, "Unverified
    accounts")."""

    default_code = "email_not_verified"
    default_message = "Verify your email address first."
