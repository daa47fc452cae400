"""Relay: ephemeral store-and-forward of envelopes that must not be kept as history (key
exchange, session setup, device-to-device sync). docs/API.md, "Relay"; the gateway's side
below.

Rules (settings, each read from the variable of the same name):
- An envelope is queued for an active user (404 otherwise), the sender included (sync between
  one user's devices). Its payload is 1 to RELAY_MAX_PAYLOAD_BYTES bytes (64 KiB; 413 past
  it), its `ttl_seconds` in (0, RELAY_MAX_TTL_SECONDS] (30 days; 400 otherwise), default
  RELAY_DEFAULT_TTL_SECONDS (7 days). An expired envelope is never returned, never counted
  and cannot be acknowledged.
- Only the recipient reads their queue (403 for another user id) and acknowledges (removes)
  an envelope; an envelope the caller may not see is 404.
- Redis unreachable: 503 `relay_unavailable`, and nothing was written (each write is one Lua
  script: it runs whole or not at all).

Overflow policy (RELAY_MAX_PENDING_PER_RECIPIENT, 10,000 unexpired envelopes): **refuse the
newest, never drop what is queued.** A queue at the cap refuses the next envelope with 429
`relay_queue_full` and `Retry-After` = the seconds until its oldest envelope expires (when a
slot frees by itself), at least 1 and at most RELAY_QUEUE_FULL_RETRY_AFTER_MAX_SECONDS (1 h),
since the recipient acknowledging frees slots sooner. Nothing already queued is evicted or
overwritten: these envelopes carry key exchanges and session setup, and silently losing the
oldest (a ring buffer) would break the recipient's sessions with nobody told, whereas the
sender, told 429, still holds the envelope and can retry. Signal-Server had to choose too: it
never refuses a sender for a full queue; when one device's stored queue outgrows the storage
limit, it unlinks the least recently active linked device (never the primary) and clears that
device's queue (MessagePersister.unlinkLeastActiveDevice). That fits per-device queues of
devices that can re-link; the relay has per-user queues and no device registry, so refusing
the newest is the policy that loses nothing silently. Known weakness: one sender can fill a
recipient's queue (THROTTLE_RELAY_QUEUE limits a sender's rate, not its share of a queue).

Blocks are not checked here: contacts sits above relay (relay may not import it) and a
relay-only process (messenger.relay_service) runs without contacts. As in Signal, where the
server delivers sealed-sender envelopes without knowing block lists, the recipient's client
drops envelopes from senders it blocked. To enforce it server-side, relay would expose a
registry of queue checks that contacts fills in its AppConfig.ready() (an upward call with no
upward import), and a standalone relay would need a block lookup from the contacts service.

The gateway's side (what messenger.realtime codes against; tests/relay/test_contract.py holds it
to this, on both stores):
- `relay.selectors.envelopes_pending(recipient_id=, after=None, limit=None)`: the unexpired
  envelopes, oldest first, as `RelayEnvelope`s; page with `limit` and `after`.
- `relay.services.envelope_ack(recipient_id=, envelope_id=)`: removes one, publishes
  `relay.acked` `{"id"}` to every device of the recipient; `EnvelopeNotFound` (404) for an
  unknown, expired, acked or someone else's envelope.
- `relay.events`: `relay.envelope` on each queued envelope, its data `envelope_event_data(...)`,
  exactly one item of GET /relay/pending/{userId} (`id`, `sender_id`, `recipient_id`, `payload`
  in standard base64, `created_at`, `expires_at`); the gateway pushes the same shape for what is
  pending when a socket connects.
- Either call raises `RelayUnavailable` (503 `relay_unavailable`) when the store is unreachable.
"""
