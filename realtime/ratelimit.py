"""The per-connection rate limit on client frames: two token buckets, in the socket's own memory.

A frame takes a token from both. The soft bucket running dry answers that frame with an `error`
frame (429, with `retry_after`) and the connection stays; the hard bucket, larger and refilled
faster, running dry means the client ignores those answers, and the socket is closed with 4429.
Per connection and in memory: a frame costs no Redis round trip, and a client that opens more
sockets to go faster is bounded by the REST throttles, the ticket throttle and the per-user
socket cap instead.

The hard bucket also bounds bytes: a frame takes one of its tokens per started
REALTIME_MAX_FRAME_BYTES (the server has read an oversized frame whole before the gateway can
refuse it, up to its own limit, 16 MiB under uvicorn), so a client pushing oversized frames is
closed after about a burst's worth of maximal frames instead of a burst of 16 MiB ones.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from django.conf import settings


@dataclass
class TokenBucket:
    rate_per_second: float
    burst: float
    clock: Callable[[], float] = time.monotonic
    tokens: float = field(init=False)
    updated_at: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = self.burst
        self.updated_at = self.clock()

    def take(self, count: float = 1) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated_at) * self.rate_per_second)
        self.updated_at = now
        if self.tokens >= count:
            self.tokens -= count
            return True
        return False

    def seconds_until_a_token(self) -> float:
        return max(0.0, (1 - self.tokens) / self.rate_per_second)


class Verdict(Enum):
    ALLOWED = "allowed"
    REFUSED = "refused"  # an error frame, the socket stays
    CLOSE = "close"  # 4429


class FrameRateLimit:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.soft = TokenBucket(settings.REALTIME_FRAME_RATE_PER_SECOND, settings.REALTIME_FRAME_BURST, clock)
        self.hard = TokenBucket(
            settings.REALTIME_FRAME_HARD_RATE_PER_SECOND, settings.REALTIME_FRAME_HARD_BURST, clock
        )

    def check(self, *, size: int = 0) -> Verdict:
        """`size`: the frame's length (characters or bytes: a lower bound is enough)."""
        cost = max(1, math.ceil(size / settings.REALTIME_MAX_FRAME_BYTES))
        if not self.hard.take(cost):
            return Verdict.CLOSE
        if not self.soft.take():
            return Verdict.REFUSED
        return Verdict.ALLOWED

    def retry_after_seconds(self) -> float:
        return round(self.soft.seconds_until_a_token(), 3)
