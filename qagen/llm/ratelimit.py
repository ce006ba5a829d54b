"""Client-side pacing by the endpoint's ``x-ratelimit-*`` headers.

A run keeps two buckets, one of requests and one of tokens, shaped as the endpoint states its own: each
holds one minute's limit and refills continuously at the limit per minute. Each request takes one request
and its tokens (prompt plus the most it may write) before it is sent. So a run spends at once what the
first reply says is left, then sends at the refill rate, instead of spending the window and waiting for
``x-ratelimit-reset-*`` (the time until the window is full again, about a minute). The buckets start full
once the first reply states the limits, and ``x-ratelimit-remaining-*`` only ever lowers them: another
client on the same key, or requests the endpoint counted that the bucket did not, leave less than it thinks.

A reply's ``remaining`` is as old as its request: since then the endpoint has refilled, and counted the
requests sent after it. So a reply lowers a bucket to ``remaining`` plus the refill since its request was
charged, minus everything charged since (its ``Charge`` says when that was and how much had been charged in
all), counting the requests sent before any limit was known too. Lowering to the figure itself gave back a
whole latency's refill with every reply (89.8 % of a token limit where the charges were exact), and the
requests sent before the first reply were never charged, so a run's first minute overspent by them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

WINDOW_SECONDS = 60.0
# Each bucket holds one window's worth, as the endpoint's own does (OpenAI: the per-minute limit, refilled
# continuously): a run starts with what the first reply says is left and may spend it at once, then sends at
# the refill rate. A smaller bucket gives away what a fresh window holds: with 3 s of it, 800 requests at 600
# a minute took 75.1 s where the limit allows 20.2 s; with the minute, 4,200 took 361.5 s of 360.2 s
# (benchmarks/ratelimit.py, median of 3).


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


@dataclass(frozen=True)
class Charge:
    """When one request was charged, and the requests and tokens charged in all by then (it included)."""

    at: float
    requests: int
    tokens: int


class Pacer:
    """Shared by all requests of a run; unpaced until a reply states a limit."""

    def __init__(self, clock: Clock, *, window: float = WINDOW_SECONDS) -> None:
        self._clock = clock
        self._window = window
        self.requests: Bucket | None = None
        self.tokens: Bucket | None = None
        self._lock = asyncio.Lock()
        # Everything charged in all, before any limit was known too: what a reply's figure is compared with.
        self._charged = {"requests": 0, "tokens": 0}

    async def acquire(self, tokens: int) -> Charge:
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
            self._charged["requests"] += 1
            self._charged["tokens"] += tokens
            return Charge(now, self._charged["requests"], self._charged["tokens"])

    @property
    def paced(self) -> bool:
        """True once a reply has stated a limit to pace by."""
        return self.requests is not None or self.tokens is not None

    def observe(self, headers: Mapping[str, str], charge: Charge | None = None) -> None:
        """Learn the limits from a reply's headers, and lower the buckets to what they say is left now.

        ``charge`` is the request's, from ``acquire``; without it the figure is taken as it stands."""
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
                left = float(remaining)
                if charge is not None:
                    left += (now - charge.at) * bucket.rate - (self._charged[kind] - getattr(charge, kind))
                bucket.lower_to(left)
