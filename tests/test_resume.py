"""An interrupted run, started again with the same command, ends as if it had never stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from fake_openai import grounded_pairs_reply
from helpers import CORPUS, output_files, read_jsonl, small_tmpfs
from qagen.cli import main


def _start(args: list[str]) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "QAGEN_"))}
    return subprocess.Popen(
        [sys.executable, "-m", "qagen", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def _hang_after(server, answered: int) -> tuple[threading.Event, threading.Event]:
    """Answer ``answered`` requests normally, then hold every later one until released."""
    reached, release = threading.Event(), threading.Event()
    count = {"n": 0}

    def handler(request):
        count["n"] += 1
        if count["n"] > answered:
            reached.set()
            release.wait()  # the test always releases (in a finally), so no timer decides the outcome
        return grounded_pairs_reply(request, 3)

    server.handler = handler
    return reached, release


@pytest.mark.parametrize("how", ["kill", "interrupt"])
def test_interrupted_run_resumes_to_the_same_output(tmp_path: Path, fake_openai, how: str) -> None:
    # --no-cache: the journal alone must resume the run (the call cache would answer it from the reference run).
    args = ["--base-url", fake_openai.url, "--model", "m", "--idk-ratio", "0", "--concurrency", "2", "--chunk-size", "300", "--no-cache"]
    # The reference: one uninterrupted run.
    assert main([str(CORPUS), "-o", str(tmp_path / "whole"), "-q", *args]) == 0
    total = len(fake_openai.chat_requests())
    assert total >= 6
    fake_openai.requests.clear()

    reached, release = _hang_after(fake_openai, answered=3)
    try:
        proc = _start([str(CORPUS), "-o", str(tmp_path / "split"), *args])
        while not reached.wait(0.05):  # until a fourth request is held, or the run has ended
            assert proc.poll() is None, proc.communicate()
        journal = tmp_path / "split" / ".qagen" / "journal.jsonl"
        while _lines(journal) < 3 and proc.poll() is None:  # the third answer may still be on its way
            time.sleep(0.02)
        if how == "kill":
            proc.kill()  # SIGKILL: no cleanup at all
            proc.communicate(timeout=60)  # guards against a hang, measures nothing
        else:
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 130
            assert "run the same command again" in err and "Traceback" not in err
    finally:
        release.set()
    answered_first = [json.loads(line)["key"] for line in journal.read_text().splitlines()]
    assert len(answered_first) == 3
    first_passages = {r.last_user_text for r in fake_openai.chat_requests()[:3]}

    fake_openai.requests.clear()
    fake_openai.handler = lambda request: grounded_pairs_reply(request, 3)
    assert main([str(CORPUS), "-o", str(tmp_path / "split"), "-q", *args]) == 0
    second = fake_openai.chat_requests()
    assert len(second) == total - 3  # answered chunks are not asked again
    assert not first_passages & {r.last_user_text for r in second}
    assert output_files(tmp_path / "split") == output_files(tmp_path / "whole")
    report = json.loads((tmp_path / "split" / "report.json").read_text())
    assert report["chunks_resumed"] == 3


def test_torn_journal_line_is_discarded_and_that_chunk_asked_again(tmp_path: Path, fake_openai) -> None:
    out = tmp_path / "o"
    args = [str(CORPUS / "history.md"), "--base-url", fake_openai.url, "--model", "m", "--idk-ratio", "0", "-o", str(out), "-q", "--chunk-size", "300", "--no-cache"]
    assert main(args) == 0
    whole = output_files(out)
    journal = out / ".qagen" / "journal.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    # A crash in the middle of writing the last line.
    journal.write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])
    (out / "pairs.jsonl").unlink()
    fake_openai.requests.clear()
    assert main(args) == 0
    assert len(fake_openai.chat_requests()) == 1
    assert output_files(out) == whole
    assert len(journal.read_text().splitlines()) == len(lines)


def test_rerun_with_results_changing_settings_is_refused(tmp_path: Path, capsys) -> None:
    out = tmp_path / "o"
    assert main([str(CORPUS), "-o", str(out), "-q"]) == 0
    capsys.readouterr()
    assert main([str(CORPUS), "-o", str(out), "-q", "-n", "2"]) == 1
    err = capsys.readouterr().err
    assert "different settings" in err and "pairs_per_chunk" in err and "--restart" in err
    assert main([str(CORPUS), "-o", str(out), "-q", "-n", "2", "--restart"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert all(c["asked"] == 2 for c in report["coverage"])


def test_output_only_settings_just_rewrite_the_dataset(tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert main([str(CORPUS), "-o", str(out), "-q"]) == 0
    assert main([str(CORPUS), "-o", str(out), "-q", "--format", "completion"]) == 0
    assert "prompt" in read_jsonl(out / "train.jsonl")[0]


def test_out_folder_with_foreign_files_is_refused(tmp_path: Path, capsys) -> None:
    out = tmp_path / "o"
    out.mkdir()
    (out / "thesis.docx").write_bytes(b"mine")
    assert main([str(CORPUS), "-o", str(out), "-q"]) == 1
    assert "did not write" in capsys.readouterr().err
    assert (out / "thesis.docx").read_bytes() == b"mine"


@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A 48 KiB filesystem, so writes really fail with 'No space left on device' (needs root: skipped otherwise)."""
    with small_tmpfs(tmp_path / "tiny", "48k") as mount_point:
        yield mount_point


def test_full_disk_is_one_error_and_a_rerun_after_freeing_space_loses_nothing(tmp_path: Path, tiny_disk: Path, capsys) -> None:
    assert main([str(CORPUS), "-o", str(tmp_path / "whole"), "-q"]) == 0
    out = tiny_disk / "out"
    assert main([str(CORPUS), "-o", str(out), "-q"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and "No space left on device" in err[-1] and "Traceback" not in "\n".join(err)
    # Nothing half-written is left for a rerun to trust: no temp files, no partial set of outputs,
    # every journal line whole.
    assert not list(out.glob(".*.tmp-*"))
    assert not [name for name in ("pairs.jsonl", "train.jsonl", "report.json") if (out / name).exists()]
    journal = out / ".qagen" / "journal.jsonl"
    if journal.exists():
        text = journal.read_text()
        lines = text.splitlines()
        for line in lines[:-1]:
            json.loads(line)
    # Make room, run the same command again: the result equals an uninterrupted run.
    subprocess.run(["mount", "-o", "remount,size=4m", str(tiny_disk)], check=True)
    assert main([str(CORPUS), "-o", str(out), "-q"]) == 0
    assert output_files(out) == output_files(tmp_path / "whole")
