"""Errors of the groups app, each with a stable `code` (docs/API.md's envelope)."""

from core.exceptions import ApplicationError, Conflict, Forbidden, NotFound


class GroupNotFound(NotFound):
    """The group does not exist or the caller is not a member (no existence oracle)."""

    default_code = "group_not_found"
    default_message = "Group not found."


class MemberNotFound(NotFound):
    default_code = "member_not_found"
    default_message = "That user is not a member of this group."


class GroupPermissionDenied(Forbidden):
    """A member asked for something their role does not allow."""

    default_code = "group_permission_denied"
    default_message = "Your role in this group does not allow this."


class UserBlockedYou(Forbidden):
    default_code = "blocked"
    default_message = "This user has blocked you."


class AlreadyMember(Conflict):
    default_code = "already_member"
    default_message = "That user is already a member of this group."


class GroupFull(Conflict):
    default_code = "group_full"
    default_message = "This group has reached its member limit."


class OwnerMustTransfer(Conflict):
    default_code = "owner_must_transfer"
    default_message = "The owner cannot leave: transfer ownership or delete the group first."


class InvalidMembers(ApplicationError):
    """A 400 that names the user ids at fault (blocked, unknown, or too many)."""

    default_code = "invalid_members"
    default_message = "Some of these users cannot be added."


class InvalidRecipients(ApplicationError):
    """Wrapped keys that do not match the current member set exactly, naming the ids."""

    default_code = "invalid_recipients"
    default_message = "encrypted_session_keys must hold exactly one key per current member."


class InvalidRoleChange(ApplicationError):
    default_code = "invalid_role_change"
    default_message = "That role change is not possible."
