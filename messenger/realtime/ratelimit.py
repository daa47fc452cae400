"""The per-connection rate limit on client frames: two token buckets, in the socket's own memory.

A frame takes a token from both. The soft bucket running dry answers that frame with an `error`
frame (429, with `retry_after`) and the connection stays; the hard bucket, larger and refilled
faster, running dry means the client ignores those answers, and the socket is closed with 4429.
Per connection and in memory: a frame costs no Redis round trip, and a client that opens more
sockets to go faster is bounded by the REST throttles and the ticket throttle instead.
"""

from __future__ import annotations

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

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated_at) * self.rate_per_second)
        self.updated_at = now
        if self.tokens >= 1:
            self.tokens -= 1
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

    def check(self) -> Verdict:
        if not self.hard.take():
            return Verdict.CLOSE
        if not self.soft.take():
            return Verdict.REFUSED
        return Verdict.ALLOWED

    def retry_after_seconds(self) -> float:
        return round(self.soft.seconds_until_a_token(), 3)
