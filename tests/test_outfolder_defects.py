"""The out folder keeps what was paid for: damaged journals, two processes, half-written datasets,
line separators in documents and a disk that fills up while journaling."""

from __future__ import annotations

import errno
import json
import os
import threading
from pathlib import Path

import pytest

from fake_openai import FakeOpenAI, chat_reply, grounded_pairs_reply, passage_sentences
from helpers import CORPUS, output_files, read_jsonl, small_tmpfs
from qagen.cli import main
from qagen.outfolder.lock import FolderLock
from test_resume import _hang_after, _start

EXIT_FOLDER_IN_USE = 5


def _endpoint(fake_openai) -> list[str]:
    # These tests count what the journal saves a rerun; the call cache would answer the rest (tests/test_cache.py).
    return ["--base-url", fake_openai.url, "--model", "m", "--idk-ratio", "0", "--chunk-size", "300", "--no-cache"]


def _jsonl_files(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*.jsonl") if p.is_file())


# --------------------------------------------------------------------------- defect 3: damaged journal lines


def test_a_damaged_journal_line_costs_its_own_request_and_no_other(tmp_path: Path, fake_openai, capsys) -> None:
    out = tmp_path / "o"
    args = [str(CORPUS), "-o", str(out), "-q", *_endpoint(fake_openai)]
    assert main(args) == 0
    whole = output_files(out)
    journal = out / ".qagen" / "journal.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    assert len(lines) >= 6
    # A bad sector in the middle: one line that is not UTF-8, one that is not JSON.
    lines[1] = b"\xff\xfe" + lines[1][2:]
    lines[3] = lines[3][: len(lines[3]) // 2] + b"\n"
    journal.write_bytes(b"".join(lines))
    fake_openai.requests.clear()
    capsys.readouterr()

    assert main(args) == 0
    asked = len(fake_openai.chat_requests())
    assert asked == 2, f"{asked} of {len(lines)} answers asked again for 2 damaged lines"
    assert output_files(out) == whole
    shown = capsys.readouterr()
    assert "2 damaged lines" in shown.out and "Traceback" not in shown.err
    # The journal is whole again: the next run asks nothing and warns of nothing.
    for line in journal.read_text(encoding="utf-8").splitlines():
        json.loads(line)
    fake_openai.requests.clear()
    assert main(args) == 0
    assert fake_openai.chat_requests() == []
    assert "damaged line" not in capsys.readouterr().out


def test_a_reply_with_a_lone_surrogate_is_journaled_and_written_as_utf8(tmp_path: Path, fake_openai, capsys) -> None:
    def handler(request):
        lines = []
        for sentence in passage_sentences(request.last_user_text)[:3]:
            topic = " ".join(sentence.split()[:6]).rstrip(".,;:!?")
            lines.append(json.dumps({"question": f"What does the passage say about {topic}\ud800?", "answer": sentence}))
        return chat_reply("\n".join(lines))

    fake_openai.handler = handler
    out = tmp_path / "o"
    args = [str(CORPUS / "history.md"), "-o", str(out), "-q", *_endpoint(fake_openai)]
    assert main(args) == 0
    assert "Traceback" not in capsys.readouterr().err
    texts = {path.name: path.read_bytes().decode("utf-8") for path in _jsonl_files(out)}  # strict UTF-8
    assert "\ufffd" in texts["pairs.jsonl"] + texts["rejects.jsonl"]
    # Journaled: the rerun asks nothing and writes the same bytes.
    before = output_files(out)
    fake_openai.requests.clear()
    assert main(args) == 0
    assert fake_openai.chat_requests() == []
    assert output_files(out) == before


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


# --------------------------------------------------------------------------- defect 23: U+2028, U+2029, U+0085


SEPARATOR_DOCUMENTS = {
    "north.md": "The northern depot on Harbour\u2028Road opens at six every weekday morning. "
    "Its workshop repairs the\u2029articulated buses of the coastal line. "
    "The canteen\u0085serves breakfast to the early drivers.\n",
    "south.md": "The southern depot beside Mill\u2029Lane keeps twelve buses for the night routes. "
    "Cleaners wash\u2028every bus before the morning service. "
    "A small\u0085museum shows the first tram of the city.\n",
    "west.md": "Drivers at the\u0085river depot start their shifts at five sharp each day. "
    "The river depot\u2028stores the winter gritting trucks. "
    "Its yard\u2029floods when the tide is high in spring.\n",
    "east.md": "The eastern depot near Station\u2028Square trains every new driver. "
    "Training lasts\u2029six weeks and ends with a road test. "
    "The\u0085eastern depot also keeps the spare ticket machines.\n",
}


def _assert_every_reader_reads(path: Path) -> int:
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    assert lines[-1] == "", f"{path} does not end with a newline"
    assert text.splitlines() == lines[:-1], f"{path} has a line break inside a line"
    for line in lines[:-1]:
        json.loads(line)
    return len(lines) - 1


def test_line_separators_in_documents_give_jsonl_every_reader_reads(tmp_path: Path, fake_openai) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in SEPARATOR_DOCUMENTS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    out = tmp_path / "o"
    assert main([str(corpus), "-o", str(out), "-q", *_endpoint(fake_openai), "--valid-fraction", "0.5"]) == 0
    pairs = read_jsonl(out / "pairs.jsonl")
    # The characters are kept as data (escaped on disk), not dropped.
    assert any(ch in p["answer"] for p in pairs for ch in "\u2028\u2029\x85")

    fake_openai.handler = lambda request: chat_reply(f"Cleaners wash\u2028every bus: {request.last_user_text}")
    assert main(["eval", str(out), "--base-url", fake_openai.url, "--model", "m"]) == 0
    records = {path.relative_to(out).as_posix(): _assert_every_reader_reads(path) for path in _jsonl_files(out)}
    assert records[".qagen/journal.jsonl"] == len(SEPARATOR_DOCUMENTS)
    assert records["pairs.jsonl"] == len(pairs)
    assert records["eval/.qagen/journal.jsonl"] >= 1 and records["eval/m.jsonl"] >= 1


# --------------------------------------------------------------------------- defect 24: the disk fills while journaling


@pytest.fixture
def small_disk(tmp_path: Path):
    """An 8 MiB filesystem that a test can fill (needs root: skipped otherwise)."""
    with small_tmpfs(tmp_path / "disk", "8m") as mount_point:
        yield mount_point


def _fill(path: Path) -> None:
    """Take every free byte of the filesystem ``path`` is on, as another program would."""
    with open(path, "ab", buffering=0) as handle:
        for size in (1 << 16, 1 << 12, 1 << 9, 1):
            try:
                while True:
                    handle.write(b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC


def test_a_disk_that_fills_while_journaling_is_one_sentence_and_loses_no_answer(
    tmp_path: Path, small_disk: Path, fake_openai, capsys
) -> None:
    args = [str(CORPUS), "-q", *_endpoint(fake_openai), "--concurrency", "4"]
    assert main([*args, "-o", str(tmp_path / "whole")]) == 0
    total = len(fake_openai.chat_requests())
    fake_openai.requests.clear()

    filler = small_disk / "filler"
    answered: list[str] = []
    one_at_a_time = threading.Lock()  # no answer leaves the server while the disk is being filled

    def handler(request):
        with one_at_a_time:
            answered.append(request.last_user_text)
            if len(answered) == 4:
                _fill(filler)
        return grounded_pairs_reply(request, 3)

    fake_openai.handler = handler
    out = small_disk / "out"
    assert main([*args, "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert "No space left on device" in err and str(out) in err and "Traceback" not in err
    received = set(answered)
    assert 4 <= len(received) < total

    filler.unlink()
    fake_openai.requests.clear()
    fake_openai.handler = lambda request: grounded_pairs_reply(request, 3)
    assert main([*args, "-o", str(out)]) == 0
    again = {r.last_user_text for r in fake_openai.chat_requests()} & received
    assert not again, f"{len(again)} of {len(received)} answers received before the disk filled were asked again"
    assert output_files(out) == output_files(tmp_path / "whole")


def test_a_disk_with_no_room_at_all_is_still_one_sentence_and_keeps_what_was_written(
    tmp_path: Path, fake_openai, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Without root: every journal write after the fourth fails, even once the reserve is given back."""
    from qagen.outfolder.journal import Journal

    real_write = Journal._write
    written = {"n": 0}

    def write(self, data: bytes) -> None:
        if written["n"] >= 4:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_write(self, data)
        written["n"] += 1

    monkeypatch.setattr(Journal, "_write", write)
    out = tmp_path / "o"
    args = [str(CORPUS), "-o", str(out), "-q", *_endpoint(fake_openai), "--concurrency", "4"]
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "No space left on device" in err, err
    assert "found no room and will be asked again" in err
    first = {r.last_user_text for r in fake_openai.chat_requests()}
    journal = out / ".qagen" / "journal.jsonl"
    assert len(journal.read_text(encoding="utf-8").splitlines()) == 4
    assert not (out / ".qagen" / "journal.jsonl.reserve").exists()

    monkeypatch.undo()
    fake_openai.requests.clear()
    assert main(args) == 0
    again = {r.last_user_text for r in fake_openai.chat_requests()} & first
    assert len(again) == len(first) - 4  # the four journaled answers are not asked again
