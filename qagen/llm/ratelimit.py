"""Client-side pacing by the endpoint's ``x-ratelimit-*`` headers.

A run keeps two buckets, one of requests and one of tokens, shaped as the endpoint states its own: each
holds one minute's limit and refills continuously at the limit per minute. Each request takes one request
and its tokens (prompt plus the most it may write) before it is sent. So a run spends at once what the
first reply says is left, then sends at the refill rate, instead of spending the window and waiting for
``x-ratelimit-reset-*`` (the time until the window is full again, about a minute). The buckets start full
once the first reply states the limits, and ``x-ratelimit-remaining-*`` only ever lowers them: another
client on the same key, or requests the endpoint counted that the bucket did not, leave less than it thinks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Protocol

WINDOW_SECONDS = 60.0
# Each bucket holds one window's worth, as the endpoint's own does (OpenAI: the per-minute limit, refilled
# continuously): a run starts with what the first reply says is left and may spend it at once, then sends at
# the refill rate. A smaller bucket gives away what a fresh window holds: with 3 s of it, 800 requests at 600
# a minute took 75.1 s where the limit allows 20.2 s; with the minute, 1,200 took 61.2 s of 60.2 s
# (benchmarks/ratelimit.py).


class Clock(Protocol):  # qagen.llm.client.Clock, or a test's clock that moves without waiting
    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class Bucket:
    """Units refilled at ``limit / window`` per second, holding at most ``limit``."""

    def __init__(self, limit: int, now: float, *, window: float = WINDOW_SECONDS) -> None:
        self.limit = limit
        self.rate = limit / window
        self.capacity = float(limit)
        self.level = self.capacity
        self._at = now

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self._at) * self.rate)
        self._at = now

    def wait_for(self, amount: float, now: float) -> float:
        """Seconds until ``amount`` can be taken (0 when it can now); a request larger than the
        whole bucket waits only until the bucket is full, then goes alone."""
        self.refill(now)
        need = min(amount, self.capacity) - self.level
        # A sliver left by float rounding would be a sleep too short to move the clock: treat it as none.
        return 0.0 if need <= 1e-6 * max(1.0, amount) else need / self.rate

    def take(self, amount: float) -> None:
        self.level -= amount

    def lower_to(self, remaining: float) -> None:
        self.level = min(self.level, remaining)


class Pacer:
    """Shared by all requests of a run; unpaced until a reply states a limit."""

    def __init__(self, clock: Clock, *, window: float = WINDOW_SECONDS) -> None:
        self._clock = clock
        self._window = window
        self.requests: Bucket | None = None
        self.tokens: Bucket | None = None
        self._lock = asyncio.Lock()

    async def acquire(self, tokens: int) -> None:
        """Wait until one request of ``tokens`` fits both buckets, then charge it."""
        async with self._lock:  # first come, first served: a large request is not starved
            while True:
                now = self._clock.monotonic()
                wait = 0.0
                if self.requests is not None:
                    wait = max(wait, self.requests.wait_for(1, now))
                if self.tokens is not None:
                    wait = max(wait, self.tokens.wait_for(tokens, now))
                if wait <= 0:
                    break
                await self._clock.sleep(wait)
            if self.requests is not None:
                self.requests.take(1)
            if self.tokens is not None:
                self.tokens.take(tokens)

    @property
    def paced(self) -> bool:
        """True once a reply has stated a limit to pace by."""
        return self.requests is not None or self.tokens is not None

    def observe(self, headers: Mapping[str, str]) -> None:
        """Learn the limits from a reply's headers and lower the buckets to what it says is left."""
        now = self._clock.monotonic()
        for kind in ("requests", "tokens"):
            limit = _header_int(headers, f"x-ratelimit-limit-{kind}")
            bucket: Bucket | None = getattr(self, kind)
            if limit is not None and limit > 0 and (bucket is None or bucket.limit != limit):
                bucket = Bucket(limit, now, window=self._window)
                setattr(self, kind, bucket)
            remaining = _header_int(headers, f"x-ratelimit-remaining-{kind}")
            if bucket is not None and remaining is not None:
                bucket.refill(now)
                bucket.lower_to(remaining)
