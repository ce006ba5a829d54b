"""A prompt over the model's context window is that request's problem, not the run's.

A generation chunk refused that way is split in halves and asked again (down to a floor,
then rejected as ``context_too_long``); an I-don't-know or judge request refused that way
is rejected with the reason. The run goes on either way. With ``--max-context`` (or a
model whose window qagen knows), chunks too long for it are split before anything is sent.
Driven through ``main`` and the real SDK against the fake server.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fake_openai import FakeOpenAI, RecordedRequest, Reply, error_reply, rough_tokens
from helpers import CORPUS, read_jsonl
from qagen.cli import main
from test_client_defects import healthy, kind_of

FLEET = CORPUS / "fleet.txt"

# How each kind of server words the refusal (status, message, type, code).
OPENAI = (400, "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.",
          "invalid_request_error", "context_length_exceeded")
LLAMA_SERVER = (400, "the request exceeds the available context size, try increasing it", "exceed_context_size_error", None)
LLAMA_OLD = (400, "Requested tokens (2300) exceed context window of 2048", "invalid_request_error", None)
VLLM = (400, "This model's maximum context length is 2048 tokens. However, you requested 2300 tokens.", "BadRequestError", None)


def overflow(refusal: tuple = OPENAI) -> Reply:
    status, message, type_, code = refusal
    return error_reply(status, message, type=type_, code=code)


def passage_of(request: RecordedRequest) -> str:
    text = request.last_user_text
    return text.split('"""')[1] if text.count('"""') >= 2 else text


def window(limit: int, refusal: tuple = OPENAI, kinds: tuple[str, ...] = ("qa",)):
    """A server whose context window holds passages of at most ``limit`` rough tokens, for requests of ``kinds``."""

    def handler(request: RecordedRequest) -> Reply:
        if kind_of(request) in kinds and rough_tokens(passage_of(request)) > limit:
            return overflow(refusal)
        return healthy(request)

    return handler


def args(server: FakeOpenAI, out: Path, *extra: str) -> list[str]:
    return [str(FLEET), "--base-url", server.url, "--model", "m", "-o", str(out), "--concurrency", "1", "-q", *extra]


def report_of(out: Path) -> dict:
    return json.loads((out / "report.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("refusal", [OPENAI, LLAMA_SERVER, LLAMA_OLD, VLLM], ids=["openai", "llama-server", "llama-old", "vllm"])
def test_a_chunk_over_the_context_window_is_split_in_halves_and_asked_again(tmp_path: Path, fake_openai, refusal) -> None:
    fake_openai.handler = window(250, refusal)
    out = tmp_path / "o"
    assert main(args(fake_openai, out, "--chunk-size", "400", "--chunk-overlap", "0", "--idk-ratio", "0")) == 0
    report = report_of(out)
    qa = [r for r in fake_openai.chat_requests() if kind_of(r) == "qa"]
    refused = [r for r in qa if rough_tokens(passage_of(r)) > 250]
    assert refused, "the corpus must hold a chunk over the window for this test to mean anything"
    # Each refused chunk was asked once (no retry of the refusal), then as pieces that fit.
    assert report["retries"] == 0 and not report["chunks_failed"]
    assert not [r for r in read_jsonl(out / "rejects.jsonl") if r["stage"] == "generate"]
    assert report["stages"]["generate"]["split"] == len(refused)
    assert any("context window" in w for w in report["warnings"])
    # The pairs come from the pieces, and each piece is a chunk of the report with its own coverage.
    chunk_ids = {c["chunk_id"] for c in report["coverage"]}
    assert {p["chunk_id"] for p in read_jsonl(out / "pairs.jsonl")} <= chunk_ids
    assert len(qa) == len(refused) + report["chunks"]


def test_a_piece_that_never_fits_is_rejected_as_context_too_long_and_the_run_goes_on(tmp_path: Path, fake_openai) -> None:
    fake_openai.handler = window(0)  # no piece of a chunk, however small the splitter cuts it, fits this
    out = tmp_path / "o"
    assert main(args(fake_openai, out, "--chunk-size", "400", "--idk-ratio", "0")) == 4
    rejects = [r for r in read_jsonl(out / "rejects.jsonl") if r["stage"] == "generate"]
    assert rejects and {r["reason"] for r in rejects} == {"context_too_long"}
    assert all("context window" in r["detail"] for r in rejects)
    report = report_of(out)
    assert report["dropped"]["context_too_long"] == len(rejects) == report["chunks"]
    assert not report["chunks_failed"]  # a rerun would get the same refusal
    # Pieces are cut to the floor and no further: every refused request is a different prompt.
    texts = [r.last_user_text for r in fake_openai.chat_requests()]
    assert len(texts) == len(set(texts))


def test_only_the_chunk_over_the_window_is_touched(tmp_path: Path, fake_openai) -> None:
    fake_openai.handler = window(10_000)
    fake_openai.queue(lambda request: healthy(request), overflow(LLAMA_SERVER))  # the second chunk is refused once
    out = tmp_path / "o"
    assert main(args(fake_openai, out, "--chunk-size", "300", "--idk-ratio", "0")) == 0
    report = report_of(out)
    assert report["stages"]["generate"]["split"] == 1
    qa = fake_openai.chat_requests()
    assert len(qa) == report["chunks"] + 1  # the refused one, then its pieces (one more chunk than before)


@pytest.mark.parametrize("kind, extra", [("idk", ("--idk-ratio", "0.5")), ("idk_check", ("--idk-ratio", "0.5")), ("judge", ("--judge",))])
def test_an_idk_or_judge_request_over_the_window_is_rejected_with_the_reason_and_the_run_goes_on(
    tmp_path: Path, fake_openai, kind: str, extra: tuple[str, ...]
) -> None:
    fake_openai.handler = window(0, LLAMA_OLD, kinds=(kind,))
    out = tmp_path / "o"
    code = main(args(fake_openai, out, "--chunk-size", "300", *extra))
    assert code in (0, 4)  # not 1 (a "bad request" stopping the run) and not 3 (a rerun would not help)
    rejects = read_jsonl(out / "rejects.jsonl")
    stage = "judge" if kind == "judge" else "idk"
    too_long = [r for r in rejects if r["reason"] == "context_too_long"]
    assert too_long and {r["stage"] for r in too_long} == {stage}
    assert all("context window" in r["detail"] for r in too_long)
    report = report_of(out)
    assert report["requests_failed"] == 0
    assert (out / "train.jsonl").exists()
    asked = [r for r in fake_openai.chat_requests() if kind_of(r) == kind]
    if kind == "idk":
        assert len(asked) == 1  # the excerpts would not shrink in a later round: asked once


def test_max_context_splits_chunks_before_sending(tmp_path: Path, fake_openai) -> None:
    fake_openai.handler = window(10_000)
    out = tmp_path / "o"
    assert main(args(fake_openai, out, "--chunk-size", "1000", "--chunk-overlap", "0", "--idk-ratio", "0")) == 0
    whole = report_of(out)["chunks"]
    fake_openai.requests.clear()
    out2 = tmp_path / "o2"
    # A 1,600-token window keeps a quarter for the reply: a 1000-token chunk and the template do not fit the rest.
    # Without the call cache, so every request of this run reaches the server to be looked at.
    assert main(args(fake_openai, out2, "--chunk-size", "1000", "--chunk-overlap", "0", "--idk-ratio", "0",
                     "--max-context", "1600", "--no-cache")) == 0
    report = report_of(out2)
    assert report["chunks"] > whole
    assert report["stages"]["generate"]["split"] >= 1
    assert len(fake_openai.chat_requests()) == report["chunks"]  # nothing was sent that had to be split
    assert report["settings"]["max_context"] == 1600


def test_a_prompt_that_leaves_the_reply_too_little_room_is_warned_about(tmp_path: Path, fake_openai, capsys) -> None:
    fake_openai.handler = window(10_000)
    out = tmp_path / "o"
    # A chunk's prompt is about 700 tokens; with the template's 2000 reply tokens that is over 2,500.
    command = [a for a in args(fake_openai, out, "--chunk-size", "300", "--idk-ratio", "0", "--max-context", "2500") if a != "-q"]
    assert main(command) == 0
    err = capsys.readouterr().err
    assert "warning:" in err and "--max-context" in err and "max_tokens" in err
    assert any("max_tokens" in w for w in report_of(out)["warnings"])


def test_known_context_windows() -> None:
    from qagen.llm.context import context_window_for

    assert context_window_for("gpt-4o-mini") == 128_000
    assert context_window_for("gpt-4o-2024-08-06") == 128_000
    assert context_window_for("gpt-3.5-turbo") == 16_385
    assert context_window_for("my-local-model") is None
    assert context_window_for("ft:gpt-4o-mini-2024-07-18:org::abc") == 128_000


# --------------------------------------------------------------------------- a failed run leaves no stale dataset looking current


def test_a_run_that_fails_after_generation_marks_the_earlier_dataset_as_outdated(tmp_path: Path, fake_openai, capsys) -> None:
    fake_openai.handler = healthy
    out = tmp_path / "o"
    assert main(args(fake_openai, out, "--chunk-size", "300", "--idk-ratio", "0")) == 0
    assert main(["validate", str(out / "train.jsonl")]) == 0
    capsys.readouterr()
    # The same folder, now with the judge, which the endpoint refuses as a plain bad request: the run stops after generating.
    fake_openai.handler = lambda request: error_reply(400, "bad judge") if kind_of(request) == "judge" else healthy(request)
    assert main(args(fake_openai, out, "--chunk-size", "300", "--idk-ratio", "0", "--judge")) == 1
    capsys.readouterr()
    assert main(["validate", str(out / "train.jsonl")]) == 1
    assert "earlier run" in capsys.readouterr().out
    assert main(["finetune", str(out), "--dry-run"]) == 1
    assert "earlier run" in capsys.readouterr().err
    # A run that finishes writes a current dataset again (its answers come from the journal).
    fake_openai.handler = healthy
    assert main(args(fake_openai, out, "--chunk-size", "300", "--idk-ratio", "0", "--judge")) == 0
    assert main(["validate", str(out / "train.jsonl")]) == 0


def test_an_idk_prompt_over_a_known_window_is_warned_about_before_it_is_sent(tmp_path: Path, fake_openai, capsys) -> None:
    fake_openai.handler = healthy
    out = tmp_path / "o"
    # The I-don't-know request carries up to 1,500 tokens of excerpts: over a 1,200-token window.
    command = [a for a in args(fake_openai, out, "--chunk-size", "200", "--idk-ratio", "0.5", "--max-context", "1200") if a != "-q"]
    assert main(command) == 0
    err = capsys.readouterr().err
    warning = next(line for line in err.splitlines() if "I-don't-know" in line and "context window" in line)
    assert warning.startswith("warning: ") and "1200" in warning
    assert [r for r in fake_openai.chat_requests() if kind_of(r) == "idk"]  # sent all the same: the server decides
    assert any("I-don't-know" in w and "context window" in w for w in report_of(out)["warnings"])


def test_a_piece_that_fails_after_every_retry_is_one_failed_chunk_not_a_down_endpoint(tmp_path: Path, fake_openai) -> None:
    state: dict[str, str] = {}

    def handler(request: RecordedRequest) -> Reply:
        passage = passage_of(request)
        if kind_of(request) == "qa" and len(fake_openai.chat_requests()) == 2:
            state["refused"] = passage
            return overflow()  # the second chunk is over the window
        if "refused" in state and passage in state["refused"] and passage != state["refused"] and "failed" not in state:
            state["failed"] = passage
            return error_reply(503, "busy", headers={"retry-after": "0"})  # its first piece fails every attempt
        return healthy(request)

    fake_openai.handler = handler
    out = tmp_path / "o"
    assert main(args(fake_openai, out, "--chunk-size", "300", "--idk-ratio", "0", "--max-attempts", "1")) == 3
    report = report_of(out)
    assert "failed" in state
    assert len(report["chunks_failed"]) == 1 and report["stages"]["generate"]["split"] == 1


def test_the_pieces_of_a_cut_chunk_keep_everything_but_their_text_and_id() -> None:
    from qagen.documents.chunking import split_chunk
    from qagen.documents.tokens import counter_for
    from qagen.records import Chunk

    counter = counter_for("gpt-4o-mini")
    text = FLEET.read_text(encoding="utf-8")[:3000]
    chunk = Chunk(id="c1", source="fleet.txt", index=3, text=text, tokens=counter(text))
    pieces = split_chunk(chunk, counter, chunk_tokens=chunk.tokens // 2 + 1, overlap_tokens=0)
    assert len(pieces) >= 2
    assert all(p.source == "fleet.txt" and p.index == 3 and p.tokens == counter(p.text) <= chunk.tokens // 2 + 1 for p in pieces)
    assert len({p.id for p in pieces} | {chunk.id}) == len(pieces) + 1
    assert all(p.text in text for p in pieces)
    assert split_chunk(chunk, counter, chunk_tokens=chunk.tokens // 2 + 1, overlap_tokens=0) == pieces  # the same cut every run
