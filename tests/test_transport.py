"""The client's hot path: its own transport, the journal's group commit, and one probe request a run.

The transport sends qagen's pre-built body over aiohttp and must raise what the official SDK raises
(so retries, refusals and messages keep working); the journal syncs on a thread of its own and must
still have every line in the file when ``append`` returns; the asker sends one request alone only
until the endpoint has answered once in a run.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
from pathlib import Path

import openai
import pytest
from fake_openai import FakeOpenAI, Reply, chat_reply, error_reply

from qagen.errors import OutputError
from qagen.llm.asker import Asker
from qagen.llm.transport import ChatTransport, proxy_for
from qagen.outfolder import OutFolder
from qagen.outfolder.journal import Journal, JournalEntry
from qagen.records import Completion, Message, Request

BODY = {"model": "m", "messages": [{"role": "user", "content": "Where does the ferry leave from?"}], "max_tokens": 20}


def post(server: FakeOpenAI, body: dict = BODY, key: str = "sk-test"):
    async def send():
        transport = ChatTransport(server.url, key)
        try:
            return await transport.post(body)
        finally:
            await transport.aclose()

    return asyncio.run(send())


# --------------------------------------------------------------------------- the transport


def test_the_body_goes_as_built_with_the_key_as_a_bearer_token(fake_openai: FakeOpenAI) -> None:
    fake_openai.handler = lambda request: Reply(json=chat_reply("Port Essary.").json, headers={"x-ratelimit-limit-requests": "600"})
    headers, reply = post(fake_openai)
    (sent,) = fake_openai.chat_requests()
    assert sent.json == BODY
    assert sent.headers["authorization"] == "Bearer sk-test"
    assert reply["choices"][0]["message"]["content"] == "Port Essary."
    assert headers.get("X-RateLimit-Limit-Requests") == "600"  # case-insensitive, as the pacer reads them


@pytest.mark.parametrize("status, kind", [
    (400, openai.BadRequestError), (401, openai.AuthenticationError), (403, openai.PermissionDeniedError),
    (404, openai.NotFoundError), (409, openai.ConflictError), (422, openai.UnprocessableEntityError),
    (429, openai.RateLimitError), (500, openai.InternalServerError), (503, openai.InternalServerError),
    (418, openai.APIStatusError),
])
def test_an_error_status_raises_the_sdks_exception_of_that_status(fake_openai: FakeOpenAI, status: int, kind: type) -> None:
    fake_openai.inject("POST", "/v1/chat/completions", error_reply(
        status, "context too long", code="context_length_exceeded", param="messages", headers={"retry-after": "7"}))
    with pytest.raises(kind) as raised:
        post(fake_openai)
    exc = raised.value
    assert type(exc) is kind
    assert exc.status_code == status
    assert exc.code == "context_length_exceeded" and exc.param == "messages"
    assert isinstance(exc.body, dict) and exc.body["message"] == "context too long"
    assert exc.response.headers["retry-after"] == "7"


def test_an_error_body_that_is_not_json_is_kept_as_text(fake_openai: FakeOpenAI) -> None:
    fake_openai.inject("POST", "/v1/chat/completions", Reply(status=502, body=b"<html>Bad gateway</html>"))
    with pytest.raises(openai.InternalServerError) as raised:
        post(fake_openai)
    assert raised.value.body == "<html>Bad gateway</html>"
    assert "Bad gateway" in raised.value.message


@pytest.mark.parametrize("fault", [Reply(drop=True), Reply(json={"choices": []}, truncate=True)])
def test_a_dropped_connection_or_a_cut_off_body_is_a_connection_error(fake_openai: FakeOpenAI, fault: Reply) -> None:
    fake_openai.inject("POST", "/v1/chat/completions", fault)
    with pytest.raises(openai.APIConnectionError):
        post(fake_openai)


def test_a_reply_that_is_not_json_raises_a_decode_error(fake_openai: FakeOpenAI) -> None:
    fake_openai.inject("POST", "/v1/chat/completions", Reply(body=b"{not json"))
    with pytest.raises(json.JSONDecodeError):
        post(fake_openai)


# --------------------------------------------------------------------------- the journal's group commit


def completion(text: str = "A.") -> Completion:
    return Completion(text=text, finish_reason="stop", prompt_tokens=3, completion_tokens=1)


def test_a_line_is_in_the_file_when_append_returns(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    journal = Journal(path, folder=tmp_path)
    try:
        for i in range(50):
            journal.append(JournalEntry(f"k{i}", completion(f"answer {i}")))
            # Read by another file handle, as a rerun after kill -9 would: no buffer of this process holds it.
            lines = path.read_bytes().splitlines()
            assert len(lines) == i + 1 and JournalEntry.from_line(lines[-1].decode()).key == f"k{i}"
    finally:
        journal.close()


def test_an_fsync_that_fails_stops_the_run_with_one_sentence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_fsync(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    journal = Journal(tmp_path / "journal.jsonl", folder=tmp_path)
    monkeypatch.setattr("qagen.outfolder.journal.os.fsync", broken_fsync)
    try:
        journal.append(JournalEntry("k0", completion()))
        with pytest.raises(OutputError, match=r"cannot write .*journal\.jsonl: Input/output error; fix it and run the same command again\."):
            for _ in range(2000):  # the sync thread meets the error soon after the line is written
                journal.check_room()
                asyncio.run(asyncio.sleep(0.005))
        with pytest.raises(OutputError):
            journal.append(JournalEntry("k1", completion()))
    finally:
        journal.close()


def _journal_syncs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The file behind each fsync made (of every file: the journal module's ``os`` is every module's), in order."""
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr("qagen.outfolder.journal.os.fsync", fsync)
    return synced


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="names an fd's file through /proc")
def test_a_journal_not_synced_line_by_line_reaches_the_disk_once_at_close(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced = _journal_syncs(monkeypatch)
    path = tmp_path / "journal.jsonl"
    journal = Journal(path, folder=tmp_path, sync_each_line=False)
    for i in range(50):
        journal.append(JournalEntry(f"k{i}", completion(f"answer {i}")))
        assert len(path.read_bytes().splitlines()) == i + 1  # in the file when append returns, as ever
        asyncio.run(asyncio.sleep(0.001))
    assert str(path) not in synced
    journal.close()
    assert synced.count(str(path)) == 1


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="names an fd's file through /proc")
def test_the_offline_generators_journal_is_synced_at_the_end_not_per_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from helpers import CORPUS
    from qagen.cli import main

    synced = _journal_syncs(monkeypatch)
    assert main([str(CORPUS), "-o", str(tmp_path / "out"), "--quiet"]) == 0
    journal = tmp_path / "out" / ".qagen" / "journal.jsonl"
    assert len(journal.read_bytes().splitlines()) > 5
    assert synced.count(str(journal)) == 1


# --------------------------------------------------------------------------- one probe request a run


class CountingModel:
    """Answers after a short sleep and records the most requests it had in flight at once, per call."""

    name = "counting"

    def __init__(self) -> None:
        self.in_flight = 0
        self.most = 0

    async def complete(self, request: Request) -> Completion:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        await asyncio.sleep(0.02)
        self.in_flight -= 1
        return completion()

    async def aclose(self) -> None:
        pass


def requests(prefix: str, count: int) -> list[Request]:
    return [Request(key=f"{prefix}{i}", messages=(Message("user", f"{prefix} {i}"),), params={}) for i in range(count)]


def test_one_request_goes_alone_until_the_endpoint_has_answered_in_the_run(tmp_path: Path) -> None:
    out = OutFolder(tmp_path)
    out.prepare({"test": True}, restart=False)
    model = CountingModel()

    async def run() -> tuple[int, int]:
        with out.open_journal() as journal:
            asker = Asker(model, journal, {}, concurrency=3)  # type: ignore[arg-type]
            await asker.ask(requests("first", 3))
            first, model.most = model.most, 0
            await asker.ask(requests("second", 3))
            return first, model.most

    first, second = asyncio.run(run())
    assert first == 2  # the probe alone, then the other two together
    assert second == 3  # the endpoint has answered: all three at once


@pytest.mark.parametrize("env, expected", [
    ({"HTTPS_PROXY": "http://proxy.example:3128"}, "http://proxy.example:3128"),
    ({"HTTPS_PROXY": "http://proxy.example:3128", "NO_PROXY": "api.example.com"}, None),
    ({"HTTP_PROXY": "http://proxy.example:3128"}, None),  # a proxy for http only is not one for https
    ({}, None),
])
def test_the_proxy_is_the_one_the_environment_names(monkeypatch: pytest.MonkeyPatch, env: dict, expected: str | None) -> None:
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert proxy_for("https://api.example.com/v1/chat/completions") == expected
