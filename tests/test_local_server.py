"""Runs against a slow local server: a longer default timeout, a note at start, progress lines without a terminal.

A one-request-at-a-time local server with qagen's defaults (8 in flight, 120 s) made 45 requests for
15 chunks: the queued requests timed out, were sent again, and the server worked on for clients that
had given up, while a run logging to a file showed nothing at all.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from fake_openai import error_reply
from helpers import CORPUS
from qagen.cli import main
from qagen.cli.progress import TerminalProgress
from qagen.schema import is_local_endpoint
from qagen.options import GENERATE_OPTIONS, LOCAL_TIMEOUT
from qagen.settings import Settings, resolve


def default(name: str) -> object:
    return GENERATE_OPTIONS[name].default


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:8080/v1", True),
        ("http://localhost:11434/v1", True),
        ("http://[::1]:8000/v1", True),
        ("http://127.0.1.1/v1", True),
        ("https://api.openai.com/v1", False),
        ("http://gpu-box.lan:8000/v1", False),
        (None, False),
    ],
)
def test_local_endpoints_are_recognised(url: str | None, local: bool) -> None:
    assert is_local_endpoint(url) is local


def test_a_local_endpoint_waits_longer_unless_told_otherwise() -> None:
    local = {"base_url": "http://127.0.0.1:8080/v1", "model": "m"}
    assert resolve(Settings, local, env={}, corpus=CORPUS).timeout == LOCAL_TIMEOUT > default("timeout")
    assert resolve(Settings, {**local, "timeout": 30.0}, env={}, corpus=CORPUS).timeout == 30.0
    assert resolve(Settings, local, env={"QAGEN_TIMEOUT": "45"}, corpus=CORPUS).timeout == 45.0
    remote = {"base_url": "https://llm.example.com/v1", "model": "m"}
    assert resolve(Settings, remote, env={}, corpus=CORPUS).timeout == default("timeout")


def test_a_run_against_a_local_server_says_so_in_one_line(tmp_path: Path, fake_openai, capsys) -> None:
    args = [str(CORPUS / "fleet.txt"), "--base-url", fake_openai.url, "--model", "m", "-o", str(tmp_path / "o"), "--idk-ratio", "0"]
    assert main(args) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if "is on this machine" in line]
    assert len(notes) == 1
    assert f"{default('concurrency')} requests at once" in notes[0] and f"{LOCAL_TIMEOUT:g} s" in notes[0]
    assert "--concurrency" in notes[0]

    assert main([*args, "--concurrency", "1"]) == 0  # one at a time already: nothing to say
    assert "is on this machine" not in capsys.readouterr().err


def test_progress_lines_while_retries_pile_up_when_stderr_is_not_a_terminal(tmp_path: Path, fake_openai, capsys) -> None:
    fake_openai.queue(*[error_reply(503, "busy") for _ in range(3)])
    out = tmp_path / "o"
    args = [str(CORPUS / "fleet.txt"), "--base-url", fake_openai.url, "--model", "m", "-o", str(out), "--idk-ratio", "0",
            "--concurrency", "1", "--max-attempts", "6"]
    assert main(args) == 0
    err = capsys.readouterr().err  # capsys's stderr is no terminal
    assert "\r" not in err
    lines = [line for line in err.splitlines() if line.startswith("qagen: ") and " chunks, " in line]
    assert lines, err
    assert "1 retries (last: HTTP 503" in lines[0]  # the first retry is told at once
    assert lines[-1].startswith("qagen: 2/2 chunks") and "3 retries" in lines[-1]

    # -q keeps stderr quiet.
    fake_openai.queue(error_reply(503, "busy"))
    assert main([*args, "-q", "--restart"]) == 0
    assert " chunks, " not in capsys.readouterr().err


def test_plain_lines_follow_the_interval_and_never_draw_on_a_terminal() -> None:
    stream = io.StringIO()
    progress = TerminalProgress(stream, draw_bar=False, plain_interval=0.0)
    progress.start(total=3, already_done=0)
    progress.chunk_done(pairs=2, tokens_in=10, tokens_out=5)
    progress.retry("timeout", 1.5)
    progress.chunk_failed("c", "timeout")
    progress.finish()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "qagen: 1/3 chunks, 2 pairs, 0 retries"
    assert "1 retries (last: timeout, next try in 1.5 s)" in lines[1]
    assert lines[-1].endswith("1 failed") and len(lines) == 4

    quiet_run = io.StringIO()
    progress = TerminalProgress(quiet_run, draw_bar=False, plain_interval=3600.0)
    progress.start(total=1, already_done=0)
    progress.chunk_done(pairs=1, tokens_in=1, tokens_out=1)
    progress.finish()
    assert quiet_run.getvalue() == ""  # a quick run with nothing retried prints no line

    terminal = io.StringIO()
    progress = TerminalProgress(terminal, draw_bar=True, plain_interval=0.0)
    progress.start(total=1, already_done=0)
    progress.retry("timeout", 1.0)
    progress.finish()
    assert "qagen: " not in terminal.getvalue() and "\r" in terminal.getvalue()
