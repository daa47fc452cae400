"""The relay's errors, each with a stable `code` (rendered by core's one handler)."""

from core.exceptions import (
    ApplicationError,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
)


class RecipientNotFound(NotFound):
    default_code = "recipient_not_found"
    default_message = "Recipient not found."


class EnvelopeNotFound(NotFound):
    """Unknown, expired, already acknowledged, or someone else's envelope: all look alike."""

    default_code = "envelope_not_found"
    default_message = "Envelope not found."


class NotYourQueue(Forbidden):
    default_code = "not_your_queue"
    default_message = "You can only read your own pending envelopes."


class InvalidTTL(ApplicationError):
    default_code = "invalid_ttl"
    default_message = "ttl_seconds is out of range."


class InvalidPayload(ApplicationError):
    default_code = "invalid_payload"
    default_message = "The payload must be non-empty bytes."


class RelayPayloadTooLarge(PayloadTooLarge):
    default_code = "payload_too_large"


class RelayQueueFull(RateLimited):
    """The recipient already holds RELAY_MAX_PENDING_PER_RECIPIENT envelopes: 429 + Retry-After."""

    default_code = "relay_queue_full"
    default_message = "The recipient's relay queue is full; try again later."


class RelaySenderShareFull(RelayQueueFull):
    """This sender already holds RELAY_MAX_PENDING_PER_SENDER of the recipient's envelopes:
    429 + Retry-After, while other senders still queue. Same code as a full queue: to the
    sender both mean "keep it and retry later"; the detail says which."""

    default_code = "relay_queue_full"
    default_message = (
        "You hold your full share of the recipient's relay queue; try again later "
        "(the recipient acknowledging or your envelopes expiring frees it)."
    )


class RelayBlocked(Forbidden):
    """A block stands between sender and recipient (either one holds it): what the messaging
    send answers for a block (403 `blocked`)."""

    default_code = "blocked"
    default_message = "You cannot send to this user."


class RelayUnavailable(ServiceUnavailable):
    """The store (Redis) cannot be reached: 503, and nothing was written."""

    default_code = "relay_unavailable"
    default_message = "The relay is unavailable right now; try again shortly."
