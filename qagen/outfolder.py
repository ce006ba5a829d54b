"""What makes a run resumable: the out folder's manifest and its append-only journal.

The manifest (``.qagen/manifest.json``) records the settings that change results; a
rerun with different ones is refused unless the user asks to start over. The journal
(``.qagen/journal.jsonl``) gets one line per answered chunk, flushed and fsynced before
the run moves on, so after Ctrl-C, kill -9 or a crash the next run asks only the chunks
that have no line yet. A line cut off by a crash is discarded on open (that chunk is
simply asked again), never trusted.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from qagen.errors import OutputError
from qagen.records import Completion

STATE_DIR = ".qagen"
MANIFEST = "manifest.json"
JOURNAL = "journal.jsonl"
# Files qagen writes in an out folder; --restart removes these and nothing else.
OUTPUT_FILES = ("pairs.jsonl", "rejects.jsonl", "train.jsonl", "valid.jsonl", "report.json")
# Folders later qagen commands add (evaluations, a trained adapter): expected here, and
# kept by --restart, since they can cost hours to make again.
LATER_FOLDERS = ("eval", "adapter")


@dataclass(frozen=True)
class JournalEntry:
    key: str  # the request key (a chunk id for generation requests)
    completion: Completion
    attempts: int = 1

    def to_line(self) -> str:
        return json.dumps({"key": self.key, "attempts": self.attempts, **asdict(self.completion)}, ensure_ascii=False)

    @staticmethod
    def from_line(line: str) -> JournalEntry:
        data = json.loads(line)
        completion = Completion(
            text=data["text"],
            finish_reason=data["finish_reason"],
            prompt_tokens=int(data["prompt_tokens"]),
            completion_tokens=int(data["completion_tokens"]),
        )
        return JournalEntry(key=data["key"], completion=completion, attempts=int(data.get("attempts", 1)))


def write_atomic(path: Path, data: str) -> None:
    """Write a whole file or nothing: a crash leaves the old file (or none), never half of one."""
    write_all_atomic({path: data})


def write_all_atomic(files: dict[Path, str]) -> None:
    """Write several files as one set: every file is complete on disk before any replaces its old version.

    A full disk therefore leaves the previous set whole, never new pairs beside an old dataset.
    """
    written: list[tuple[Path, Path]] = []
    try:
        for path, data in files.items():
            tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
            written.append((tmp, path))
            with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        for tmp, path in written:
            os.replace(tmp, path)
    except OSError as exc:
        for tmp, _ in written:
            tmp.unlink(missing_ok=True)
        failed = written[-1][1] if written else next(iter(files))
        raise OutputError(
            f"cannot write {failed}: {exc.strerror or exc}; free space or fix permissions and rerun (answered chunks are kept)."
        ) from None


class OutFolder:
    """The out folder: its manifest, journal and output files."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.state = path / STATE_DIR
        self.manifest_path = self.state / MANIFEST
        self.journal_path = self.state / JOURNAL

    def prepare(self, fingerprint: dict, *, restart: bool) -> None:
        """Make the folder ready; refuse foreign folders and settings that would mix two datasets."""
        if self.path.exists() and not self.path.is_dir():
            raise OutputError(f"out path {self.path} is a file; choose a folder with -o.")
        if restart:
            self._clear()
        if self.manifest_path.exists():
            previous = self._read_manifest()
            changed = sorted(k for k in set(previous) | set(fingerprint) if previous.get(k) != fingerprint.get(k))
            if changed:
                details = ", ".join(f"{k} {previous.get(k)!r} -> {fingerprint.get(k)!r}" for k in changed if k != "template_sha256")
                if "template_sha256" in changed:
                    details = ", ".join(filter(None, [details, "the template changed"]))
                raise OutputError(
                    f"{self.path} holds a run made with different settings ({details}); "
                    "pass --restart to start over there, or choose another folder with -o."
                )
            return
        if self.path.exists():
            known = {*OUTPUT_FILES, *LATER_FOLDERS, STATE_DIR}
            foreign = [p.name for p in self.path.iterdir() if p.name not in known]
            if foreign:
                raise OutputError(
                    f"{self.path} already holds files qagen did not write ({', '.join(sorted(foreign)[:3])}); choose an empty or new folder with -o."
                )
        try:
            self.state.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create {self.state}: {exc.strerror}.") from None
        write_atomic(self.manifest_path, json.dumps(fingerprint, indent=2, sort_keys=True) + "\n")

    def _read_manifest(self) -> dict:
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise OutputError(f"{self.manifest_path} is damaged; pass --restart to start over in {self.path}.") from None
        if not isinstance(data, dict):
            raise OutputError(f"{self.manifest_path} is damaged; pass --restart to start over in {self.path}.")
        return data

    def _clear(self) -> None:
        shutil.rmtree(self.state, ignore_errors=True)
        for name in OUTPUT_FILES:
            (self.path / name).unlink(missing_ok=True)

    def read_journal(self) -> dict[str, JournalEntry]:
        """Entries by chunk id. A torn last line (crash mid-write) is cut off the file."""
        if not self.journal_path.exists():
            return {}
        raw = self.journal_path.read_bytes()
        entries: dict[str, JournalEntry] = {}
        good_length = 0
        for line in raw.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break
            try:
                entry = JournalEntry.from_line(line.decode("utf-8"))
            except (ValueError, KeyError, TypeError):
                break  # everything after a damaged line is untrusted
            entries[entry.key] = entry
            good_length += len(line)
        if good_length < len(raw):
            with open(self.journal_path, "r+b") as handle:
                handle.truncate(good_length)
        return entries

    def open_journal(self) -> Journal:
        return Journal(self.journal_path)


class Journal:
    """Append-only; each line is on disk before append() returns."""

    def __init__(self, path: Path) -> None:
        try:
            self._handle = open(path, "a", encoding="utf-8", newline="\n")
        except OSError as exc:
            raise OutputError(f"cannot open {path}: {exc.strerror}.") from None
        self._path = path

    def append(self, entry: JournalEntry) -> None:
        try:
            self._handle.write(entry.to_line() + "\n")
            self._handle.flush()
            os.fsync(self._handle.fileno())
        except OSError as exc:
            raise OutputError(f"cannot write {self._path}: {exc.strerror}; free space and rerun (answered chunks are kept).") from None

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
