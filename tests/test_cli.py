"""qagen end to end through ``main(argv)``: the offline run and runs against the fake server."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import socket
from pathlib import Path

import pytest

from fake_openai import Reply, chat_reply, error_reply, grounded_pairs_reply
from helpers import CORPUS, normalise_space, output_files, read_jsonl
from qagen.cli import main
from qagen.quality.grounding import is_supported, lexical_support
from qagen.options import DEFAULT_REFUSALS


def test_offline_run_writes_a_grounded_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main([str(CORPUS), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "offline generator" in captured.err  # the one-line notice
    assert "OPENAI_API_KEY" in captured.err
    assert "pairs" in captured.out and "train" in captured.out  # the summary

    report = json.loads((out / "report.json").read_text())
    pairs = read_jsonl(out / "pairs.jsonl")
    assert report["offline"] is True
    assert report["files_read"] >= 6 and report["chunks"] > report["files_read"]  # a long file needs several chunks
    assert report["pairs_kept"] == len(pairs) > 0
    assert all(c["status"] == "answered" for c in report["coverage"])

    # Every grounded answer is made of its source file's words: a sentence of it, or a list or label
    # line restated with its heading ("The length of MV Corrie Dawn is 46.2 m."). Grounded by construction.
    grounded = [p for p in pairs if p["kind"] == "grounded"]
    for pair in grounded:
        text = (CORPUS / pair["source"]).read_text(encoding="utf-8")
        assert is_supported(lexical_support(pair["answer"], text)), pair
        words = set(re.findall(r"\w+", text.casefold())) | {"the", "of", "is", "are", "was", "in", "on", "for", "by"}
        assert set(re.findall(r"\w+", pair["answer"].casefold())) <= words, pair
        assert pair["chunk_id"]
    source_text = normalise_space(" ".join(p.read_text(encoding="utf-8") for p in CORPUS.rglob("*.*")))
    assert sum(normalise_space(p["answer"]).rstrip(".") in source_text for p in grounded) > len(grounded) / 2
    idk = [p for p in pairs if p["kind"] == "idk"]
    assert report["stages"]["idk"]["target"] == round(report["stages"]["dedupe"]["out"] * 0.1)
    assert 0 < len(idk) <= report["stages"]["idk"]["target"]
    assert all(p["answer"] in DEFAULT_REFUSALS and p["question"].endswith("?") for p in idk)

    train = read_jsonl(out / "train.jsonl")
    valid = read_jsonl(out / "valid.jsonl")
    assert len(train) + len(valid) == len(pairs)
    assert len(valid) >= 1
    for example in train + valid:
        roles = [m["role"] for m in example["messages"]]
        assert roles == ["system", "user", "assistant"]


def test_offline_run_is_deterministic(tmp_path: Path) -> None:
    assert main([str(CORPUS), "-o", str(tmp_path / "a"), "-q"]) == 0
    assert main([str(CORPUS), "-o", str(tmp_path / "b"), "-q", "--model", "offline"]) == 0
    assert output_files(tmp_path / "a") == output_files(tmp_path / "b")


def test_against_a_server_every_chunk_is_asked_once_for_n_pairs(tmp_path: Path, fake_openai, capsys) -> None:
    out = tmp_path / "out"
    code = main([str(CORPUS), "--base-url", fake_openai.url, "--model", "test-model", "-n", "3", "-o", str(out), "--idk-ratio", "0"])
    assert code == 0, capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    requests = fake_openai.chat_requests()
    assert len(requests) == report["chunks"]
    passages = [r.last_user_text for r in requests]
    assert len(set(passages)) == len(passages)  # no chunk asked twice
    assert all("Write 3 question and answer pairs" in text for text in passages)
    assert all(r.model == "test-model" for r in requests)
    assert "authorization" in requests[0].headers  # a placeholder key: the user need not invent one
    assert report["offline"] is False and report["requests"] == report["chunks"]
    assert report["tokens_in"] > 0 and report["tokens_out"] > 0
    assert all(c["asked"] == 3 and c["generated"] == 3 for c in report["coverage"])
    assert report["pairs_kept"] == len(read_jsonl(out / "pairs.jsonl")) > 0


def test_rate_limit_retry_after_is_honoured(tmp_path: Path, fake_openai) -> None:
    fake_openai.queue(error_reply(429, "Rate limit reached", headers={"retry-after": "1"}))
    code = main([str(CORPUS / "fleet.txt"), "--base-url", fake_openai.url, "--model", "m", "--idk-ratio", "0", "-o", str(tmp_path / "o"), "--concurrency", "1"])
    assert code == 0
    first, second = fake_openai.chat_requests()[:2]
    assert second.time - first.time >= 0.95  # waited as the server asked
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["retries"] == 1


@pytest.mark.parametrize("fault", [
    error_reply(500, "boom"),
    error_reply(503, "overloaded"),
    Reply(truncate=True, json={"object": "chat.completion", "choices": [], "padding": "x" * 200}),
    Reply(drop=True),
    Reply(body=b'{"id": "x", "choices": [', headers={"content-type": "application/json"}),
])
def test_transient_faults_are_retried_then_succeed(tmp_path: Path, fake_openai, fault: Reply) -> None:
    fake_openai.queue(fault, fault)
    out = tmp_path / "o"
    assert main([str(CORPUS / "fleet.txt"), "--base-url", fake_openai.url, "--model", "m", "--idk-ratio", "0", "-o", str(out), "--concurrency", "1"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["retries"] == 2
    assert not report["chunks_failed"]
    assert len(fake_openai.chat_requests()) == report["chunks"] + 2


def test_a_chunk_that_keeps_failing_is_reported_and_asked_again_on_rerun(tmp_path: Path, fake_openai, capsys) -> None:
    out = tmp_path / "o"
    args = [str(CORPUS / "fleet.txt"), "--base-url", fake_openai.url, "--model", "m", "--idk-ratio", "0", "-o", str(out),
            "--concurrency", "1", "--max-attempts", "2", "--chunk-size", "300"]
    fake_openai.queue(lambda request: grounded_pairs_reply(request, 3), error_reply(503, "down"), error_reply(503, "down"))
    assert main(args) == 3
    err = capsys.readouterr().err
    assert "failed after every retry" in err and "run the same command again" in err
    report = json.loads((out / "report.json").read_text())
    assert len(report["chunks_failed"]) == 1
    assert any(r["reason"] == "request_failed" for r in read_jsonl(out / "rejects.jsonl"))
    before = len(fake_openai.chat_requests())
    assert main(args) == 0
    assert len(fake_openai.chat_requests()) == before + 1  # only the failed chunk is asked again


def test_an_endpoint_that_is_down_stops_the_run_after_the_first_request(tmp_path: Path, capsys) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = [str(CORPUS), "--base-url", f"http://127.0.0.1:{port}/v1", "--model", "m", "-o", str(tmp_path / "o"), "--max-attempts", "2"]
    assert main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and "connection error" in err[-1] and "server is running" in err[-1]
    assert not (tmp_path / "o" / "report.json").exists()


@pytest.mark.parametrize("status, words", [
    (401, "OPENAI_API_KEY"),
    (403, "refused access"),
    (404, "check --model"),
    (400, "rejected the request"),
])
def test_errors_no_retry_can_fix_stop_at_once(tmp_path: Path, fake_openai, capsys, status: int, words: str) -> None:
    fake_openai.handler = lambda request: error_reply(status, "nope sk-abcdefghijklmnop1234")
    code = main([str(CORPUS), "--base-url", fake_openai.url, "--model", "m", "--idk-ratio", "0", "-o", str(tmp_path / "o"), "--concurrency", "2"])
    err = capsys.readouterr().err
    assert code == 1
    assert len(fake_openai.chat_requests()) == 1  # no retries, and nothing sent after it
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1].startswith("error: ") and words in lines[-1]
    assert "Traceback" not in err
    assert "abcdefghijklmnop1234" not in err  # anything that looks like a key is masked


def test_bad_key_is_a_clear_error_and_never_written(tmp_path: Path, fake_openai, capsys, monkeypatch) -> None:
    fake_openai.api_key = "sk-right-key-000000"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-123456789")
    out = tmp_path / "o"
    assert main([str(CORPUS), "--base-url", fake_openai.url, "--model", "m", "--idk-ratio", "0", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "rejected the API key" in err and "sk-wrong-key-123456789" not in err
    assert len(fake_openai.chat_requests()) == 1
    for path in out.rglob("*"):
        if path.is_file():
            assert "sk-wrong-key" not in path.read_text(encoding="utf-8")


def test_unknown_model_names_the_model(tmp_path: Path, fake_openai, capsys) -> None:
    fake_openai.models = ["known-model"]
    assert main([str(CORPUS), "--base-url", fake_openai.url, "--model", "nosuch", "-o", str(tmp_path / "o")]) == 1
    assert "model nosuch was not found" in capsys.readouterr().err


def test_malformed_and_truncated_replies_land_in_rejects(tmp_path: Path, fake_openai) -> None:
    good = '{"question": "Who runs the fleet?", "answer": "The cooperative runs the fleet."}'
    fake_openai.handler = lambda request: chat_reply("Sure! Here you go:\n{not json at all}\nthanks")
    fake_openai.queue(
        chat_reply(good + '\n{"question": "What is the top speed?", "answer": "The top spe', finish_reason="length"),
        chat_reply(""),
    )
    out = tmp_path / "o"
    args = [str(CORPUS / "history.md"), "--base-url", fake_openai.url, "--model", "m", "--idk-ratio", "0", "-o", str(out), "--concurrency", "1", "--chunk-size", "300"]
    assert main(args) == 0
    rejects = read_jsonl(out / "rejects.jsonl")
    reasons = {r["reason"] for r in rejects}
    assert "truncated_item" in reasons
    assert "empty_reply" in reasons
    assert "malformed_json" in reasons or "no_pairs_found" in reasons
    assert all(r["chunk_id"] and r["source"] == "history.md" for r in rejects)
    truncated = next(r for r in rejects if r["reason"] == "truncated_item")
    assert "The top spe" in truncated["raw"]
    pairs = read_jsonl(out / "pairs.jsonl")
    assert [p["question"] for p in pairs] == ["Who runs the fleet?"]  # the complete item is kept
    report = json.loads((out / "report.json").read_text())
    assert report["coverage"][0]["truncated"] is True
    # every chunk that yielded nothing is visible in the report, never silently dropped
    assert all(c["generated"] == 0 for c in report["coverage"][1:])
    assert sum(report["dropped"].values()) == len(rejects)


def test_bounded_concurrency(tmp_path: Path, fake_openai) -> None:
    fake_openai.latency = 0.2
    assert main([str(CORPUS), "--base-url", fake_openai.url, "--model", "m", "--idk-ratio", "0", "-o", str(tmp_path / "o"), "--concurrency", "3", "--chunk-size", "200"]) == 0
    assert fake_openai.max_in_flight == 3


def test_completion_format(tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert main([str(CORPUS), "-o", str(out), "-q", "--format", "completion", "--separator", " ->", "--stop", "\n"]) == 0
    rows = read_jsonl(out / "train.jsonl")
    assert rows and all(set(r) == {"prompt", "completion"} for r in rows)
    assert all(r["prompt"].endswith(" ->") and r["completion"].startswith(" ") and r["completion"].endswith("\n") for r in rows)


def test_no_system_message(tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert main([str(CORPUS), "-o", str(out), "-q", "--no-system"]) == 0
    assert all([m["role"] for m in r["messages"]] == ["user", "assistant"] for r in read_jsonl(out / "train.jsonl"))


def test_document_text_is_data_not_a_template(tmp_path: Path, fake_openai) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    text = "The gate code is {{ secret }} and {% raw %} stays {% endraw %} literal. The office opens at 9."
    (docs / "odd.md").write_text(text, encoding="utf-8")
    assert main([str(docs), "--base-url", fake_openai.url, "--model", "m", "--idk-ratio", "0", "-o", str(tmp_path / "o")]) == 0
    assert text in fake_openai.chat_requests()[0].last_user_text


def test_missing_folder_is_one_error_line(tmp_path: Path, capsys) -> None:
    assert main([str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "nope" in err[0]


def test_folder_with_nothing_usable(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty.txt").write_text("  \n")
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01\x02" * 100)
    assert main([str(tmp_path), "-o", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "error: " in err and "Traceback" not in err


def test_odd_files_are_skipped_or_decoded_and_reported(tmp_path: Path, capsys) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "utf16.txt").write_text("The Harbour Board meets on the first Monday of each month in Calder Hall.", encoding="utf-16")
    (docs / "latin1.txt").write_bytes("The café on Pier 3 opened in 1998 and serves crème brûlée daily.".encode("latin-1"))
    (docs / "empty.md").write_text("")
    (docs / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    assert main([str(docs), "-o", str(tmp_path / "o")]) == 0
    captured = capsys.readouterr()
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["files_read"] == 2
    assert {s["source"] for s in report["files_skipped"]} == {"empty.md", "image.png"}
    assert any("latin1.txt" in w for w in report["warnings"])
    assert "latin1.txt" in captured.err
    answers = " ".join(p["answer"] for p in read_jsonl(tmp_path / "o" / "pairs.jsonl"))
    assert "Calder Hall" in answers and "café" in answers


def test_broken_template_names_the_file(tmp_path: Path, capsys) -> None:
    template = tmp_path / "mine.json"
    template.write_text('{"messages": [{"role": "user", "content": "{{ info "}]}')
    assert main([str(CORPUS), "--template", str(template), "-o", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "mine.json" in err and "Traceback" not in err


def test_template_without_the_passage_is_refused(tmp_path: Path, capsys) -> None:
    template = tmp_path / "t.json"
    template.write_text('{"messages": [{"role": "user", "content": "Write {{ n }} pairs."}]}')
    assert main([str(CORPUS), "--template", str(template), "-o", str(tmp_path / "o")]) == 1
    assert "{{ info }}" in capsys.readouterr().err


def test_a_model_without_key_or_endpoint_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert main([str(CORPUS), "--model", "gpt-4o-mini", "-o", str(tmp_path / "o")]) == 2
    assert "OPENAI_API_KEY" in capsys.readouterr().err


def test_bad_flag_values(tmp_path: Path, capsys) -> None:
    assert main([str(CORPUS), "-n", "0"]) == 2
    assert main([str(CORPUS), "--chunk-size", "100", "--chunk-overlap", "100"]) == 2
    err = capsys.readouterr().err
    assert "--pairs-per-chunk must be at least 1 and at most 100 (got '0')" in err and "--chunk-overlap must be below" in err


def test_file_name_that_is_not_utf8_still_gives_valid_output(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    name = os.fsdecode(b"caf\xe9-notes.txt")  # a latin-1 file name on a UTF-8 system
    (docs / name).write_text("The Kellimore ticket office at Scarth Pier opens at 07:00 every day of the year.", encoding="utf-8")
    assert main([str(docs), "-o", str(tmp_path / "o"), "-q"]) == 0
    pairs = read_jsonl(tmp_path / "o" / "pairs.jsonl")
    assert pairs and pairs[0]["source"] == "caf\ufffd-notes.txt"


def test_spent_rate_limit_window_is_waited_out_before_a_429(tmp_path: Path, fake_openai) -> None:
    spent = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1s",
             "x-ratelimit-remaining-tokens": "90000", "x-ratelimit-reset-tokens": "6m0s"}
    fake_openai.queue(lambda request: dataclasses.replace(grounded_pairs_reply(request, 3), headers=spent))
    args = [str(CORPUS / "fleet.txt"), "--base-url", fake_openai.url, "--model", "m", "--idk-ratio", "0",
            "-o", str(tmp_path / "o"), "--concurrency", "4", "--chunk-size", "300", "-q"]
    assert main(args) == 0
    first, *rest = fake_openai.chat_requests()
    assert rest and all(r.time - first.time >= 0.95 for r in rest)  # nobody sent until the window reset
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["retries"] == 0  # paced, not refused


def test_rate_limit_reset_header_forms() -> None:
    from qagen.llm.client import parse_reset, window_spent_for

    assert parse_reset("1s") == 1.0 and parse_reset("20ms") == 0.02 and parse_reset("6m0s") == 360.0
    assert parse_reset("1h2m3.5s") == 3723.5 and parse_reset("2.5") == 2.5 and parse_reset("soon") is None
    assert window_spent_for({"x-ratelimit-remaining-requests": "5", "x-ratelimit-remaining-tokens": "100000"}, 3000) == 0.0
    assert window_spent_for({"x-ratelimit-remaining-tokens": "1000", "x-ratelimit-reset-tokens": "2s"}, 3000) == 2.0
    assert window_spent_for({}, 3000) == 0.0
