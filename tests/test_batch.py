"""--batch: each step's requests as Batch API jobs on the test server, resumable, matched back into the journal."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from fake_batches import FakeBatches, serve_batches
from fake_openai import RecordedRequest, Reply, chat_reply, error_reply
from helpers import CORPUS, output_files

from qagen.cli import main


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    shutil.copytree(CORPUS, folder)
    return folder


@pytest.fixture
def batches(fake_openai) -> FakeBatches:
    return serve_batches(fake_openai)


def _run(corpus: Path, out: Path, fake_openai, *extra: str) -> int:
    return main([str(corpus), "-o", str(out), "-q", "--base-url", fake_openai.url, "--model", "m", "--chunk-size", "300",
                 "--batch-poll-interval", "0.001", *extra])


def _report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text(encoding="utf-8"))


def test_a_batch_run_writes_the_same_dataset_as_an_online_run(tmp_path: Path, corpus: Path, fake_openai, batches) -> None:
    assert _run(corpus, tmp_path / "online", fake_openai, "--no-cache") == 0
    online_bodies = sorted(json.dumps(r.json, sort_keys=True) for r in fake_openai.chat_requests())
    online_requests = len(online_bodies)
    fake_openai.requests.clear()

    assert _run(corpus, tmp_path / "batch", fake_openai, "--no-cache", "--batch") == 0
    assert fake_openai.chat_requests() == []  # nothing went online
    assert output_files(tmp_path / "online") == output_files(tmp_path / "batch")
    assert (tmp_path / "online" / "train.jsonl").read_bytes() == (tmp_path / "batch" / "train.jsonl").read_bytes()
    lines = [line for batch in batches.batches.values() for line in batch.lines]
    assert len(lines) == online_requests
    assert sorted(json.dumps(line["body"], sort_keys=True) for line in lines) == online_bodies  # asked exactly the same
    assert all(line["method"] == "POST" and line["url"] == "/v1/chat/completions" and line["body"]["model"] == "m" for line in lines)
    report = _report(tmp_path / "batch")
    assert report["batch"]["batched"] == online_requests
    assert report["batch"]["answered"] == online_requests
    assert report["batch"]["failed"] == 0 and report["batch"]["retried"] == 0


def _state(out: Path) -> dict:
    return json.loads((out / ".qagen" / "batches.json").read_text(encoding="utf-8"))


def test_a_rerun_after_the_follow_broke_follows_the_saved_batch(tmp_path: Path, corpus: Path, fake_openai, batches, capsys) -> None:
    out = tmp_path / "out"
    fake_openai.inject("GET", "/v1/batches/{batch_id}", error_reply(500, "The server is overloaded."))
    assert _run(corpus, out, fake_openai, "--batch", "--idk-ratio", "0", "--max-attempts", "1") == 1
    assert "run the same command again: it follows the same batch" in capsys.readouterr().err
    saved = _state(out)["parts"]
    assert len(saved) == 1 and saved[0]["batch_id"] == "batch_fake1" and not saved[0]["done"]

    assert _run(corpus, out, fake_openai, "--batch", "--idk-ratio", "0") == 0
    assert len(batches.batch_uploads) == 1 and len(batches.creates) == 1
    assert _state(out)["parts"][0]["done"]
    assert _report(out)["train_examples"] > 0

    # A third run has every answer in its journal: it submits nothing.
    assert _run(corpus, out, fake_openai, "--batch", "--idk-ratio", "0") == 0
    assert len(batches.batch_uploads) == 1 and len(batches.creates) == 1


def test_a_rerun_after_the_create_was_refused_submits_the_uploaded_file(tmp_path: Path, corpus: Path, fake_openai, batches, capsys) -> None:
    out = tmp_path / "out"
    fake_openai.inject("POST", "/v1/batches", error_reply(503, "Batch creation is paused."))
    assert _run(corpus, out, fake_openai, "--batch", "--idk-ratio", "0", "--max-attempts", "1") == 1
    assert "run the same command again to continue" in capsys.readouterr().err
    saved = _state(out)["parts"]
    assert len(saved) == 1 and saved[0]["file_id"] and saved[0]["batch_id"] is None

    assert _run(corpus, out, fake_openai, "--batch", "--idk-ratio", "0") == 0
    assert len(batches.batch_uploads) == 1  # the file uploaded before is the one submitted
    assert [c["input_file_id"] for c in batches.creates] == [saved[0]["file_id"]]
    assert sum(1 for r in fake_openai.requests if r.method == "POST" and r.path == "/v1/batches") == 2  # the refused one, then this
    assert len(batches.batches) == 1


def test_requests_are_split_at_the_file_limit(tmp_path: Path, corpus: Path, fake_openai, batches) -> None:
    batches.max_lines = 3  # the server refuses a larger file
    out = tmp_path / "out"
    assert _run(corpus, out, fake_openai, "--batch", "--idk-ratio", "0", "--batch-max-requests", "3") == 0
    report = _report(out)
    sizes = [len(b.lines) for b in batches.batches.values()]
    assert all(size <= 3 for size in sizes) and sum(sizes) == report["chunks"]
    assert len(sizes) == -(-report["chunks"] // 3)
    assert batches.refused_uploads == 0
    assert report["batch"]["batches"] == len(sizes)
    # Every batch of the step was submitted before the first was followed: they run on the service at once.
    calls = [(r.method, r.path) for r in fake_openai.requests if r.path.startswith("/v1/batches")]
    assert calls[:len(sizes)] == [("POST", "/v1/batches")] * len(sizes)


def test_the_test_server_refuses_a_file_over_its_limit(tmp_path: Path, corpus: Path, fake_openai, batches, capsys) -> None:
    batches.max_lines = 2
    assert _run(corpus, tmp_path / "out", fake_openai, "--batch", "--idk-ratio", "0", "--max-attempts", "1") == 1
    assert batches.refused_uploads == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "uploading the batch file" in err and "Traceback" not in err


def test_answers_in_the_call_cache_are_not_batched(tmp_path: Path, corpus: Path, fake_openai, batches) -> None:
    assert _run(corpus, tmp_path / "a", fake_openai, "--idk-ratio", "0") == 0
    fake_openai.requests.clear()
    assert _run(corpus, tmp_path / "b", fake_openai, "--idk-ratio", "0", "--batch") == 0
    assert batches.batches == {} and batches.batch_uploads == []
    assert _report(tmp_path / "b")["cache_hits"] == _report(tmp_path / "b")["chunks"]
    assert output_files(tmp_path / "a") == output_files(tmp_path / "b")


def test_failed_lines_go_in_a_follow_up_batch(tmp_path: Path, corpus: Path, fake_openai, batches, capsys) -> None:
    fake_openai.queue(error_reply(503, "The engine is overloaded."), Reply(drop=True))  # the first two lines of the first batch
    out = tmp_path / "out"
    assert _run(corpus, out, fake_openai, "--batch", "--idk-ratio", "0", "--no-cache") == 0
    report = _report(out)
    assert [len(b.lines) for b in batches.batches.values()] == [report["chunks"], 2]
    assert report["batch"] == {"batches": 2, "batched": report["chunks"], "answered": report["chunks"], "retried": 2, "failed": 0}
    assert any("2 requests got no answer in the batch" in w for w in report["warnings"])
    assert f"batch     2 batches of {report['chunks']} requests, 2 sent again\n" in capsys.readouterr().out

    assert _run(corpus, tmp_path / "online", fake_openai, "--idk-ratio", "0", "--no-cache") == 0
    assert output_files(out) == output_files(tmp_path / "online")


def test_an_expired_batch_sends_its_missing_lines_again(tmp_path: Path, corpus: Path, fake_openai, batches) -> None:
    batches.statuses = ["in_progress", "expired"]
    batches.answered_before_end = 5
    out = tmp_path / "out"
    assert _run(corpus, out, fake_openai, "--batch", "--idk-ratio", "0", "--no-cache", "--batch-retry-online") == 0
    report = _report(out)
    # Every batch expires after 5 lines: the first, then two follow-ups, then the rest online.
    assert [len(b.lines) for b in batches.batches.values()] == [report["chunks"], report["chunks"] - 5, report["chunks"] - 10]
    assert len(fake_openai.chat_requests()) == report["chunks"] - 15
    assert report["batch"]["answered"] == report["chunks"] and report["batch"]["failed"] == 0
    assert any("ended expired" in w for w in report["warnings"])


def test_lines_every_batch_failed_are_reported_and_a_rerun_asks_them(tmp_path: Path, corpus: Path, fake_openai, batches, capsys) -> None:
    failing: set[str] = set()

    def fail_one_chunk(request):  # the first line asked, each time it is asked
        if not failing:
            failing.add(request.last_user_text)
        if request.last_user_text in failing:
            return error_reply(500, "Internal error.")
        return fake_openai.default_handler(request)

    fake_openai.handler = fail_one_chunk
    out = tmp_path / "out"
    assert _run(corpus, out, fake_openai, "--batch", "--idk-ratio", "0", "--no-cache") == 3
    report = _report(out)
    assert report["batch"]["failed"] == 1 and report["batch"]["retried"] == 2
    assert [f["reason"] for f in report["chunks_failed"]] == ["HTTP 500"]
    assert "failed after every retry; run the same command again" in capsys.readouterr().err

    fake_openai.handler = fake_openai.default_handler
    assert _run(corpus, out, fake_openai, "--batch", "--idk-ratio", "0", "--no-cache") == 0
    assert [len(b.lines) for b in batches.batches.values()][1:] == [1, 1, 1]  # the follow-ups, then the rerun's
    assert _report(out)["chunks_failed"] == []


def test_a_line_for_an_unknown_model_stops_the_run_with_one_sentence(tmp_path: Path, corpus: Path, fake_openai, batches, capsys) -> None:
    fake_openai.models = ["another-model"]
    out = tmp_path / "out"
    assert _run(corpus, out, fake_openai, "--batch", "--idk-ratio", "0") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: model m was not found at") and "(404)" in err
    # The refused batch is read: a rerun with the model fixed submits again instead of reading the refusal.
    assert _state(out)["parts"][0]["done"]
    fake_openai.models = []
    assert _run(corpus, out, fake_openai, "--batch", "--idk-ratio", "0") == 0
    assert len(batches.batches) == 2


def test_max_cost_with_batch_is_refused(tmp_path: Path, corpus: Path, fake_openai, batches, capsys) -> None:
    assert _run(corpus, tmp_path / "out", fake_openai, "--batch", "--max-cost", "5", "--price-input", "1", "--price-output", "1") == 2
    err = capsys.readouterr().err
    assert "--max-cost cannot be used with --batch" in err and err.count("\n") == 1
    assert batches.batch_uploads == [] and not (tmp_path / "out").exists()


def test_batch_is_a_transport_setting(tmp_path: Path, corpus: Path, fake_openai, batches) -> None:
    """An online run can be continued with --batch and the other way round: the manifest does not change."""
    out = tmp_path / "out"
    assert _run(corpus, out, fake_openai, "--idk-ratio", "0", "--no-cache") == 0
    manifest = (out / ".qagen" / "manifest.json").read_text(encoding="utf-8")
    card = (out / "README.md").read_text(encoding="utf-8")
    assert _run(corpus, out, fake_openai, "--idk-ratio", "0", "--no-cache", "--batch") == 0
    assert (out / ".qagen" / "manifest.json").read_text(encoding="utf-8") == manifest
    assert (out / "README.md").read_text(encoding="utf-8") == card and "batch" not in card.lower()


def test_the_dry_run_shows_the_batch_price(tmp_path: Path, corpus: Path, fake_openai, capsys) -> None:
    args = [str(corpus), "-o", str(tmp_path / "out"), "--base-url", fake_openai.url, "--model", "gpt-4o", "--dry-run"]
    assert main(args) == 0
    online = capsys.readouterr().out
    assert main([*args, "--batch"]) == 0
    batch = capsys.readouterr().out
    assert "through the Batch API (--batch)" in online
    line = next(line for line in batch.splitlines() if line.startswith("cost with --batch: about $"))
    half, online_cost = line.split("about $")[1].split(",")[0], line.split("online: about $")[1]
    assert float(online_cost) > 0.1 and abs(float(half) * 2 - float(online_cost)) <= 0.011  # shown to the cent
    assert "within its 24 h window" in batch
    assert fake_openai.requests == []


# --------------------------------------------------------------------------- files for other engines


def _run_batch(server, input_file: Path, output_file: Path, *, vllm_shape: bool = False) -> None:
    """What vLLM's run_batch does with an input file: each line answered, written as an output line."""
    lines = []
    for number, line in enumerate(input_file.read_text(encoding="utf-8").splitlines(), 1):
        request = json.loads(line)
        reply = server._serve_chat(_as_request(request["body"]))
        body = json.loads(reply.encoded_body())
        if vllm_shape and reply.status != 200:
            lines.append({"id": f"vllm-{number}", "custom_id": request["custom_id"], "response": {"status_code": reply.status,
                          "request_id": f"vllm-batch-{number}"}, "error": body["error"]["message"]})
        else:
            lines.append({"id": f"vllm-{number}", "custom_id": request["custom_id"],
                          "response": {"status_code": reply.status, "request_id": f"vllm-batch-{number}", "body": body}, "error": None})
    output_file.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")


def _engine(corpus: Path, out: Path, *extra: str) -> int:
    return main([str(corpus), "-o", str(out), "-q", "--model", "Qwen/Qwen2.5-7B-Instruct", "--chunk-size", "300", *extra])


def test_export_run_the_engine_import_gives_the_online_dataset(tmp_path: Path, corpus: Path, fake_openai, capsys) -> None:
    exported = tmp_path / "requests"
    out = tmp_path / "out"
    imports: list[str] = []
    for step in range(1, 12):  # generation, then each round of I-don't-know candidates and their checks
        code = _engine(corpus, out, "--batch-export", str(exported), *imports)
        err = capsys.readouterr().err
        if code == 0:
            break
        assert code == 8
        assert "python -m vllm.entrypoints.openai.run_batch -i " in err and "--model Qwen/Qwen2.5-7B-Instruct" in err
        input_file = Path(err.split(" -i ")[1].split(" ")[0])
        output_file = Path(err.split(" -o ")[1].split(" ")[0])
        assert input_file.parent == exported and output_file.name == input_file.name.replace(".jsonl", ".out.jsonl")
        assert f"--batch-import {output_file}" in err
        _run_batch(fake_openai, input_file, output_file, vllm_shape=step == 2)
        imports += ["--batch-import", str(output_file)]
    assert code == 0, err
    assert fake_openai.chat_requests() == []
    report = _report(out)
    assert report["batch"]["imported"] > 0

    online = tmp_path / "online"
    assert main([str(corpus), "-o", str(online), "-q", "--base-url", fake_openai.url, "--model", "Qwen/Qwen2.5-7B-Instruct",
                 "--chunk-size", "300", "--no-cache"]) == 0
    files, online_files = output_files(out), output_files(online)
    assert {n: files[n] for n in files if n != "README.md"} == {n: online_files[n] for n in files if n != "README.md"}
    # The card names where the answers came from; nothing else in it differs.
    assert "with the model `Qwen/Qwen2.5-7B-Instruct` at a batch engine (--batch-import files)" in files["README.md"]
    card = files["README.md"].replace("a batch engine (--batch-import files)", "X").replace("| base_url | `null` |", "")
    assert card == online_files["README.md"].replace(fake_openai.url, "X").replace('| base_url | `"X"` |', "")


def test_an_imported_line_for_no_request_is_a_warning(tmp_path: Path, corpus: Path, fake_openai, capsys) -> None:
    exported = tmp_path / "requests"
    out = tmp_path / "out"
    assert _engine(corpus, out, "--idk-ratio", "0", "--batch-export", str(exported)) == 8
    input_file = next(exported.glob("*.jsonl"))
    output_file = tmp_path / "answers.jsonl"
    _run_batch(fake_openai, input_file, output_file)
    stray = {"id": "x", "custom_id": "c-0000000000000000", "response": {"status_code": 200, "request_id": "r",
             "body": json.loads(chat_reply("{}").encoded_body())}, "error": None}
    with output_file.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(stray) + "\n")
    capsys.readouterr()
    assert _engine(corpus, out, "--idk-ratio", "0", "--batch-import", str(output_file)) == 0
    assert "1 lines of" in capsys.readouterr().out and "unknown custom_id" in json.dumps(_report(out)["warnings"])


def test_a_malformed_imported_line_is_one_sentence(tmp_path: Path, corpus: Path, capsys) -> None:
    bad = tmp_path / "answers.jsonl"
    bad.write_text('{"custom_id": "a", "response": null, "error": null}\nnot json\n', encoding="utf-8")
    assert _engine(corpus, tmp_path / "out", "--batch-import", str(bad)) == 1
    err = capsys.readouterr().err
    assert err == f"error: line 2 of {bad} is not a batch output line (not JSON); give the file the batch engine wrote.\n"
    assert not (tmp_path / "out").exists()


def test_exit_code_8_is_documented() -> None:
    from helpers import REPO

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "8 `--batch-export`" in readme


# --------------------------------------------------------------------------- units: the follower's waits, output lines


class _Clock:
    def __init__(self) -> None:
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return sum(self.slept)

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def test_the_follower_waits_longer_each_time_up_to_30_seconds() -> None:
    import asyncio
    from types import SimpleNamespace

    from qagen.llm.batch.follower import follow

    statuses = ["validating"] * 3 + ["in_progress"] * 10 + ["completed"]
    counts = SimpleNamespace(total=10, completed=0, failed=0)

    class Batches:
        async def retrieve(self, batch_id: str):
            return SimpleNamespace(id=batch_id, status=statuses.pop(0), request_counts=counts)

    clock, notes = _Clock(), []
    batch = asyncio.run(follow(SimpleNamespace(batches=Batches()), "batch_1", clock=clock, first_wait=1.0, note=notes.append))  # type: ignore[arg-type]
    assert batch.status == "completed"
    assert clock.slept[:4] == [1.0, 1.5, 2.25, 3.375]
    assert max(clock.slept) == 30.0 and len(clock.slept) == 13
    assert notes == ["batch batch_1: validating, 0 of 10 requests done", "batch batch_1: in_progress, 0 of 10 requests done",
                     "batch batch_1: completed, 0 of 10 requests done"]  # a line when something changed, not every look


def test_output_lines_of_openai_and_vllm() -> None:
    from qagen.llm.batch.results import outcome_of

    body = {"choices": [{"message": {"content": "Q/A"}, "finish_reason": "length"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 3, "prompt_tokens_details": {"cached_tokens": 8}}}

    def read(line: dict):
        return outcome_of(json.dumps(line), model="m", where="http://x/v1", origin="line 1 of f")

    ok = read({"id": "r", "custom_id": "c-1", "response": {"status_code": 200, "request_id": "q", "body": body}, "error": None})
    assert ok.completion is not None and (ok.completion.text, ok.completion.finish_reason, ok.completion.prompt_tokens,
                                          ok.completion.completion_tokens, ok.completion.cached_tokens) == ("Q/A", "length", 12, 3, 8)
    expired = read({"id": "r", "custom_id": "c-2", "response": None, "error": {"code": "batch_expired", "message": "too late"}})
    assert (expired.retry, expired.reason, expired.detail) == (True, "batch_expired", "too late")
    vllm_error = read({"id": "r", "custom_id": "c-3", "response": {"status_code": 500, "request_id": "q"}, "error": "engine died"})
    assert vllm_error.retry and vllm_error.detail == "engine died"
    overloaded = read({"custom_id": "c-4", "response": {"status_code": 429, "body": {"error": {"message": "slow down"}}}})
    assert overloaded.retry and overloaded.reason == "HTTP 429"
    too_long = read({"custom_id": "c-5", "response": {"status_code": 400, "body": {"error": {
        "message": "This model's maximum context length is 8192 tokens", "code": "context_length_exceeded"}}}})
    assert (too_long.retry, too_long.fatal, too_long.reason) == (False, None, "context_too_long")
    refused = read({"custom_id": "c-6", "response": {"status_code": 401, "body": {"error": {"message": "bad key"}}}})
    assert refused.fatal is not None and "(401)" in refused.fatal
    no_choices = read({"custom_id": "c-7", "response": {"status_code": 200, "body": {"object": "chat.completion"}}})
    assert no_choices.retry and no_choices.reason == "malformed reply"


def test_request_files_split_at_bytes_too() -> None:
    from qagen.llm.batch.requestfile import split_requests
    from qagen.records import Message, Request

    requests = [Request(key=f"c-{i}", messages=(Message("user", "x" * 100),), params={}) for i in range(5)]
    files = split_requests(requests, lambda r: {"model": "m", "messages": [m.as_dict() for m in r.messages]}, max_lines=10, max_bytes=500)
    assert [len(f.keys) for f in files] == [2, 2, 1] and all(f.size <= 500 for f in files)
    assert [k for f in files for k in f.keys] == [r.key for r in requests]
    assert json.loads(files[0].text.splitlines()[0]) == {"custom_id": "c-0", "method": "POST", "url": "/v1/chat/completions",
                                                         "body": {"model": "m", "messages": [{"role": "user", "content": "x" * 100}]}}


def test_the_report_counts_a_batch_run_at_the_batch_price(tmp_path: Path, corpus: Path, fake_openai, batches) -> None:
    args = ["--idk-ratio", "0", "--no-cache", "--model", "gpt-4o-mini"]
    assert _run(corpus, tmp_path / "online", fake_openai, *args) == 0
    assert _run(corpus, tmp_path / "batch", fake_openai, *args, "--batch") == 0
    online, batch = _report(tmp_path / "online")["cost"], _report(tmp_path / "batch")["cost"]
    assert batch["price"]["input"] == online["price"]["input"] / 2 and "Batch API" in batch["price"]["source"]
    assert abs(batch["spent"] * 2 - online["spent"]) < 1e-5


def test_a_line_over_the_context_window_is_split_and_asked_in_another_batch(tmp_path: Path, fake_openai, batches) -> None:
    from test_context_overflow import (
        FLEET,
        VLLM,
        kind_of,
        passage_of,
        rough_tokens,
        window,
    )

    fake_openai.handler = window(250, VLLM)
    batch_out, online_out = tmp_path / "batch", tmp_path / "online"
    common = ["--base-url", fake_openai.url, "--model", "m", "-q", "--chunk-size", "400", "--chunk-overlap", "0", "--idk-ratio", "0", "--no-cache"]
    assert main([str(FLEET), "-o", str(batch_out), *common, "--batch", "--batch-poll-interval", "0.001"]) == 0
    first, *later = batches.batches.values()
    asked = [_as_request(line["body"]) for line in first.lines]
    refused = [r for r in asked if kind_of(r) == "qa" and rough_tokens(passage_of(r)) > 250]
    assert refused and later  # the halves went in a batch of their own
    report = _report(batch_out)
    assert report["stages"]["generate"]["split"] == len(refused) and not report["chunks_failed"]
    assert main([str(FLEET), "-o", str(online_out), *common]) == 0
    assert output_files(batch_out) == output_files(online_out)


def _as_request(body: dict) -> RecordedRequest:
    """A batch line's body as the chat route would have received it."""
    return RecordedRequest("POST", "/v1/chat/completions", {}, body, time.monotonic())



def test_a_refused_response_format_says_to_turn_structured_output_off(tmp_path: Path, corpus: Path, fake_openai, batches, capsys) -> None:
    fake_openai.honour_response_format = True
    fake_openai.response_formats = ("text",)
    assert _run(corpus, tmp_path / "out", fake_openai, "--batch", "--idk-ratio", "0") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "refused the response_format of a batch line" in err and "--no-structured-output" in err
    assert _run(corpus, tmp_path / "out", fake_openai, "--batch", "--idk-ratio", "0", "--no-structured-output") == 0


def test_starting_over_names_the_batches_it_forgets(tmp_path: Path, corpus: Path, fake_openai, batches, capsys) -> None:
    out = tmp_path / "out"
    fake_openai.inject("GET", "/v1/batches/{batch_id}", error_reply(500, "The server is overloaded."))
    assert _run(corpus, out, fake_openai, "--batch", "--idk-ratio", "0", "--max-attempts", "1") == 1
    capsys.readouterr()
    code = main([str(corpus), "-o", str(out), "--base-url", fake_openai.url, "--model", "m", "--chunk-size", "300",
                 "--batch", "--batch-poll-interval", "0.001", "--idk-ratio", "0", "--restart"])
    assert code == 0
    assert "starting over forgets batches batch_fake1" in capsys.readouterr().err
    assert len(batches.creates) == 2


def test_a_failed_batch_is_retried_then_asked_online(tmp_path: Path, corpus: Path, fake_openai, batches) -> None:
    batches.statuses = ["failed"]
    out = tmp_path / "out"
    assert _run(corpus, out, fake_openai, "--batch", "--idk-ratio", "0", "--no-cache") == 3  # without --batch-retry-online
    report = _report(out)
    assert len(batches.batches) == 3 and report["batch"]["failed"] == report["chunks"] == len(report["chunks_failed"])
    assert any("ended failed: The batch could not be run" in w for w in report["warnings"])
    assert _run(corpus, out, fake_openai, "--batch", "--idk-ratio", "0", "--no-cache", "--batch-retry-online") == 0
    assert len(fake_openai.chat_requests()) == report["chunks"]


def test_the_test_server_cancels_a_batch_with_the_lines_it_reached(fake_openai, batches) -> None:
    import openai

    client = openai.OpenAI(api_key="k", base_url=fake_openai.url, max_retries=0)
    lines = "".join(json.dumps({"custom_id": f"c-{i}", "method": "POST", "url": "/v1/chat/completions",
                                "body": {"model": "m", "messages": [{"role": "user", "content": f"Passage {i} says the ferry leaves at nine."}]}}) + "\n"
                    for i in range(4))
    uploaded = client.files.create(file=("in.jsonl", lines.encode(), "application/jsonl"), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert batch.status == "validating" and batch.request_counts.total == 4
    assert client.batches.cancel(batch.id).status == "cancelling"
    done = client.batches.retrieve(batch.id)
    assert done.status == "cancelled" and done.request_counts.completed == 2 and done.error_file_id is None
    output = [json.loads(line) for line in client.files.content(done.output_file_id).text.splitlines()]
    assert [line["custom_id"] for line in output] == ["c-0", "c-1"]
    assert output[0]["response"]["status_code"] == 200 and output[0]["response"]["body"]["object"] == "chat.completion"
    assert output[0]["error"] is None and output[0]["id"] and output[0]["response"]["request_id"]
