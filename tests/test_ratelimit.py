"""Pacing by x-ratelimit-* headers (qagen.llm.ratelimit), on a clock that moves without waiting."""

from __future__ import annotations

import asyncio

from qagen.llm.ratelimit import Pacer


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def limits(requests: int, tokens: int, remaining_requests: int | None = None,
           remaining_tokens: int | None = None) -> dict[str, str]:
    return {
        "x-ratelimit-limit-requests": str(requests),
        "x-ratelimit-limit-tokens": str(tokens),
        "x-ratelimit-remaining-requests": str(requests if remaining_requests is None else remaining_requests),
        "x-ratelimit-remaining-tokens": str(tokens if remaining_tokens is None else remaining_tokens),
    }


def send(pacer: Pacer, count: int, tokens: int) -> None:
    async def run() -> None:
        for _ in range(count):
            await pacer.acquire(tokens)
    asyncio.run(run())


def test_unpaced_until_a_reply_states_limits() -> None:
    clock = FakeClock()
    send(Pacer(clock), 1000, 10_000)
    assert clock.now == 0.0


def test_requests_are_paced_at_the_limit_per_minute_after_what_is_left() -> None:
    clock = FakeClock()
    pacer = Pacer(clock)
    pacer.observe(limits(600, 10**9))  # a minute's 600 at once, then 10 a second
    send(pacer, 600, 1)
    assert clock.now == 0.0
    send(pacer, 600, 1)
    assert 59.0 <= clock.now <= 60.5  # the next 600 at 10 a second, not all at once nor after a reset


def test_tokens_are_paced_by_prompt_plus_max_tokens() -> None:
    clock = FakeClock()
    pacer = Pacer(clock)
    pacer.observe(limits(10**6, 200_000))  # 200 requests of 1,000 at once, then 3,333 tokens a second
    send(pacer, 200 + 200, 1000)
    assert 59.0 <= clock.now <= 61.0


def test_remaining_headers_lower_the_bucket_but_never_raise_it() -> None:
    clock = FakeClock()
    pacer = Pacer(clock)
    pacer.observe(limits(600, 10**9, remaining_requests=0))
    send(pacer, 1, 1)
    assert clock.now > 0.0  # nothing left: waits for one request's share (0.1 s)
    assert clock.now <= 0.11
    pacer.observe(limits(600, 10**9, remaining_requests=590))
    assert pacer.requests is not None and pacer.requests.level <= 590


def test_a_request_larger_than_the_bucket_still_goes() -> None:
    clock = FakeClock()
    pacer = Pacer(clock)
    pacer.observe(limits(600, 6000))  # a 6,000-token bucket
    send(pacer, 2, 9000)
    # The first goes at once and leaves the bucket 3,000 short; the second waits until it is full again
    # (9,000 tokens at 100 a second), no longer: a request larger than the bucket is never starved.
    assert 89.5 <= clock.now <= 90.5


def test_a_run_against_an_enforced_limit_is_paced_not_refused(tmp_path, fake_openai) -> None:
    """End to end: a server that states 600 requests a minute but holds only 3 s of them (30) in its bucket.

    The limit it states is not all it enforces (as when an endpoint enforces a minute's limit in shorter
    periods): its ``remaining`` headers say the truth. Without pacing, 8 requests in flight spend the 30 at once
    and are refused; paced, the run follows ``remaining`` and sends at 10 a second, and nothing is refused.
    """
    import json
    import threading
    import time

    from fake_openai import error_reply

    from qagen.cli import main

    rate, capacity = 10.0, 30.0
    state = {"level": capacity, "at": time.monotonic()}
    lock = threading.Lock()

    def limited(request):
        with lock:
            now = time.monotonic()
            state["level"] = min(capacity, state["level"] + (now - state["at"]) * rate)
            state["at"] = now
            if state["level"] < 1:
                return error_reply(429, "Rate limit reached for requests", headers={"retry-after": "1"})
            state["level"] -= 1
            left = int(state["level"])
        reply = fake_openai.default_handler(request)
        reply.headers.update({"x-ratelimit-limit-requests": "600", "x-ratelimit-remaining-requests": str(left),
                              "x-ratelimit-limit-tokens": "100000000", "x-ratelimit-remaining-tokens": "100000000"})
        return reply

    fake_openai.handler = limited
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "harbour.txt").write_text("\n\n".join(
        f"Berth {i} of the Scarth harbour takes ferries of up to {100 + i} metres and opens at {i % 12 + 1} o'clock."
        for i in range(120)), encoding="utf-8")
    out = tmp_path / "o"
    assert main([str(docs), "--base-url", fake_openai.url, "--model", "m", "--idk-ratio", "0", "-o", str(out),
                 "--concurrency", "8", "--chunk-size", "60", "--chunk-overlap", "0", "-q"]) == 0
    sent = fake_openai.chat_requests()
    report = json.loads((out / "report.json").read_text())
    assert len(sent) > capacity + 10  # the run outlasts the burst
    assert report["retries"] == 0  # not one request refused
    span = sent[-1].time - sent[0].time
    assert span >= (len(sent) - capacity) / rate * 0.9  # sent at the stated pace after the burst


def charge(pacer: Pacer, tokens: int):
    return asyncio.run(pacer.acquire(tokens))


def test_a_reply_as_old_as_its_request_does_not_take_back_the_refill() -> None:
    clock = FakeClock()
    pacer = Pacer(clock)
    pacer.observe(limits(10**6, 60_000))  # 1,000 tokens a second
    sent = charge(pacer, 30_000)
    stated = limits(10**6, 60_000, remaining_tokens=30_000)  # the endpoint's figure when the request arrived
    clock.now += 0.2  # the reply comes a latency later, when the bucket has refilled 200
    pacer.observe(stated, sent)
    assert pacer.tokens is not None and pacer.tokens.level == 30_200  # nothing is missing
    pacer.observe(stated)  # without the request's charge the old figure is taken as it stands: the refill is lost
    assert pacer.tokens.level == 30_000


def test_what_another_client_spent_is_taken_off_once_however_many_replies_show_it() -> None:
    clock = FakeClock()
    pacer = Pacer(clock)
    pacer.observe(limits(10**6, 60_000))
    first, second = charge(pacer, 10_000), charge(pacer, 10_000)  # 40,000 left
    # Another client on the key spent 5,000 before either arrived: both replies say so, each as of its arrival.
    pacer.observe(limits(10**6, 60_000, remaining_tokens=50_000 - 5_000), first)
    assert pacer.tokens is not None and pacer.tokens.level == 35_000
    pacer.observe(limits(10**6, 60_000, remaining_tokens=40_000 - 5_000), second)
    assert pacer.tokens.level == 35_000


def test_requests_sent_before_any_limit_was_known_count_against_the_first_figure() -> None:
    clock = FakeClock()
    pacer = Pacer(clock)
    sent = [charge(pacer, 1_000) for _ in range(32)]  # a run's first requests go before any reply states a limit
    # The first reply says what was left when the first request arrived; the other 31 were on their way.
    pacer.observe(limits(600, 10**9, remaining_requests=599), sent[0])
    assert pacer.requests is not None and pacer.requests.level == 599 - 31
    for later, request in enumerate(sent[1:], start=2):  # their replies agree, and take nothing more
        pacer.observe(limits(600, 10**9, remaining_requests=600 - later), request)
    assert pacer.requests.level == 599 - 31
