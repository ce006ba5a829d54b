"""The client's promises, pinned through ``main`` and the real SDK against the fake server.

Request counts, the API key kept out of every file and line (whole or in part), the reply
timeout, requests that are too large, waits the server asks for, and the parameters of
OpenAI's reasoning models.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
from pathlib import Path

import httpx
import openai
import pytest

from fake_openai import FakeOpenAI, RecordedRequest, Reply, chat_reply, error_reply, grounded_pairs_reply
from helpers import CORPUS, read_jsonl
from qagen.cli import main
from qagen.documents.tokens import counter_for
from qagen.errors import ModelError
from qagen.llm.client import OpenAIChatModel
from qagen.records import Message, Request

FLEET = CORPUS / "fleet.txt"


def server_args(server: FakeOpenAI, out: Path, *extra: str) -> list[str]:
    return [str(FLEET), "--base-url", server.url, "--model", "m", "-o", str(out), "--concurrency", "1",
            "--chunk-size", "300", *extra]


def read_report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text(encoding="utf-8"))


def fails(status: int, message: str = "try again") -> Reply:
    return error_reply(status, message, headers={"retry-after": "0"})


# --------------------------------------------------------------------------- 10: the request count


def test_report_counts_every_request_sent_including_the_last_failed_attempt(tmp_path: Path, fake_openai, capsys) -> None:
    fake_openai.queue(lambda request: grounded_pairs_reply(request, 3), fails(503), fails(503))
    out = tmp_path / "o"
    assert main(server_args(fake_openai, out, "--idk-ratio", "0", "--max-attempts", "2")) == 3
    report = read_report(out)
    assert report["chunks"] >= 2 and len(report["chunks_failed"]) == 1
    assert report["retries"] == 1
    assert report["requests"] == len(fake_openai.chat_requests())


def test_report_counts_idk_and_judge_requests_and_their_failed_attempts(tmp_path: Path, fake_openai) -> None:
    fake_openai.handler = failing("judge", 503, first=False)  # every judge request after the first fails
    fake_openai.queue(fails(500))
    out = tmp_path / "o"
    assert main(server_args(fake_openai, out, "--judge", "--idk-ratio", "0.5", "--max-attempts", "2", "-q")) == 3
    kinds = {kind_of(r) for r in fake_openai.chat_requests()}
    assert kinds == {"qa", "judge", "idk", "idk_check"}
    report = read_report(out)
    assert report["requests_failed"] >= 1
    assert report["requests"] == len(fake_openai.chat_requests())


def test_a_fault_storm_finishes_and_every_attempt_is_counted(tmp_path: Path, fake_openai) -> None:
    attempts: dict[str, int] = {}

    def storm(request: RecordedRequest) -> Reply:  # every request fails twice (429, then 503), then succeeds
        seen = attempts[request.last_user_text] = attempts.get(request.last_user_text, 0) + 1
        if seen == 1:
            return error_reply(429, "Rate limit reached", headers={"retry-after": "0.05"})
        return fails(503) if seen == 2 else grounded_pairs_reply(request, 2)

    fake_openai.handler = storm
    out = tmp_path / "o"
    args = [str(CORPUS), "--base-url", fake_openai.url, "--model", "m", "-o", str(out), "--chunk-size", "300",
            "--concurrency", "8", "--idk-ratio", "0", "-q"]
    assert main(args) == 0
    report = read_report(out)
    assert report["chunks"] > 8 and not report["chunks_failed"]
    assert report["retries"] == 2 * report["chunks"]
    assert report["requests"] == len(fake_openai.chat_requests()) == 3 * report["chunks"]


# --------------------------------------------------------------------------- 19: the key is never shown or written

KEY = "sk-proj-Qx7Lm2Vb9Tc4Rn8Kd1Hs6Wz3Jf5Gy0PaE2u4I6o8"


def echoing(status: int) -> Reply:
    """An error whose message echoes the key: whole, without its prefix, and its last 12 characters."""
    return error_reply(
        status, f"Incorrect API key provided: {KEY}. Key seen as {KEY[3:]}; it ends in ...{KEY[-12:]}",
        headers={"retry-after": "0"},
    )


def leaks(text: str) -> list[str]:
    """Every 12-character piece of the key found in ``text``."""
    return [KEY[i:i + 12] for i in range(len(KEY) - 11) if KEY[i:i + 12] in text]


def files_text(folder: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in sorted(folder.rglob("*")) if p.is_file())


def kind_of(request: RecordedRequest) -> str:
    system = request.messages[0]["content"] if request.messages else ""
    if system.startswith("You check question and answer pairs"):
        return "judge"
    if system.startswith("You check whether passages"):
        return "idk_check"
    if system.startswith("You write questions"):
        return "idk"
    return "qa"


# Questions about things the corpus never mentions, so they survive the corpus check and are checked by the model.
UNANSWERED = ["Which xylophone brand does the quartermaster prefer for jazz evenings?",
              "What colour are the curtains in the lighthouse keeper's kitchen?",
              "How many parrots live at the mayor's summer villa?"]


def healthy(request: RecordedRequest) -> Reply:
    kind = kind_of(request)
    if kind == "judge":
        ids = [json.loads(line)["id"] for line in request.last_user_text.splitlines() if line.startswith('{"id"')]
        return chat_reply("\n".join(json.dumps({"id": i, "score": 5, "reason": "fine"}) for i in ids))
    if kind == "idk":
        return chat_reply("\n".join(json.dumps({"question": q}) for q in UNANSWERED))
    if kind == "idk_check":
        return chat_reply('{"answered": false, "reason": "not in the passages"}')
    return grounded_pairs_reply(request, 3)


def failing(kind: str, status: int, *, first: bool):
    """A handler answering well, except requests of ``kind`` (all of them, or all but the first)."""
    seen = {"n": 0}

    def handler(request: RecordedRequest) -> Reply:
        if kind_of(request) != kind:
            return healthy(request)
        seen["n"] += 1
        return echoing(status) if first or seen["n"] > 1 else healthy(request)

    return handler


@pytest.mark.parametrize("kind, status, first, code, extra", [
    ("qa", 503, True, 1, ()),
    ("qa", 503, False, 3, ()),
    ("qa", 400, True, 1, ()),
    ("qa", 400, False, 1, ()),
    ("qa", 401, True, 1, ()),
    ("judge", 503, True, 3, ("--judge",)),
    ("judge", 400, False, 1, ("--judge",)),
    ("idk_check", 503, True, 3, ("--idk-ratio", "0.5")),
    ("idk_check", 400, True, 1, ("--idk-ratio", "0.5")),
])
def test_a_server_message_echoing_the_key_is_never_shown_or_written(
    tmp_path: Path, fake_openai, capsys, monkeypatch, kind: str, status: int, first: bool, code: int, extra: tuple[str, ...]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    fake_openai.api_key = KEY
    fake_openai.handler = failing(kind, status, first=first)
    out = tmp_path / "o"
    args = server_args(fake_openai, out, "--max-attempts", "2", *extra)
    if "--idk-ratio" not in extra:
        args += ["--idk-ratio", "0"]
    assert main(args) == code
    captured = capsys.readouterr()
    assert any(kind_of(r) == kind for r in fake_openai.chat_requests())  # the failing path was taken
    assert "error: " in captured.err
    assert leaks(captured.out + captured.err) == []
    assert leaks(files_text(tmp_path)) == []


@pytest.fixture(scope="module")
def built_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("built") / "out"
    assert main([str(CORPUS), "-o", str(out), "-q", "--model", "offline", "--valid-fraction", "0.3"]) == 0
    return out


@pytest.fixture
def dataset(built_dataset: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "out"
    shutil.copytree(built_dataset, copy)
    return copy


def echo_on_upload(server: FakeOpenAI, status: int) -> None:
    server.inject("POST", "/v1/files", echoing(status), echoing(status))


def echo_on_create(server: FakeOpenAI, status: int) -> None:
    server.finetune_refusal = echoing(status)


def echo_in_failed_job(server: FakeOpenAI, status: int) -> None:
    server.job_statuses = ["validating_files", "failed"]
    server.job_error = {"code": "invalid_training_file", "message": str(echoing(status).json["error"]["message"])}  # type: ignore[index]


@pytest.mark.parametrize("script, status", [
    (echo_on_upload, 503), (echo_on_upload, 401), (echo_on_create, 400), (echo_in_failed_job, 400),
])
def test_finetune_never_shows_or_writes_the_key(fake_openai: FakeOpenAI, dataset: Path, capsys, monkeypatch, script, status: int) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    fake_openai.api_key = KEY
    script(fake_openai, status)
    code = main(["finetune", str(dataset), "--base-url", fake_openai.url, "--poll-interval", "0.02", "--max-attempts", "2"])
    captured = capsys.readouterr()
    assert code == 1
    assert leaks(captured.out + captured.err) == []
    assert leaks(files_text(dataset)) == []


@pytest.mark.parametrize("kind, status, code", [("answer", 503, 3), ("answer", 400, 1), ("judge", 400, 1)])
def test_eval_never_shows_or_writes_the_key(fake_openai: FakeOpenAI, dataset: Path, capsys, monkeypatch, kind: str, status: int, code: int) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    fake_openai.api_key = KEY
    # Every answer is one the judge rates (not a refusal); the requests of ``kind`` echo the key.
    fake_openai.handler = lambda request: (
        echoing(status) if (request.model == "judge") == (kind == "judge") else chat_reply("The ferry leaves at dawn.")
    )
    args = ["eval", str(dataset), "--model", "m", "--base-url", fake_openai.url, "--max-attempts", "2", "--concurrency", "2"]
    if kind == "judge":
        args += ["--judge-model", "judge"]
    assert main(args) == code
    captured = capsys.readouterr()
    assert leaks(captured.out + captured.err) == []
    assert leaks(files_text(dataset)) == []


def test_redaction_masks_pieces_of_a_secret_and_leaves_other_text() -> None:
    from qagen.redaction import redact

    text = f"key {KEY}, as {KEY[3:]}, tail {KEY[-12:]}, and a piece {KEY[10:19]}; model gpt-4o-mini not found"
    masked = redact(text, KEY)
    assert leaks(masked) == [] and KEY[10:19] not in masked
    assert masked.endswith("model gpt-4o-mini not found")
    assert redact("nothing secret here", KEY) == "nothing secret here"


# --------------------------------------------------------------------------- 22: --timeout bounds the whole reply


def test_a_reply_trickled_past_the_timeout_is_timed_out_and_retried(tmp_path: Path, fake_openai) -> None:
    fake_openai.queue(lambda request: dataclasses.replace(grounded_pairs_reply(request, 3), trickle=3.0))
    out = tmp_path / "o"
    assert main(server_args(fake_openai, out, "--idk-ratio", "0", "--timeout", "1", "-q")) == 0
    report = read_report(out)
    assert report["retries"] == 1 and not report["chunks_failed"]
    assert report["requests"] == len(fake_openai.chat_requests()) == report["chunks"] + 1


def request_for() -> Request:
    return Request(key="k", messages=(Message("user", "Hello there."),), params={"temperature": 0.3, "max_tokens": 50})


def test_the_trickled_reply_is_reported_as_a_timeout(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(lambda request: dataclasses.replace(chat_reply("slow"), trickle=3.0))
    retries: list[str] = []

    async def ask() -> str:
        model = OpenAIChatModel("m", base_url=fake_openai.url, api_key=None, timeout=1, max_attempts=3,
                                count_tokens=counter_for("m"), on_retry=lambda reason, wait: retries.append(reason))
        try:
            return (await model.complete(request_for())).text
        finally:
            await model.aclose()

    assert asyncio.run(ask()) != "slow"
    assert retries == ["timeout"]


# --------------------------------------------------------------------------- 25: 413 is the request's problem; 408, 409 are retried


def test_a_413_rejects_that_chunk_without_retry_and_the_run_goes_on(tmp_path: Path, fake_openai, capsys) -> None:
    fake_openai.queue(lambda request: grounded_pairs_reply(request, 3), fails(413, "Request too large for model m."))
    out = tmp_path / "o"
    assert main(server_args(fake_openai, out, "--idk-ratio", "0")) == 0
    report = read_report(out)
    requests = fake_openai.chat_requests()
    assert len(requests) == report["chunks"] >= 3  # each chunk asked once: no retry of the 413
    assert report["retries"] == 0 and report["requests"] == len(requests)
    too_large = [r for r in read_jsonl(out / "rejects.jsonl") if r["reason"] == "request_too_large"]
    assert len(too_large) == 1 and too_large[0]["chunk_id"] and "--chunk-size" in too_large[0]["detail"]
    assert report["dropped"]["request_too_large"] == 1
    assert not report["chunks_failed"]  # a rerun would not help it
    assert [c["status"] for c in report["coverage"]].count("too_large") == 1
    assert any("too large" in w for w in report["warnings"])
    assert "too large" in capsys.readouterr().out  # the summary says so


def test_when_every_request_is_too_large_the_run_stops_with_a_smaller_chunk_size(tmp_path: Path, fake_openai, capsys) -> None:
    fake_openai.handler = lambda request: fails(413, "Request too large.")
    out = tmp_path / "o"
    assert main(server_args(fake_openai, out, "--idk-ratio", "0", "--concurrency", "2")) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and "--chunk-size" in err[-1] and "300" in err[-1]
    chunks = len({r.last_user_text for r in fake_openai.chat_requests()})
    assert len(fake_openai.chat_requests()) == chunks  # none asked twice


@pytest.mark.parametrize("status", [408, 409])
def test_408_and_409_are_retried(tmp_path: Path, fake_openai, status: int) -> None:
    fake_openai.queue(fails(status))
    out = tmp_path / "o"
    assert main(server_args(fake_openai, out, "--idk-ratio", "0", "-q")) == 0
    report = read_report(out)
    assert report["retries"] == 1 and not report["chunks_failed"]


# --------------------------------------------------------------------------- 26: Retry-After, exactly, up to a cap


class FakeClock:
    """Time that moves only when slept, so a 300 s wait takes no time; records each sleep."""

    def __init__(self, server: FakeOpenAI) -> None:
        self.now = 1000.0
        self.server = server
        self.sleeps: list[tuple[float, int]] = []  # (seconds, chat requests received before it)

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append((seconds, len(self.server.chat_requests())))
        self.now += seconds


def ask_once(server: FakeOpenAI, clock: FakeClock, **options) -> str:
    async def ask() -> str:
        model = OpenAIChatModel("m", base_url=server.url, api_key=None, timeout=5, max_attempts=3,
                                count_tokens=counter_for("m"), clock=clock, **options)
        try:
            return (await model.complete(request_for())).text
        finally:
            await model.aclose()

    return asyncio.run(ask())


def rate_limited(retry_after: str) -> openai.RateLimitError:
    response = httpx.Response(429, headers={"retry-after": retry_after}, request=httpx.Request("POST", "http://127.0.0.1/v1/chat/completions"))
    return openai.RateLimitError("Rate limit reached", response=response, body=None)


def test_the_wait_is_the_servers_retry_after_exactly_up_to_the_cap() -> None:
    from qagen.llm.client import retry_wait

    assert retry_wait(rate_limited("300"), 1) == 300
    assert retry_wait(rate_limited("600"), 1) == 600  # the default cap itself is still waited
    assert retry_wait(rate_limited("30"), 1, 60) == 30

    from qagen.llm.client import RetryAfterTooLong

    with pytest.raises(RetryAfterTooLong):
        retry_wait(rate_limited("61"), 1, 60)


def test_retry_after_300_is_waited_exactly(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(error_reply(429, "Rate limit reached", headers={"retry-after": "300"}), chat_reply("at last"))
    clock = FakeClock(fake_openai)
    assert ask_once(fake_openai, clock) == "at last"
    assert sum(seconds for seconds, _ in clock.sleeps) == pytest.approx(300)
    assert all(sent == 1 for _, sent in clock.sleeps)  # all of the wait came before the retry
    assert len(fake_openai.chat_requests()) == 2


def test_a_wait_longer_than_the_cap_stops_with_how_long_and_how_to_continue(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(error_reply(429, "Rate limit reached", headers={"retry-after": "900"}))
    clock = FakeClock(fake_openai)
    with pytest.raises(ModelError, match=r"900 s.*--max-retry-wait.*600 s.*run the same command again"):
        ask_once(fake_openai, clock)
    assert len(fake_openai.chat_requests()) == 1  # no early retry
    assert sum(seconds for seconds, _ in clock.sleeps) == 0


def test_the_cap_is_a_flag_and_the_run_stops_resumably(tmp_path: Path, fake_openai, capsys) -> None:
    fake_openai.queue(lambda request: grounded_pairs_reply(request, 3), error_reply(429, "slow down", headers={"retry-after": "30"}))
    out = tmp_path / "o"
    args = server_args(fake_openai, out, "--idk-ratio", "0", "--max-retry-wait", "10")
    assert main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and "30 s" in err[-1] and "--max-retry-wait" in err[-1]
    asked = len(fake_openai.chat_requests())
    assert asked == 2  # the first chunk, then the refused one: nothing sent after the refusal
    assert main(args) == 0  # the rerun resumes: the first chunk is not asked again
    texts = [r.last_user_text for r in fake_openai.chat_requests()]
    assert texts.count(texts[0]) == 1


# --------------------------------------------------------------------------- 17: OpenAI's reasoning models


def test_a_reasoning_model_gets_max_completion_tokens_and_no_temperature(tmp_path: Path, fake_openai, capsys) -> None:
    def model(request: RecordedRequest) -> Reply:
        if request.messages[0]["content"].startswith("You check question and answer pairs"):  # the judge: all good
            rows = [json.loads(line) for line in request.last_user_text.splitlines() if line.startswith('{"id"')]
            return chat_reply("\n".join(json.dumps({"id": row["id"], "score": 5, "reason": "grounded"}) for row in rows))
        return grounded_pairs_reply(request, 3)

    fake_openai.handler = model
    out = tmp_path / "o"
    args = [str(FLEET), "--base-url", fake_openai.url, "--model", "gpt-5-mini", "-o", str(out), "--chunk-size", "300", "--judge"]
    assert main(args) == 0, capsys.readouterr().err
    requests = fake_openai.chat_requests()
    refused = [r for r in requests if "max_tokens" in r.json or "temperature" in r.json]  # type: ignore[operator]
    assert len(refused) <= 1  # learned from the first refusal, for the whole run
    later = requests[len(refused):]
    assert later and all("max_completion_tokens" in r.json and "temperature" not in r.json for r in later)  # type: ignore[operator]
    assert read_report(out)["requests"] == len(requests)


def test_on_openai_a_reasoning_model_is_never_sent_max_tokens(fake_openai: FakeOpenAI, monkeypatch) -> None:
    # base_url None is OpenAI itself; the SDK then reads OPENAI_BASE_URL, which points it at the fake server.
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.url)

    async def ask() -> None:
        model = OpenAIChatModel("o3-mini", base_url=None, api_key="sk-test", timeout=5, max_attempts=1, count_tokens=counter_for("o3-mini"))
        try:
            await model.complete(request_for())
        finally:
            await model.aclose()

    asyncio.run(ask())
    (sent,) = fake_openai.chat_requests()
    assert sent.json["max_completion_tokens"] == 50 and "max_tokens" not in sent.json and "temperature" not in sent.json  # type: ignore[index, operator]
