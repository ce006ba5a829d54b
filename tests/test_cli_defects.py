"""The command line's end-of-run verdict, broken pipes and Ctrl-C at start-up, through ``main`` and real processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fake_openai import chat_reply
from helpers import CORPUS, read_jsonl
from qagen.cli import EXIT_NO_EXAMPLES, main

# --------------------------------------------------------------------------- a run that writes no training example


def _server_args(fake_openai, out: Path, *extra: str) -> list[str]:
    return [str(CORPUS), "--base-url", fake_openai.url, "--model", "m", "-o", str(out), "--chunk-size", "300", *extra]


def test_a_run_whose_pairs_are_all_ungrounded_exits_non_zero_and_says_why(tmp_path: Path, fake_openai, capsys) -> None:
    made_up = json.dumps({"question": "What colour is the moon base?", "answer": "The moon base is painted violet."})
    fake_openai.handler = lambda request: chat_reply(made_up)
    out = tmp_path / "out"
    code = main(_server_args(fake_openai, out))
    err = capsys.readouterr().err
    assert code == EXIT_NO_EXAMPLES
    report = json.loads((out / "report.json").read_text())
    pairs = report["pairs_generated"]
    assert pairs == report["chunks"] > 1
    last = err.strip().splitlines()[-1]
    assert last == (
        f"error: no training examples were written because all {pairs} pairs were rejected ({pairs} not_grounded); "
        f"see {out / 'rejects.jsonl'}"
    )
    assert "Traceback" not in err
    # Every file is still written, so the user can look at what went wrong.
    assert len(read_jsonl(out / "rejects.jsonl")) == pairs
    assert read_jsonl(out / "train.jsonl") == [] and read_jsonl(out / "pairs.jsonl") == []
    assert (out / "valid.jsonl").exists()


def test_a_run_whose_replies_give_no_pairs_exits_non_zero_and_says_why(tmp_path: Path, fake_openai, capsys) -> None:
    fake_openai.handler = lambda request: chat_reply("Sorry, I cannot help with that.")
    out = tmp_path / "out"
    code = main(_server_args(fake_openai, out))
    err = capsys.readouterr().err
    assert code == EXIT_NO_EXAMPLES
    replies = len(fake_openai.chat_requests())
    assert replies > 1
    last = err.strip().splitlines()[-1]
    assert last == (
        f"error: no training examples were written because the model's {replies} replies gave no pairs; "
        f"see {out / 'rejects.jsonl'}"
    )
    assert len(read_jsonl(out / "rejects.jsonl")) == replies  # one rejection per unreadable reply
    assert json.loads((out / "report.json").read_text())["train_examples"] == 0


def test_mixed_reasons_are_counted_most_common_first(tmp_path: Path, fake_openai, capsys) -> None:
    made_up = json.dumps({"question": "What colour is the moon base?", "answer": "The moon base is painted violet."})
    not_a_question = json.dumps({"question": "Tell me", "answer": "Tell me"})
    fake_openai.handler = lambda request: chat_reply(made_up + "\n" + made_up.replace("moon", "mars") + "\n" + not_a_question)
    out = tmp_path / "out"
    assert main(_server_args(fake_openai, out, "--idk-ratio", "0")) == EXIT_NO_EXAMPLES
    last = capsys.readouterr().err.strip().splitlines()[-1]
    report = json.loads((out / "report.json").read_text())
    chunks = report["chunks"]
    reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(report["dropped"].items(), key=lambda kv: (-kv[1], kv[0])))
    assert f"because all {3 * chunks} pairs were rejected ({reasons});" in last
    assert report["dropped"]["not_grounded"] == 2 * chunks


def test_a_run_with_training_examples_still_exits_zero(tmp_path: Path, fake_openai, capsys) -> None:
    assert main(_server_args(fake_openai, tmp_path / "out", "--idk-ratio", "0")) == 0
    assert "no training examples" not in capsys.readouterr().err


def test_the_exit_code_for_no_examples_is_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    exit_codes = readme[readme.index("Exit codes:"):].split("\n\n")[0]
    assert f"; {EXIT_NO_EXAMPLES} finished, but wrote no training examples" in " ".join(exit_codes.split())


def test_failed_requests_and_no_examples_say_both_and_exit_as_incomplete(tmp_path: Path, fake_openai, capsys) -> None:
    from fake_openai import error_reply

    fake_openai.handler = lambda request: chat_reply("no pairs here")
    fake_openai.queue(chat_reply("no pairs here"), error_reply(503, "down"), error_reply(503, "down"))
    out = tmp_path / "out"
    args = [str(CORPUS / "fleet.txt"), "--base-url", fake_openai.url, "--model", "m", "-o", str(out),
            "--concurrency", "1", "--max-attempts", "2", "--chunk-size", "300"]
    assert main(args) == 3  # a rerun may fill the dataset, so "ask again" wins over "nothing written"
    err = capsys.readouterr().err.strip().splitlines()
    assert "failed after every retry" in err[-2]
    report = json.loads((out / "report.json").read_text())
    replies = report["chunks"] - 1
    assert replies >= 1 and len(report["chunks_failed"]) == 1
    assert err[-1].startswith(f"error: no training examples were written because the model's {replies} repl")


def test_an_offline_run_whose_examples_are_all_too_long_names_the_reason(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert main([str(CORPUS / "fleet.txt"), "-o", str(out), "-q", "--max-example-tokens", "16"]) == EXIT_NO_EXAMPLES
    last = capsys.readouterr().err.strip().splitlines()[-1]
    reasons = {r["reason"] for r in read_jsonl(out / "rejects.jsonl")}
    assert len(reasons) == 1 and f" {reasons.pop()}); see " in last and "pairs were rejected" in last
