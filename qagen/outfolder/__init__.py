"""What makes a run resumable and safe: the out folder's lock, manifest, journal and output files.

The lock (``.qagen/lock``, ``qagen.outfolder.lock``) is held for the whole run, so two
processes never do one job twice. The manifest (``.qagen/manifest.json``) records the
settings that change results; a rerun with different ones is refused unless the user asks
to start over. The journal (``.qagen/journal.jsonl``, ``qagen.outfolder.journal``) gets one
line per answered request, synced before the run moves on, so after Ctrl-C, kill -9 or a
crash the next run asks only what has no line yet. A line cut off by a crash is cut from
the file; a damaged line elsewhere costs only its own request. The output files change as
one set (``OutFolder.write_outputs``).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from qagen.errors import OutputError
from qagen.outfolder.journal import Journal, JournalEntry, reserve_for
from qagen.outfolder.lock import LOCK, FolderLock

STATE_DIR = ".qagen"
MANIFEST = "manifest.json"
JOURNAL = "journal.jsonl"
DAMAGED = "journal.damaged"  # journal lines that could not be read, set aside rather than destroyed
# Attempts whose reply never arrived (a timeout, a dropped connection), which the service may still have billed:
# --max-cost counts them, in this run and the next ones.
UNANSWERED = "unanswered.jsonl"
SWITCH = "switch.json"  # present only while the output files are being replaced
# Present from the start of a run's requests until it writes its output files: while it is, the files
# there are an earlier run's, and readers say so instead of taking them for this run's.
OUTDATED = "outdated"
CARD = "README.md"  # the dataset card (qagen.dataset.card)
CHUNKS = "chunks.jsonl"  # every chunk's id, source, page, section and text, for the review page
# The review page (qagen.review): written after the other files, on its own, since a run is never lost for it.
REVIEW_PAGE = "review.html"
# Files qagen writes in an out folder; --restart removes these and nothing else.
OUTPUT_FILES = ("pairs.jsonl", "rejects.jsonl", "train.jsonl", "valid.jsonl", "report.json", CHUNKS, CARD, REVIEW_PAGE)
# A reviewer's decisions merged from every --decisions file given (qagen.pipeline.decisions). --restart removes
# it too: a pair id names the same pair only while the settings in the manifest hold.
DECISIONS = "decisions.jsonl"
# The settings of the last run, for `qagen apply OUT FILE` to run it again.
RUN_SETTINGS = "settings.json"
# Folders later qagen commands add (evaluations, a trained adapter): expected here, and
# kept by --restart, since they can cost hours to make again.
LATER_FOLDERS = ("eval", "adapter")


# --------------------------------------------------------------------------- writing files


def _write_synced(path: Path, data: str | Iterable[str]) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        if isinstance(data, str):
            handle.write(data)
        else:  # lines made as they are written: a large corpus's file is never one string in memory
            handle.writelines(data)
        handle.flush()
        os.fsync(handle.fileno())


def _sync_folder(folder: Path) -> None:
    """Make renames in ``folder`` durable (POSIX); where a folder cannot be opened there is nothing to do."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _write_error(path: Path, exc: OSError) -> OutputError:
    return OutputError(
        f"cannot write {path}: {exc.strerror or exc}; free space or fix permissions and rerun (answered chunks are kept)."
    )


def write_atomic(path: Path, data: str | Iterable[str]) -> None:
    """Write a whole file or nothing: a crash leaves the old file (or none), never half of one.

    ``data`` may be pieces made as they are written; an error while making them leaves no temp file either."""
    tmp = _temp_name(path)
    try:
        _write_synced(tmp, data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _write_error(path, exc) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def is_output_temp(name: str) -> bool:
    """A temp file ``write_outputs`` leaves behind when it is killed: ``.train.jsonl.tmp-PID``."""
    base, sep, pid = name[1:].rpartition(".tmp-")
    return name.startswith(".") and bool(sep) and base in OUTPUT_FILES and pid.isdigit()


def unfinished_switch(folder: Path) -> str | None:
    """The sentence readers refuse with while ``folder``'s output files are a mix of two runs, or an earlier
    run's that a later one did not replace; else None."""
    if (folder / STATE_DIR / OUTDATED).exists() and not (folder / STATE_DIR / SWITCH).exists():
        return (
            f"the dataset files in {folder} are from an earlier run: the last qagen run there stopped before writing "
            f"new ones; run the same qagen command again (qagen CORPUS -o {folder}) to finish it (answered requests are kept)."
        )
    if not (folder / STATE_DIR / SWITCH).exists():
        return None
    return (
        f"train.jsonl and valid.jsonl are from different runs: a qagen run was stopped while replacing the files in "
        f"{folder}; run the same qagen command again (qagen CORPUS -o {folder}) to finish writing them."
    )


# --------------------------------------------------------------------------- the out folder


class OutFolder:
    """The out folder: its lock, manifest, journal and output files."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.state = path / STATE_DIR
        self.manifest_path = self.state / MANIFEST
        self.journal_path = self.state / JOURNAL
        self.switch_path = self.state / SWITCH

    def lock(self) -> FolderLock:
        """The folder's lock; a file or someone else's folder is refused before anything is put in it."""
        if self.path.exists() and not self.path.is_dir():
            raise OutputError(f"out path {self.path} is a file; choose a folder with -o.")
        if not self.manifest_path.exists():
            self._refuse_foreign_files()
        return FolderLock(self.path, STATE_DIR)

    def prepare(self, fingerprint: dict, *, restart: bool) -> None:
        """Make the folder ready; refuse foreign folders and settings that would mix two datasets."""
        if self.path.exists() and not self.path.is_dir():
            raise OutputError(f"out path {self.path} is a file; choose a folder with -o.")
        if restart:
            self._clear()
        if self.manifest_path.exists():
            if details := self.changed_settings(fingerprint):
                raise OutputError(
                    f"{self.path} holds a run made with different settings ({details}); "
                    "pass --restart to start over there, or choose another folder with -o."
                )
            return
        self._refuse_foreign_files()
        try:
            self.state.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create {self.state}: {exc.strerror}.") from None
        write_atomic(self.manifest_path, json.dumps(fingerprint, indent=2, sort_keys=True) + "\n")

    def changed_settings(self, fingerprint: dict) -> str:
        """What differs between the earlier run's settings and ``fingerprint`` ("" for nothing, or no earlier run); reads only."""
        if not self.manifest_path.exists():
            return ""
        previous = self._read_manifest()
        changed = sorted(k for k in set(previous) | set(fingerprint) if previous.get(k) != fingerprint.get(k))
        details = ", ".join(f"{k} {previous.get(k)!r} -> {fingerprint.get(k)!r}" for k in changed if k != "template_sha256")
        if "template_sha256" in changed:
            details = ", ".join(filter(None, [details, "the template changed"]))
        return details

    def _refuse_foreign_files(self) -> None:
        if not self.path.exists():
            return
        # A README.md, review.html or decisions.jsonl in a folder with no manifest is someone else's: qagen would overwrite it.
        known = {*OUTPUT_FILES, *LATER_FOLDERS, STATE_DIR} - {CARD, REVIEW_PAGE}
        foreign = [p.name for p in self.path.iterdir() if p.name not in known and not is_output_temp(p.name)]
        if foreign:
            raise OutputError(
                f"{self.path} already holds files qagen did not write ({', '.join(sorted(foreign)[:3])}); choose an empty or new folder with -o."
            )

    def _read_manifest(self) -> dict:
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise OutputError(f"{self.manifest_path} is damaged; pass --restart to start over in {self.path}.") from None
        if not isinstance(data, dict):
            raise OutputError(f"{self.manifest_path} is damaged; pass --restart to start over in {self.path}.")
        return data

    def _clear(self) -> None:
        if self.state.is_dir():
            for child in self.state.iterdir():
                if child.name == LOCK:
                    continue  # held by this run: removing it would let a second process in
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        for name in (*OUTPUT_FILES, DECISIONS):
            (self.path / name).unlink(missing_ok=True)
        self._remove_output_temps()

    def _remove_output_temps(self) -> None:
        if self.path.is_dir():
            for path in self.path.iterdir():
                if is_output_temp(path.name):
                    path.unlink(missing_ok=True)

    # ----------------------------------------------------------------- the output files

    def mark_outdated(self) -> None:
        """Say that the output files (if any) are an earlier run's until ``write_outputs`` replaces them."""
        if any((self.path / name).exists() for name in OUTPUT_FILES):
            write_atomic(self.state / OUTDATED, "a qagen run started after these output files were written\n")

    def write_outputs(self, files: dict[str, str | Iterable[str]]) -> None:
        """Replace the output files (by name) as one generation of the dataset; a file's text may come in pieces.

        Every new file is complete on disk before ``.qagen/switch.json`` records which temp
        file replaces which; then they are renamed in and the record is removed. A kill midway
        leaves the record, so readers refuse the mix (``unfinished_switch``) and the next run
        completes it (``finish_switch``). A full disk before the record leaves the old set whole.
        """
        temps: dict[str, Path] = {}
        record_tmp = _temp_name(self.switch_path)
        writing = self.switch_path
        try:
            for name, data in files.items():
                writing, temps[name] = self.path / name, _temp_name(self.path / name)
                _write_synced(temps[name], data)
            writing = self.switch_path
            _write_synced(record_tmp, json.dumps({name: tmp.name for name, tmp in temps.items()}, indent=2) + "\n")
            os.replace(record_tmp, self.switch_path)
        except OSError as exc:
            for tmp in [*temps.values(), record_tmp]:
                tmp.unlink(missing_ok=True)
            raise _write_error(writing, exc) from None
        except BaseException:  # a file's pieces failed to be made: no half-written set is left behind
            for tmp in [*temps.values(), record_tmp]:
                tmp.unlink(missing_ok=True)
            raise
        self.finish_switch()

    def finish_switch(self) -> None:
        """Complete a replacement of the output files that a kill interrupted, and drop stray temp files."""
        if self.switch_path.exists():
            try:
                record = json.loads(self.switch_path.read_text(encoding="utf-8"))
                pending = {name: self.path / str(tmp) for name, tmp in record.items() if name in OUTPUT_FILES}
            except (OSError, ValueError, AttributeError):
                raise OutputError(f"{self.switch_path} is damaged; pass --restart to start over in {self.path}.") from None
            try:
                for name, tmp in pending.items():
                    if tmp.exists():  # else it was renamed in before the kill
                        os.replace(tmp, self.path / name)
                _sync_folder(self.path)
                self.switch_path.unlink()
                (self.state / OUTDATED).unlink(missing_ok=True)  # the files are this run's now
                _sync_folder(self.state)
            except OSError as exc:
                raise OutputError(
                    f"cannot replace the output files in {self.path}: {exc.strerror or exc}; fix it and run the same command again."
                ) from None
        self._remove_output_temps()

    # ----------------------------------------------------------------- the journal

    def read_journal(self, warn: Callable[[str], None] = lambda sentence: None) -> dict[str, JournalEntry]:
        """Entries by request key.

        A torn last line (a crash mid-write) is cut off the file. A damaged line elsewhere
        (a bad sector, an editor) is moved to ``journal.damaged`` and ``warn`` hears of it;
        only its own request is asked again, and every later answer is kept.
        """
        if not self.journal_path.exists():
            return {}
        raw = self.journal_path.read_bytes()
        *lines, torn = raw.split(b"\n")
        entries: dict[str, JournalEntry] = {}
        good: list[bytes] = []
        damaged: list[bytes] = []
        for line in lines:
            try:
                entry = JournalEntry.from_line(line.decode("utf-8"))
            except (ValueError, KeyError, TypeError):
                damaged.append(line)
                continue
            entries[entry.key] = entry
            good.append(line)
        if damaged:
            try:
                with open(self.state / DAMAGED, "ab") as handle:
                    handle.write(b"".join(line + b"\n" for line in damaged))
            except OSError as exc:
                raise _write_error(self.state / DAMAGED, exc) from None
            write_atomic(self.journal_path, "".join(line.decode("utf-8") + "\n" for line in good))
            if len(damaged) == 1:
                what = f"1 damaged line, moved to {DAMAGED} beside it; its request is"
            else:
                what = f"{len(damaged)} damaged lines, moved to {DAMAGED} beside it; their requests are"
            warn(f"{self.journal_path} had {what} asked again")
        elif torn:
            with open(self.journal_path, "r+b") as handle:
                handle.truncate(len(raw) - len(torn))
        return entries

    def record_unanswered(self, attempt: dict) -> None:
        """Append one attempt whose reply never arrived, synced; OutputError when it cannot be written."""
        path = self.state / UNANSWERED
        try:
            with open(path, "a", encoding="utf-8", newline="\n") as handle:
                handle.write(json.dumps(attempt, ensure_ascii=False, sort_keys=True) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise _write_error(path, exc) from None

    def read_unanswered(self) -> list[dict]:
        """The attempts recorded so far; a line a kill cut off is skipped (it was being written when the run died)."""
        path = self.state / UNANSWERED
        if not path.is_file():
            return []
        attempts = []
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                attempt = json.loads(line)
            except ValueError:
                continue
            if isinstance(attempt, dict):
                attempts.append(attempt)
        return attempts

    def open_journal(self, *, in_flight: int = 8, sync_each_line: bool = True) -> Journal:
        """The journal for appending, with room kept for ``in_flight`` answers should the disk fill.

        ``sync_each_line`` off: the lines reach the disk when the journal closes, not as they are written.
        """
        return Journal(self.journal_path, folder=self.path, reserve=reserve_for(in_flight), sync_each_line=sync_each_line)
