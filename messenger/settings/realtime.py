"""The WebSocket gateway (realtime/) and presence (presence/)."""

from django.core.exceptions import ImproperlyConfigured

from messenger.settings.environment import env

# Browser origins allowed to open /ws/ (apps and scripts send no Origin and are let through).
WEBSOCKET_ALLOWED_ORIGINS = env.list("WEBSOCKET_ALLOWED_ORIGINS", default=[])
# The gateway (realtime): a socket must authenticate within REALTIME_AUTH_TIMEOUT_SECONDS;
# a ticket from POST /auth/ws-ticket is good once, for REALTIME_TICKET_TTL_SECONDS; a client frame
# over REALTIME_MAX_FRAME_BYTES is refused with an error frame.
REALTIME_AUTH_TIMEOUT_SECONDS = env.float("REALTIME_AUTH_TIMEOUT_SECONDS", default=10.0)
REALTIME_TICKET_TTL_SECONDS = env.int("REALTIME_TICKET_TTL_SECONDS", default=30)
# 128 KiB: room for a `message.send` at MESSAGE_MAX_CIPHERTEXT_BYTES (base64 makes 64 KiB ~87 KiB).
REALTIME_MAX_FRAME_BYTES = env.int("REALTIME_MAX_FRAME_BYTES", default=128 * 1024)
# Before authenticating, a socket may send one `auth` frame of at most this size (a token is at
# most 4 KiB); anything else, bigger, or later than REALTIME_AUTH_TIMEOUT_SECONDS closes it (4401).
REALTIME_PREAUTH_MAX_FRAME_BYTES = env.int("REALTIME_PREAUTH_MAX_FRAME_BYTES", default=8 * 1024)
# Open sockets per user, counted across processes where presence counts them; the next one is
# closed with 4409. 0 turns the cap off.
REALTIME_MAX_SOCKETS_PER_USER = env.int("REALTIME_MAX_SOCKETS_PER_USER", default=20)
# Client frames per connection (realtime/ratelimit.py): past the soft bucket a frame is
# answered with a 429 error frame; past the hard one the socket is closed with 4429.
REALTIME_FRAME_RATE_PER_SECOND = env.float("REALTIME_FRAME_RATE_PER_SECOND", default=10.0)
REALTIME_FRAME_BURST = env.float("REALTIME_FRAME_BURST", default=30.0)
REALTIME_FRAME_HARD_RATE_PER_SECOND = env.float("REALTIME_FRAME_HARD_RATE_PER_SECOND", default=30.0)
REALTIME_FRAME_HARD_BURST = env.float("REALTIME_FRAME_HARD_BURST", default=100.0)
# Relay delivery on the socket: up to REALTIME_RELAY_WINDOW pending envelopes in flight, each
# pushed again every REALTIME_RELAY_REPUSH_SECONDS until the client sends `relay.ack`.
REALTIME_RELAY_WINDOW = env.int("REALTIME_RELAY_WINDOW", default=100)
REALTIME_RELAY_REPUSH_SECONDS = env.float("REALTIME_RELAY_REPUSH_SECONDS", default=30.0)

# realtime: presence (presence/services.py). Each socket refreshes its entry every
# REALTIME_PRESENCE_HEARTBEAT_SECONDS; one not refreshed for REALTIME_PRESENCE_TTL_SECONDS (three
# heartbeats) belongs to a process that died, and the sweep declares its user offline. last_seen
# is written at most once per REALTIME_LAST_SEEN_WRITE_SECONDS while online, and on going offline.
REALTIME_PRESENCE_HEARTBEAT_SECONDS = env.float("REALTIME_PRESENCE_HEARTBEAT_SECONDS", default=20.0)
REALTIME_PRESENCE_TTL_SECONDS = env.float("REALTIME_PRESENCE_TTL_SECONDS", default=60.0)
REALTIME_LAST_SEEN_WRITE_SECONDS = env.float("REALTIME_LAST_SEEN_WRITE_SECONDS", default=60.0)
REALTIME_PRESENCE_REDIS_PREFIX = env.str("REALTIME_PRESENCE_REDIS_PREFIX", default="presence")
REALTIME_PRESENCE_REDIS_TIMEOUT_SECONDS = env.float("REALTIME_PRESENCE_REDIS_TIMEOUT_SECONDS", default=2.0)
if REALTIME_PRESENCE_TTL_SECONDS <= REALTIME_PRESENCE_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured(
        "REALTIME_PRESENCE_TTL_SECONDS must exceed REALTIME_PRESENCE_HEARTBEAT_SECONDS (about three heartbeats)."
    )
