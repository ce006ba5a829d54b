"""The spending cap (--max-cost): never spent past, stopped cleanly, continued by a rerun with a higher cap."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from fractions import Fraction
from pathlib import Path

import pytest

import qagen
from fake_openai import RecordedRequest, Reply, grounded_pairs_reply
from helpers import CORPUS, output_files, read_jsonl
from qagen.cli import main
from qagen.documents.tokens import count_chat_tokens, counter_for
from qagen.errors import BudgetReached, ConfigError
from qagen.llm.budget import BudgetedModel, Ledger, Rates
from qagen.llm.prices import Price
from qagen.records import Completion, Message, Request

MODEL = "gpt-4o-mini"  # an OpenAI model: its prompt tokens are counted exactly
PRICE = ["--price-input", "1", "--price-output", "1"]  # a dollar per million tokens, either way
PER_TOKEN = Fraction(1, 1_000_000)
COUNTER = counter_for(MODEL)
LATE = 5.0  # seconds before a late reply, far over the --timeout the tests give (0.5 s)


class Billing:
    """The fake server as a service that bills: every reply uses its whole max_tokens, and the bill is kept.

    Replies as long as the cap allows make each request cost exactly its worst case, so a cap
    that were crossed by requests in flight would show in the bill.
    """

    def __init__(self, server, *, late: int = 0) -> None:
        self.bills: list[Fraction] = []
        self.late = late  # the first replies this many come after the client gave up waiting; they are billed all the same
        self._lock = threading.Lock()
        server.handler = self

    def __call__(self, request: RecordedRequest) -> Reply:
        reply = grounded_pairs_reply(request, 3)
        body = request.json
        assert isinstance(body, dict) and isinstance(reply.json, dict)
        prompt = count_chat_tokens(request.messages, COUNTER)
        if "response_format" in body:  # OpenAI counts the schema it is given as prompt
            prompt += COUNTER(json.dumps(body["response_format"], ensure_ascii=False))
        completion = int(body.get("max_tokens") or body["max_completion_tokens"])
        reply.json["usage"] = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
        with self._lock:
            self.bills.append((prompt + completion) * PER_TOKEN)
            late, self.late = self.late > 0, max(self.late - 1, 0)
        return dataclasses.replace(reply, delay=LATE) if late else reply

    @property
    def total(self) -> Fraction:
        with self._lock:
            return sum(self.bills, Fraction(0))


def _args(server, out: Path, *extra: str) -> list[str]:
    # --no-cache: each run must reach the server, whose bill is the truth here.
    return [str(CORPUS), "-o", str(out), "-q", "--base-url", server.url, "--model", MODEL, "--chunk-size", "300",
            "--no-cache", *PRICE, *extra]


def _report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text(encoding="utf-8"))


def _reference(server, tmp_path: Path, *extra: str) -> tuple[Billing, int]:
    """An uncapped run: what the whole run costs, and how many requests it sends."""
    billing = Billing(server)
    assert main(_args(server, tmp_path / "whole", *extra)) == 0
    requests = len(server.chat_requests())
    server.requests.clear()
    return billing, requests


def test_a_cap_stops_the_run_below_it_and_a_higher_cap_continues_to_the_uncapped_output(tmp_path: Path, fake_openai, capsys) -> None:
    whole, total_requests = _reference(fake_openai, tmp_path, "--idk-ratio", "0")
    assert total_requests >= 6
    cap = float(whole.total * Fraction(2, 5))
    fake_openai.latency = 0.05  # replies overlap: eight requests are in flight at once, not one after another
    billing = Billing(fake_openai)
    out = tmp_path / "capped"
    capsys.readouterr()

    code = main(_args(fake_openai, out, "--idk-ratio", "0", "--concurrency", "8", "--max-cost", f"{cap!r}"))

    captured = capsys.readouterr()
    assert code == 7
    assert billing.total <= Fraction(repr(cap))  # the server's own bill
    sent = len(fake_openai.chat_requests())
    assert 0 < sent < total_requests
    assert fake_openai.max_in_flight >= 2
    assert "rerun with a higher --max-cost to continue" in captured.err
    assert f"{total_requests - sent} requests not sent" in captured.err
    assert captured.err.count("error:") == 1 and "Traceback" not in captured.err
    # Everything is written, as an incomplete run writes it: the chunks not asked are there with their reason.
    report = _report(out)
    assert report["cost"]["cap"] == cap
    assert report["cost"]["requests_not_sent"] == total_requests - sent
    assert report["cost"]["spent"] == pytest.approx(float(billing.total), abs=1e-9)
    assert report["cost"]["spent"] <= report["cost"]["projected"]
    assert report["cost"]["projected"] <= float(whole.total) + 1e-9  # replies typically shorter than their cap
    assert report["requests"] == sent
    assert {c["reason"] for c in report["chunks_failed"]} == {"budget"}
    assert len(report["chunks_failed"]) == total_requests - sent
    rejects = read_jsonl(out / "rejects.jsonl")
    assert sum(1 for r in rejects if r["reason"] == "budget") == total_requests - sent
    assert sum(1 for c in report["coverage"] if c["status"] == "not_sent") == total_requests - sent
    assert "spent of the" in captured.out and f", {total_requests - sent} not sent (--max-cost)" in captured.out
    first_prompts = {r.last_user_text for r in fake_openai.chat_requests()}

    # A higher cap: only what is not yet answered is sent, and the run ends as the uncapped one did.
    fake_openai.requests.clear()
    assert main(_args(fake_openai, out, "--idk-ratio", "0", "--concurrency", "8", "--max-cost", f"{float(whole.total) * 2!r}")) == 0
    second = fake_openai.chat_requests()
    assert len(second) == total_requests - sent
    assert not first_prompts & {r.last_user_text for r in second}
    assert output_files(out) == output_files(tmp_path / "whole")
    cost = _report(out)["cost"]
    assert cost["spent"] == pytest.approx(float(whole.total), abs=1e-9)  # both runs together cost what one whole run did
    assert cost["requests_not_sent"] == 0 and cost["projected"] == cost["spent"]


def test_the_cap_is_for_the_out_folder_and_stops_every_stage(tmp_path: Path, fake_openai, capsys) -> None:
    # The I-don't-know stage runs after generation: a cap that generation leaves room for stops it there.
    whole, total_requests = _reference(fake_openai, tmp_path, "--idk-ratio", "0.5")
    generation, generation_requests = _reference(fake_openai, tmp_path / "gen", "--idk-ratio", "0")
    assert total_requests > generation_requests
    billing = Billing(fake_openai)
    out = tmp_path / "capped"
    cap = float(generation.total) * 1.0001

    assert main(_args(fake_openai, out, "--idk-ratio", "0.5", "--concurrency", "4", "--max-cost", f"{cap!r}")) == 7
    assert billing.total <= Fraction(repr(cap))
    assert len(fake_openai.chat_requests()) == generation_requests
    report = _report(out)
    assert not report["chunks_failed"]
    assert report["cost"]["requests_not_sent"] >= 1
    assert any(r["reason"] == "budget" and r["stage"] == "idk" for r in read_jsonl(out / "rejects.jsonl"))

    # The same cap again: what the first run spent counts, so nothing more is sent.
    fake_openai.requests.clear()
    assert main(_args(fake_openai, out, "--idk-ratio", "0.5", "--max-cost", f"{cap!r}")) == 7
    assert fake_openai.chat_requests() == []
    assert _report(out)["cost"]["spent_this_run"] == 0

    fake_openai.requests.clear()
    assert main(_args(fake_openai, out, "--idk-ratio", "0.5", "--max-cost", "100")) == 0
    assert len(fake_openai.chat_requests()) == total_requests - generation_requests
    assert output_files(out) == output_files(tmp_path / "whole")


def test_a_reply_that_never_arrived_counts_at_its_worst_case_in_this_run_and_the_next(tmp_path: Path, fake_openai) -> None:
    whole, total_requests = _reference(fake_openai, tmp_path, "--idk-ratio", "0")
    worst = max(whole.bills)
    cap = float(worst * Fraction(7, 2))  # room for the two lost attempts, the answer to their retry, and no more
    billing = Billing(fake_openai, late=2)
    out = tmp_path / "out"
    args = _args(fake_openai, out, "--idk-ratio", "0", "--concurrency", "1", "--timeout", "0.5", "--max-cost", f"{cap!r}")

    assert main(args) == 7
    assert billing.total <= Fraction(repr(cap))
    requests = fake_openai.chat_requests()
    assert len(requests) == 3 and len({r.last_user_text for r in requests}) == 1  # two lost attempts and the answered retry
    cost = _report(out)["cost"]
    assert 0 < cost["unanswered"] < cost["spent"] <= cap
    assert len((out / ".qagen" / "unanswered.jsonl").read_text().splitlines()) == 2

    # The next run counts them too: with the same cap, nothing more is sent.
    fake_openai.requests.clear()
    assert main(args) == 7
    assert fake_openai.chat_requests() == []
    assert _report(out)["cost"]["spent"] == cost["spent"]


def test_a_retry_the_cap_has_no_room_for_is_not_sent(tmp_path: Path, fake_openai, capsys) -> None:
    whole, _ = _reference(fake_openai, tmp_path, "--idk-ratio", "0")
    cap = float(max(whole.bills) * Fraction(3, 2))  # the first attempt, lost, leaves no room for its retry
    billing = Billing(fake_openai, late=1)
    out = tmp_path / "out"
    assert main(_args(fake_openai, out, "--idk-ratio", "0", "--concurrency", "1", "--timeout", "0.5", "--max-cost", f"{cap!r}")) == 7
    assert len(fake_openai.chat_requests()) == 1
    assert billing.total <= Fraction(repr(cap))
    report = _report(out)
    assert report["cost"]["requests_not_sent"] == report["chunks"]
    assert {c["reason"] for c in report["chunks_failed"]} == {"budget"}
    assert "did not answer" not in capsys.readouterr().err  # the cap's stop is not taken for an endpoint that is down


def test_a_cap_too_small_for_the_first_request_sends_nothing(tmp_path: Path, fake_openai, capsys) -> None:
    billing = Billing(fake_openai)
    out = tmp_path / "out"
    assert main(_args(fake_openai, out, "--max-cost", "0.0001")) == 7
    assert fake_openai.chat_requests() == []
    assert billing.total == 0
    err = capsys.readouterr().err
    assert "$0 spent" in err or "$0.00 spent" in err
    report = _report(out)
    assert report["cost"]["spent"] == 0 and report["cost"]["requests_not_sent"] == report["chunks"]
    assert report["cost"]["projected"] > report["cost"]["cap"]
    assert report["requests"] == 0
    assert read_jsonl(out / "pairs.jsonl") == []
    assert all(r["reason"] == "budget" for r in read_jsonl(out / "rejects.jsonl") if r["stage"] == "generate")


def test_an_unknown_model_needs_prices_before_any_request(tmp_path: Path, fake_openai, capsys) -> None:
    code = main([str(CORPUS), "-o", str(tmp_path / "out"), "--base-url", fake_openai.url, "--model", "house-model",
                 "--max-cost", "5"])
    err = capsys.readouterr().err
    assert code == 2
    assert "--price-input and --price-output" in err and "house-model" in err
    assert fake_openai.requests == []
    # With the prices it runs.
    assert main([str(CORPUS), "-o", str(tmp_path / "out"), "-q", "--base-url", fake_openai.url, "--model", "house-model",
                 "--max-cost", "5", *PRICE, "--idk-ratio", "0"]) == 0


def test_answers_from_the_call_cache_cost_nothing(tmp_path: Path, fake_openai) -> None:
    Billing(fake_openai)
    args = [str(CORPUS), "-q", "--base-url", fake_openai.url, "--model", MODEL, "--chunk-size", "300", *PRICE, "--idk-ratio", "0"]
    assert main([*args, "-o", str(tmp_path / "first")]) == 0
    assert _report(tmp_path / "first")["cost"]["spent"] > 0
    fake_openai.requests.clear()
    # Another out folder, a cap too small for one request: the cache answers every one, for nothing.
    assert main([*args, "-o", str(tmp_path / "second"), "--max-cost", "0.0001"]) == 0
    assert fake_openai.chat_requests() == []
    cost = _report(tmp_path / "second")["cost"]
    assert cost["spent"] == 0 and cost["requests_not_sent"] == 0
    # And what the cache answered is not counted as spent by a later run into that folder.
    fake_openai.requests.clear()
    assert main([*args, "-o", str(tmp_path / "second"), "--max-cost", "0.0001", "--no-cache"]) == 0
    assert fake_openai.chat_requests() == []


def test_the_report_shows_cost_without_a_cap(tmp_path: Path, fake_openai, capsys) -> None:
    billing = Billing(fake_openai)
    assert main(_args(fake_openai, tmp_path / "out", "--idk-ratio", "0")) == 0
    cost = _report(tmp_path / "out")["cost"]
    assert cost["cap"] is None and cost["requests_not_sent"] == 0
    assert cost["spent"] == pytest.approx(float(billing.total), abs=1e-9) == cost["projected"] == cost["spent_this_run"]
    assert cost["price"]["input"] == 1 and cost["price"]["output"] == 1
    assert "spent" in capsys.readouterr().out


def test_the_library_raises_budget_reached_with_the_result(tmp_path: Path, fake_openai) -> None:
    Billing(fake_openai)
    with pytest.raises(BudgetReached) as raised:
        qagen.generate(CORPUS, out=tmp_path / "out", model=MODEL, base_url=fake_openai.url, chunk_size=300, cache=False,
                       price_input=1, price_output=1, max_cost=0.005, idk_ratio=0)
    assert raised.value.exit_code == 7
    result = raised.value.result
    assert isinstance(result, qagen.Result)
    assert result.report.cost is not None and result.report.cost["requests_not_sent"] > 0
    assert result.paths["pairs"].exists() and (tmp_path / "out" / "report.json").exists()


def test_the_offline_generator_costs_nothing(tmp_path: Path) -> None:
    assert main([str(CORPUS), "-o", str(tmp_path / "out"), "-q", "--model", "offline", "--max-cost", "0.0001"]) == 0
    assert _report(tmp_path / "out")["cost"]["spent"] == 0


# --------------------------------------------------------------------------- the ledger


def _request(key: str, max_tokens: int = 1000, text: str = "What is in the handbook?") -> Request:
    return Request(key=key, messages=(Message("user", text),), params={"max_tokens": max_tokens})


def _ledger(cap: float | None, **kwargs) -> Ledger:
    return Ledger(Rates.of(Price(input=1.0, output=2.0, cached_input=0.5)), cap, COUNTER, **kwargs)


def test_bookings_in_flight_count_against_the_cap() -> None:
    ledger = _ledger(0.0065)
    prompt = ledger.prompt_tokens(_request("a"))
    worst = (prompt + 2 * 1000) * PER_TOKEN  # about $0.002 each
    first, second, third = (ledger.reserve(_request(k)) for k in "abc")
    assert first is not None and second is not None and third is not None
    assert ledger.in_flight == 3 * worst
    assert ledger.reserve(_request("d")) is None  # a fourth could cross: none in flight has settled
    assert ledger.stopped
    # Once stopped, nothing more is sent, not even a request that would fit.
    ledger.release(first)
    assert ledger.reserve(_request("e", max_tokens=1)) is None
    assert [n.key for n in ledger.not_sent] == ["d", "e"]
    ledger.settle(second, Completion("x", "stop", prompt, 100))
    ledger.release(third)
    assert ledger.in_flight == 0
    assert ledger.spent == (prompt + 200) * PER_TOKEN


def test_a_settled_answer_costs_its_usage_with_cached_tokens_at_the_cached_price() -> None:
    ledger = _ledger(None, spent_before=Fraction(3, 1000))
    booking = ledger.reserve(_request("a"))
    assert booking is not None
    ledger.settle(booking, Completion("x", "stop", 1000, 10, cached_tokens=400))
    assert ledger.spent_now == (600 * 1 + 400 * Fraction(1, 2) + 10 * 2) * PER_TOKEN
    assert ledger.spent == ledger.spent_now + Fraction(3, 1000)
    assert Ledger.spent_by(ledger.rates, [Completion("x", "stop", 1000, 10, billed=False)]) == 0


def test_concurrent_workers_never_book_past_the_cap() -> None:
    async def scenario() -> tuple[Ledger, list[int]]:
        ledger = _ledger(0.05)
        in_flight_peak = [0]

        class Slow:
            name = "slow"

            async def complete(self, request: Request) -> Completion:
                in_flight_peak[0] = max(in_flight_peak[0], round(ledger.in_flight / booking_of(request)))
                await asyncio.sleep(0.001 * (hash(request.key) % 5))
                return Completion("x", "stop", ledger.prompt_tokens(request), int(request.params["max_tokens"]))

            async def aclose(self) -> None:
                pass

        def booking_of(request: Request) -> Fraction:
            return (ledger.prompt_tokens(request) + 2 * int(request.params["max_tokens"])) * PER_TOKEN

        model = BudgetedModel(Slow(), ledger)

        async def ask(key: str) -> None:
            try:
                await model.complete(_request(key, max_tokens=500 + 37 * (int(key) % 7)))
            except Exception:  # noqa: BLE001 - the requests kept back
                pass

        await asyncio.gather(*(ask(str(i)) for i in range(200)))
        return ledger, in_flight_peak

    ledger, peak = asyncio.run(scenario())
    assert ledger.spent <= Fraction("0.05")
    assert ledger.not_sent and ledger.in_flight == 0
    assert peak[0] >= 2


def test_the_failures_counted_as_maybe_billed_are_the_clients_names_for_them() -> None:
    import httpx
    import openai

    from qagen.llm.budget import MAYBE_BILLED
    from qagen.llm.client import MalformedReply, ReplyTimedOut, describe_failure

    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    lost = [ReplyTimedOut("slow"), openai.APITimeoutError(request), openai.APIConnectionError(request=request), MalformedReply("no choices")]
    assert {describe_failure(exc) for exc in lost} == MAYBE_BILLED
    refused = openai.InternalServerError("down", response=httpx.Response(503, request=request), body=None)
    assert describe_failure(refused) not in MAYBE_BILLED


def test_a_template_without_max_tokens_needs_a_window() -> None:
    ledger = _ledger(1.0)
    with pytest.raises(ConfigError, match="max_tokens"):
        ledger.reserve(Request(key="a", messages=(Message("user", "hi"),), params={}))
    windowed = _ledger(1.0, window=4096)
    booking = windowed.reserve(Request(key="a", messages=(Message("user", "hi"),), params={}))
    assert booking is not None and booking.cap_tokens == 4096 - booking.prompt_tokens


def test_the_dry_run_shows_the_cap_and_what_the_folder_spent(tmp_path: Path, fake_openai, capsys) -> None:
    billing = Billing(fake_openai)
    out = tmp_path / "out"
    assert main(_args(fake_openai, out, "--idk-ratio", "0", "--max-cost", "0.004")) == 7
    capsys.readouterr()
    fake_openai.requests.clear()
    assert main(_args(fake_openai, out, "--idk-ratio", "0", "--max-cost", "0.004", "--dry-run")) == 0
    printed = capsys.readouterr().out
    assert "cap: --max-cost $0.0040 for the out folder in all" in printed
    assert f"${float(billing.total):.4f} already spent" in printed
    assert fake_openai.requests == []


def test_a_lost_attempt_is_charged_to_its_own_request_and_its_retry_goes_only_with_room() -> None:
    from qagen.llm.client import RequestFailed

    class TimesOutOnce:
        """As qagen's client does: the retry listener hears of the lost attempt, then the retry is answered."""

        name = "times-out-once"

        def __init__(self, ledger: Ledger) -> None:
            self.ledger = ledger

        async def complete(self, request: Request) -> Completion:
            await asyncio.sleep(0)
            self.ledger.attempt_failed("HTTP 503")  # not billed: nothing counted
            self.ledger.attempt_failed("timeout")
            return Completion("x", "stop", 10, 10)

        async def aclose(self) -> None:
            pass

    async def ask(ledger: Ledger, keys: str) -> list[object]:
        model = BudgetedModel(TimesOutOnce(ledger), ledger)
        return await asyncio.gather(*(model.complete(_request(k)) for k in keys), return_exceptions=True)

    roomy = _ledger(1.0)
    worst = (roomy.prompt_tokens(_request("a")) + 2 * 1000) * PER_TOKEN
    outcomes = asyncio.run(ask(roomy, "ab"))
    assert all(isinstance(o, Completion) for o in outcomes)
    assert [a.key for a in roomy.lost] == ["a", "b"] and roomy.in_flight == 0
    assert roomy.spent == 2 * worst + 2 * (10 + 20) * PER_TOKEN

    # Two requests in flight, each losing an attempt: the first retry still fits, the second does not.
    tight = _ledger(float(worst * 3))
    outcomes = asyncio.run(ask(tight, "ab"))
    assert isinstance(outcomes[0], Completion)
    assert isinstance(outcomes[1], RequestFailed) and outcomes[1].reason == "budget"
    assert tight.in_flight == 0 and [n.key for n in tight.not_sent] == ["b"]
    assert tight.spent <= Fraction(repr(float(worst * 3)))
