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
the newest is the policy that loses nothing silently.

Fair shares (RELAY_MAX_PENDING_PER_SENDER, 1,000): one sender holds at most that many of a
recipient's unexpired envelopes; past it that sender gets 429 `relay_queue_full` (the detail
names its share) with Retry-After = until its own oldest envelope there expires, while other
senders still queue. So one account cannot fill a queue (ten accounts did, in under three
minutes, issue 14), and filling one takes cap / share accounts, whose envelopes the recipient
can clear by acknowledging them, or at once by blocking them (a block drops what they queued).
Counted atomically with the cap: in the same Lua script (a per-sender sorted set under the
recipient's hash tag) or the same locked transaction. A user's own queue (sync between their
devices) has no share: it keeps nobody else out.

Blocks: a sender the recipient blocked, or who blocked the recipient, cannot queue (403
`blocked`, as the messaging send answers). Contacts owns blocks and sits above relay, and a
relay-only process (messenger.relay_service) runs without contacts, so relay cannot ask it.
Instead relay keeps its own replica of who blocked whom (event-carried state): the
`relay_blocks` table (relay.models.Block), written only through relay.services.block_record /
block_forget, which contacts' block and unblock services call (contacts may import relay), and
emptied for a user on account deletion (relay.receivers). Migration 0003 backfilled the blocks
that existed before. Why a table and not a Redis set: the relay already needs the accounts
database (the recipient check), a table is written in the same transaction as the block, so the
replica can never disagree with a committed block (no after-commit window, no lost write if a
process dies between commit and a Redis call), and a migration backfills it; the check is one
indexed read next to the recipient's. If relay ever gets a database of its own, these calls
become after-commit messages with retries (as drop_user_queue), and the replica stays relay's.
A block also drops what the blocked user had queued for the blocker (task relay.drop_from_sender,
after commit, retried while Redis is down): blocking the accounts that filled one's queue frees
it at once. What the blocker had queued for the blocked user stays until acknowledged or expired.

The gateway's side (what realtime codes against; tests/relay/test_contract.py holds it
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
