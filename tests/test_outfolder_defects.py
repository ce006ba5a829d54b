"""The out folder keeps what was paid for: one process at a time, and no half-written dataset."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fake_openai import FakeOpenAI, grounded_pairs_reply
from helpers import CORPUS, output_files, read_jsonl
from qagen.cli import main
from qagen.outfolder.lock import FolderLock
from test_resume import _hang_after, _start

EXIT_FOLDER_IN_USE = 4


def _endpoint(fake_openai) -> list[str]:
    return ["--base-url", fake_openai.url, "--model", "m", "--idk-ratio", "0", "--chunk-size", "300"]


# --------------------------------------------------------------------------- defect 4: two processes, one folder


def test_a_second_run_on_a_busy_folder_stops_and_names_the_first(tmp_path: Path, fake_openai, capsys) -> None:
    out = tmp_path / "o"
    reached, release = _hang_after(fake_openai, answered=2)
    first = _start([str(CORPUS), "-o", str(out), *_endpoint(fake_openai)])
    # The second run talks to a server that answers at once: one that did not stop would do the whole job.
    other = FakeOpenAI().start()
    other.handler = lambda request: grounded_pairs_reply(request, 3)
    args = [str(CORPUS), "-o", str(out), "-q", *_endpoint(other)]
    try:
        assert reached.wait(60), first.communicate()
        assert main(args) == EXIT_FOLDER_IN_USE
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("error: ")
        assert f"process {first.pid}" in err and str(out) in err
        assert main(["finetune", str(out), "--base-url", other.url]) == EXIT_FOLDER_IN_USE
        assert f"process {first.pid}" in capsys.readouterr().err
        asked = len(other.chat_requests())
        assert asked == 0, f"the second run asked {asked} chunks"
        first.kill()  # kill -9 leaves the lock file behind, but no lock
        first.communicate(timeout=30)
        assert main(args) == 0
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate(timeout=30)
        release.set()
        other.stop()


def test_an_evaluation_holds_its_own_folder(tmp_path: Path, fake_openai, capsys) -> None:
    out = tmp_path / "o"
    assert main([str(CORPUS), "-o", str(out), "-q"]) == 0
    with FolderLock(out / "eval"):  # another evaluation of this folder, still running
        assert main(["eval", str(out), "--base-url", fake_openai.url, "--model", "m"]) == EXIT_FOLDER_IN_USE
    assert f"process {os.getpid()}" in capsys.readouterr().err
    assert fake_openai.chat_requests() == []
    assert main(["eval", str(out), "--base-url", fake_openai.url, "--model", "m"]) == 0


# --------------------------------------------------------------------------- defect 20: one dataset generation


class Killed(BaseException):
    """kill -9 at an exact point: nothing after it runs (``except Exception`` and ``except OSError`` do not catch it)."""


def _kill_at_replace(monkeypatch: pytest.MonkeyPatch, name: str, *, after: bool) -> None:
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        if Path(dst).name == name and not after:
            raise Killed
        real_replace(src, dst, *args, **kwargs)
        if Path(dst).name == name:
            raise Killed

    monkeypatch.setattr(os, "replace", replace)


def _questions(path: Path) -> set[str]:
    return {example["messages"][-2]["content"] for example in read_jsonl(path)}


def test_a_kill_between_dataset_files_is_refused_by_readers_and_repaired_by_a_rerun(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    out = tmp_path / "o"
    assert main([str(CORPUS), "-o", str(out), "-q", "--seed", "1"]) == 0
    old_valid = _questions(out / "valid.jsonl")
    _kill_at_replace(monkeypatch, "train.jsonl", after=True)
    with pytest.raises(Killed):
        main([str(CORPUS), "-o", str(out), "-q", "--seed", "2"])
    monkeypatch.undo()
    assert old_valid & _questions(out / "train.jsonl"), "the kill did not leave validation questions in training"
    capsys.readouterr()

    for name in ("train.jsonl", "valid.jsonl"):
        assert main(["validate", str(out / name)]) == 1
        assert "train.jsonl and valid.jsonl are from different runs" in capsys.readouterr().out
    assert main(["finetune", str(out), "--dry-run"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "train.jsonl and valid.jsonl are from different runs" in err

    # A rerun finishes the switch even when it stops before writing anything itself.
    assert main([str(CORPUS), "-o", str(out), "-q", "--seed", "2", "-n", "2"]) == 1
    assert "different settings" in capsys.readouterr().err
    assert main(["validate", str(out / "train.jsonl")]) == 0
    assert main(["finetune", str(out), "--dry-run"]) == 0
    assert main([str(CORPUS), "-o", str(tmp_path / "whole"), "-q", "--seed", "2"]) == 0
    assert output_files(out) == output_files(tmp_path / "whole")
    assert not _questions(out / "valid.jsonl") & _questions(out / "train.jsonl")


def test_leftover_temp_files_do_not_make_restart_refuse_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "o"
    assert main([str(CORPUS), "-o", str(tmp_path / "whole"), "-q"]) == 0
    _kill_at_replace(monkeypatch, "pairs.jsonl", after=False)
    with pytest.raises(Killed):
        main([str(CORPUS), "-o", str(out), "-q"])
    monkeypatch.undo()
    assert list(out.glob(".*.tmp-*")), "the kill left no temp files to test with"
    assert main([str(CORPUS), "-o", str(out), "-q", "--restart"]) == 0
    assert not list(out.glob(".*.tmp-*"))
    assert output_files(out) == output_files(tmp_path / "whole")


def test_stray_temp_files_are_qagens_own_and_are_cleared(tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert main([str(CORPUS), "-o", str(out), "-q"]) == 0
    stray = out / ".valid.jsonl.tmp-999999"
    stray.write_text('{"half": ', encoding="utf-8")
    assert main([str(CORPUS), "-o", str(out), "-q"]) == 0
    assert not stray.exists()
    stray.write_text('{"half": ', encoding="utf-8")
    assert main([str(CORPUS), "-o", str(out), "-q", "--restart"]) == 0
    assert not stray.exists()
