"""Errors of the messaging app, each with a stable `code` (docs/API.md's envelope)."""

from core.exceptions import ApplicationError, Forbidden, NotFound


class RecipientNotFound(NotFound):
    default_code = "recipient_not_found"
    default_message = "Recipient not found."


class MessageNotFound(NotFound):
    default_code = "message_not_found"
    default_message = "Message not found."


class RecipientBlockedSender(Forbidden):
    """The recipient blocked the sender. Said plainly: the sender already knows the recipient."""

    default_code = "blocked"
    default_message = "You cannot message this user."


class NotRecipient(Forbidden):
    default_code = "not_recipient"
    default_message = "Only the recipient can mark a message as read."


class NotSender(Forbidden):
    default_code = "not_sender"
    default_message = "Only the sender can delete a message for everyone."


class NotModerator(Forbidden):
    default_code = "not_moderator"
    default_message = "Only a moderator can delete another user's message."


class CannotMessageSelf(ApplicationError):
    default_code = "cannot_message_self"
    default_message = "You cannot send a message to yourself."


class InvalidSyncToken(ApplicationError):
    default_code = "invalid_sync_token"
    default_message = "The sync token is not valid; call /sync without `since` for a fresh one."
