"""The command line's end-of-run verdict, broken pipes and Ctrl-C at start-up, through ``main`` and real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from fake_openai import chat_reply, grounded_pairs_reply
from helpers import CORPUS, REPO, read_jsonl
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


# --------------------------------------------------------------------------- the edges of the process: pipes and Ctrl-C

EXIT_BROKEN_PIPE = 141  # what a shell reports for a program stopped by SIGPIPE: `seq 1e6 | head -1`


def _big_invalid_file(tmp_path: Path) -> Path:
    """A chat file whose report, with every problem listed, is far bigger than a pipe's buffer."""
    path = tmp_path / "big.jsonl"
    path.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"q{i}"}]}) + "\n" for i in range(3000)))
    return path


def _qagen(*args: str) -> list[str]:
    return [sys.executable, "-m", "qagen", *args]


def _run_into_a_closed_pipe(command: list[str], cwd: Path, *, buffered: bool) -> subprocess.CompletedProcess[str]:
    """Run with stdout a pipe whose reader has already gone, as `| head -1` leaves it after one line.

    Buffered (Python's default for a pipe), the failure comes when the buffer is flushed; unbuffered
    (PYTHONUNBUFFERED), at the first write.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"} | ({} if buffered else {"PYTHONUNBUFFERED": "1"})
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(command, stdout=write, stderr=subprocess.PIPE, text=True, cwd=cwd, env=env, check=False)
    finally:
        os.close(write)


@pytest.mark.parametrize("buffered", [True, False], ids=["buffered", "unbuffered"])
@pytest.mark.parametrize("args", [["--help"], ["--version"], ["validate", "--help"], ["validate", "BIG", "--max-lines", "100000"]])
def test_output_into_a_closed_pipe_ends_quietly(tmp_path: Path, args: list[str], buffered: bool) -> None:
    args = [str(_big_invalid_file(tmp_path)) if a == "BIG" else a for a in args]
    done = _run_into_a_closed_pipe(_qagen(*args), tmp_path, buffered=buffered)
    assert done.stderr == ""  # no traceback, no "Exception ignored ... BrokenPipeError"
    # Whatever the size of the text and the buffering: --help and --version too (argparse would ignore the failure).
    assert done.returncode == EXIT_BROKEN_PIPE


@pytest.mark.parametrize("buffered", [True, False], ids=["buffered", "unbuffered"])
def test_a_run_whose_summary_meets_a_closed_pipe_still_writes_its_files(tmp_path: Path, buffered: bool) -> None:
    out = tmp_path / "out"
    done = _run_into_a_closed_pipe(_qagen(str(CORPUS / "fleet.txt"), "-q", "-o", str(out)), tmp_path, buffered=buffered)
    assert done.stderr == "" and done.returncode == EXIT_BROKEN_PIPE
    assert read_jsonl(out / "train.jsonl") and json.loads((out / "report.json").read_text())["train_examples"] > 0


def test_argparse_exits_become_return_codes_of_main(capsys) -> None:
    assert main(["--help"]) == 0 and "usage: qagen" in capsys.readouterr().out
    assert main(["validate", "x.jsonl", "--no-such-flag"]) == 2 and "unrecognized arguments" in capsys.readouterr().err


def test_the_exit_code_for_a_closed_pipe_is_in_the_readme() -> None:
    from qagen.cli import EXIT_BROKEN_PIPE as code

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    exit_codes = " ".join(readme[readme.index("Exit codes:"):].split("\n\n")[0].split())
    assert code == EXIT_BROKEN_PIPE and f"; {code} the output was piped into a program that stopped reading" in exit_codes


def test_validate_piped_into_head(tmp_path: Path) -> None:
    big = _big_invalid_file(tmp_path)
    script = f"{' '.join(_qagen('validate', str(big), '--max-lines', '100000'))} 2>err.txt | head -1; echo \"${{PIPESTATUS[0]}}\" >status.txt"
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert done.stdout.startswith(f"{big}: chat format, 3000 examples")
    assert (tmp_path / "err.txt").read_text() == ""
    assert (tmp_path / "status.txt").read_text().strip() in {"0", str(EXIT_BROKEN_PIPE)}  # 0 when head read it all


# A sitecustomize that puts a finder in front of the import system; it sends its own process a SIGINT
# when TEST_INTERRUPT_AT is about to be imported for the first time: a Ctrl-C that lands in
# start-up, at a chosen place, before or after main's error boundary exists.
_INTERRUPTING_SITECUSTOMIZE = """
import importlib.abc, os, signal, sys

class InterruptWhileImporting(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        marker = os.environ["TEST_INTERRUPT_MARKER"]
        if name == os.environ["TEST_INTERRUPT_AT"] and not os.path.exists(marker):
            open(marker, "w").close()
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, InterruptWhileImporting())
"""


def _console_script() -> list[str]:
    """The console script as pip writes it: from MODULE import NAME; sys.exit(NAME())."""
    module, name = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]["qagen"].split(":")
    return [sys.executable, "-c", f"import sys\nfrom {module} import {name}\nsys.argv[0] = 'qagen'\nsys.exit({name}())"]


@pytest.mark.parametrize("how", ["python -m qagen", "console script"])
@pytest.mark.parametrize("module, args", [
    ("qagen.cli", ["CORPUS"]),
    ("argparse", ["CORPUS"]),
    ("qagen.settings", ["CORPUS"]),
    ("qagen.cli.generate", ["CORPUS"]),
    ("qagen.cli.validate", ["validate", "BIG"]),
    ("qagen.dataset.validate", ["validate", "BIG"]),
    ("qagen.pipeline.runner", ["CORPUS"]),
])
def test_ctrl_c_during_start_up_is_one_line_and_exit_130(tmp_path: Path, how: str, module: str, args: list[str]) -> None:
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(_INTERRUPTING_SITECUSTOMIZE)
    marker = tmp_path / "interrupted"
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(REPO), str(hooks)]),
                        "TEST_INTERRUPT_AT": module, "TEST_INTERRUPT_MARKER": str(marker)}
    given = {"CORPUS": str(CORPUS / "fleet.txt"), "BIG": str(_big_invalid_file(tmp_path))}
    argv = [given.get(a, a) for a in args] + ([] if args[0] == "validate" else ["-o", str(tmp_path / "out")])
    command = _qagen(*argv) if how == "python -m qagen" else _console_script() + argv
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, check=False)
    assert marker.exists(), f"{module} was never imported, so nothing was interrupted"
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("interrupted"), done.stderr
    assert done.returncode == 130
    assert done.stdout == ""


def test_ctrl_c_at_moments_of_start_up_never_shows_a_traceback_from_qagen(tmp_path: Path) -> None:
    """A real SIGINT, sent as soon as the process exists and then a little later each time.

    Python's own start-up (site, runpy) and ``import qagen`` come before qagen's entry code and stay
    unguarded (a traceback there names no file of qagen's command line). From ``qagen.__main__`` on, a
    Ctrl-C is one line and 130. A process may also end by the signal itself (-SIGINT, which a shell shows
    as 130 too): before Python has set up its handler, or when CPython 3.11 marks the interrupt as
    unhandled because it landed inside a string ``exec`` (as dataclasses use). The delays only spread
    the signal over start-up; nothing is asserted about time.
    """
    entry_code = (str(REPO / "qagen" / "__main__.py"), str(REPO / "qagen" / "cli"))
    for step in range(16):
        process = subprocess.Popen(_qagen(str(CORPUS / "fleet.txt"), "-q", "-o", str(tmp_path / "out")),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
        time.sleep(step * 0.004)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate()
        if "Traceback" in err:
            assert not any(path in err for path in entry_code), err
            continue
        assert process.returncode in {0, 130, -signal.SIGINT}, (process.returncode, err)
        assert len(err.strip().splitlines()) <= 1, err


# --------------------------------------------------------------------------- promises pinned: the idk check and the judge

IDK_UNREADABLE = "Who painted the portrait in the Harbour House boardroom?"  # the corpus does not answer either
IDK_READABLE = "What brand of coffee does the Scarth Pier kiosk sell?"


@pytest.mark.parametrize("unreadable", [
    "Maybe; it is hard to say.",
    "",
    '{"answered": true}\n{"answered": false}',
    '{"reason": "no verdict here"}',
    '{"answered": tru',
])
def test_an_unreadable_idk_check_counts_as_answered(tmp_path: Path, fake_openai, unreadable: str) -> None:
    from qagen.replies.questions import parse_check

    assert parse_check(unreadable) is None  # the premise: this reply says neither yes nor no

    def model(request):
        system = request.messages[0]["content"]
        if system.startswith("You write questions for training an assistant to say"):
            return chat_reply("\n".join(json.dumps({"question": q}) for q in (IDK_UNREADABLE, IDK_READABLE)))
        if system.startswith("You check whether passages"):
            if IDK_UNREADABLE in request.last_user_text:
                return chat_reply(unreadable)
            return chat_reply(json.dumps({"answered": False, "reason": "scripted"}))
        return grounded_pairs_reply(request, 3)

    fake_openai.handler = model
    out = tmp_path / "out"
    assert main([str(CORPUS), "--base-url", fake_openai.url, "--model", "m", "-o", str(out), "-q", "--idk-ratio", "0.05"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["stages"]["idk"]["target"] >= 2  # room for both: only the check decides
    idk = [p["question"] for p in read_jsonl(out / "pairs.jsonl") if p["kind"] == "idk"]
    assert idk == [IDK_READABLE]  # a readable "not answered" is kept, an unreadable one is not
    dropped = {r["raw"]: r["reason"] for r in read_jsonl(out / "rejects.jsonl") if r["stage"] == "idk"}
    assert dropped[IDK_UNREADABLE] == "check_unreadable"
    assert report["stages"]["idk"]["dropped"]["check_unreadable"] == 1


@pytest.mark.parametrize("threshold", [2, 4, 5])
def test_the_judge_keeps_pairs_rated_at_or_above_the_threshold(tmp_path: Path, fake_openai, threshold: int) -> None:
    # One pair rated just below the threshold, one exactly at it, one above it (or at it, for 5).
    scores = {"p1": threshold - 1, "p2": threshold, "p3": min(5, threshold + 1)}
    rated: dict[str, int] = {}  # answer -> the score the judge gave it

    def model(request):
        if request.messages[0]["content"].startswith("You check question and answer pairs"):
            rows = [json.loads(line) for line in request.last_user_text.splitlines() if line.startswith('{"id"')]
            rated.update({row["answer"]: scores[row["id"]] for row in rows})
            return chat_reply("\n".join(json.dumps({"id": row["id"], "score": scores[row["id"]], "reason": "scripted"}) for row in rows))
        return grounded_pairs_reply(request, 3)

    fake_openai.handler = model
    out = tmp_path / "out"
    args = [str(CORPUS / "fleet.txt"), "--base-url", fake_openai.url, "--model", "m", "-o", str(out), "-q",
            "--chunk-size", "2000", "--idk-ratio", "0", "--judge", "--judge-threshold", str(threshold)]
    assert main(args) == 0
    assert sorted(rated.values()) == sorted(scores.values())  # every pair was shown to the judge
    kept = {p["answer"] for p in read_jsonl(out / "pairs.jsonl")}
    assert kept == {answer for answer, score in rated.items() if score >= threshold} and len(kept) == 2
    low = [r for r in read_jsonl(out / "rejects.jsonl") if r["reason"] == "judge_low_score"]
    below = next(answer for answer, score in rated.items() if score < threshold)
    assert len(low) == 1 and json.loads(low[0]["raw"])["answer"] == below and f"rated {threshold - 1}/5 (threshold {threshold})" in low[0]["detail"]
