"""The append-only journal of answers, and the room it keeps for a disk that fills up."""

from __future__ import annotations

import errno
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from qagen.errors import OutputError
from qagen.outfolder.lines import json_line
from qagen.records import Completion, as_fields

# Room kept free beside the journal for the answers in flight when the disk fills up.
RESERVE_PER_REQUEST = 32 * 1024
MIN_RESERVE = 256 * 1024
_DISK_FULL = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})


@dataclass(frozen=True)
class JournalEntry:
    key: str  # the request key (a chunk id for generation requests)
    completion: Completion
    attempts: int = 1

    def to_line(self) -> str:
        fields = as_fields(self.completion)
        # Written only when they say something, so a line of a plain billed answer reads as it always did.
        if not fields["cached_tokens"]:
            del fields["cached_tokens"]
        if fields["billed"]:
            del fields["billed"]
        return json_line({"key": self.key, "attempts": self.attempts, **fields})

    @staticmethod
    def from_line(line: str) -> JournalEntry:
        data = json.loads(line)
        completion = Completion(
            text=data["text"],
            finish_reason=data["finish_reason"],
            prompt_tokens=int(data["prompt_tokens"]),
            completion_tokens=int(data["completion_tokens"]),
            cached_tokens=int(data.get("cached_tokens", 0)),
            billed=bool(data.get("billed", True)),  # lines written before the field were counted as billed: the safe side
        )
        return JournalEntry(key=data["key"], completion=completion, attempts=int(data.get("attempts", 1)))


def reserve_for(in_flight: int) -> int:
    return max(MIN_RESERVE, in_flight * RESERVE_PER_REQUEST)


def _mount_point(path: Path) -> Path:
    path = path.resolve()
    while not os.path.ismount(path) and path.parent != path:
        path = path.parent
    return path


class Journal:
    """Append-only; each line is in the file (the OS holds it, so a killed process loses nothing) before
    append() returns, and on the disk itself before close() returns.

    The fsyncs run on a thread of their own, one for every line written since the last: a group commit.
    An fsync on the event loop stalled every request in flight (0.3 ms quiet, 11.6 ms on a busy disk, for
    each answer), so answers arriving together waited for each other's disk writes. An fsync that fails
    stops the run at the next append or check_room, as a failed write does. With ``sync_each_line`` off
    (answers that cost nothing to make again), the lines reach the disk only at close().

    A reserve file of ``reserve`` bytes sits beside the journal while it is open. When the
    disk fills, the reserve is given back and the answer written in its place; from then on
    ``check_room`` says to stop asking, and the answers still in flight land in that room.
    A write that fails is cut back off the file, so the next line never joins a torn one.
    """

    def __init__(self, path: Path, *, folder: Path, reserve: int = MIN_RESERVE, sync_each_line: bool = True) -> None:
        self._path, self._folder = path, folder
        self._sync_each_line = sync_each_line
        self._written = False  # lines were written: close() syncs them
        self._reserve = path.with_name(path.name + ".reserve")
        self._full: OSError | None = None  # the error that made the journal use its reserve
        self._unsaved = 0  # answers that found no room even then
        self._unsynced = threading.Event()  # set when lines were written since the last fsync began
        self._closing = False
        self._sync_error: OSError | None = None
        self._syncer: threading.Thread | None = None
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)
            self._size = os.fstat(self._fd).st_size
        except OSError as exc:
            raise OutputError(f"cannot open {path}: {exc.strerror}.") from None
        try:
            with open(self._reserve, "wb") as handle:
                handle.write(os.urandom(reserve))  # random bytes: a compressing filesystem cannot shrink them
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            self.close()
            if exc.errno not in _DISK_FULL:
                raise OutputError(f"cannot write {self._reserve}: {exc.strerror or exc}.") from None
            raise OutputError(
                f"the disk {_mount_point(folder)} has no room for the journal in {folder} ({exc.strerror or exc}); "
                f"free at least {reserve // 1024} KiB there and run the same command again."
            ) from None

    def append(self, entry: JournalEntry) -> None:
        """Write one entry; OutputError when it could not be written (the answer is then not kept)."""
        data = (entry.to_line() + "\n").encode("utf-8")
        if self._sync_error is not None:
            raise self._error(self._sync_error)
        try:
            self._write(data)
        except OSError as exc:
            if exc.errno not in _DISK_FULL or not self._reserve.exists():
                self._unsaved += 1
                raise self._error(exc) from None
            self._reserve.unlink()
            self._full = exc
            try:
                self._write(data)
            except OSError as again:
                self._unsaved += 1
                raise self._error(again) from None

    def check_room(self) -> None:
        """OutputError once the journal lives on its reserve, or could not be synced: ask nothing more."""
        if self._full is not None:
            raise self._error(self._full)
        if self._sync_error is not None:
            raise self._error(self._sync_error)

    def _write(self, data: bytes) -> None:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
        except OSError:
            try:
                os.ftruncate(self._fd, self._size)
            except OSError:
                pass
            raise
        self._size += len(data)
        self._written = True
        if not self._sync_each_line:
            return
        self._unsynced.set()
        if self._syncer is None:
            self._syncer = threading.Thread(target=self._sync_lines, name="qagen-journal-sync", daemon=True)
            self._syncer.start()

    def _sync_lines(self) -> None:
        while True:
            self._unsynced.wait()
            self._unsynced.clear()
            if self._closing:
                return  # close() syncs what is left, after this thread is done with the file
            try:
                os.fsync(self._fd)
            except OSError as exc:
                self._sync_error = exc
                return

    def _error(self, exc: OSError) -> OutputError:
        if exc.errno not in _DISK_FULL:
            return OutputError(f"cannot write {self._path}: {exc.strerror or exc}; fix it and run the same command again.")
        saved = (
            f"{self._unsaved} answers found no room and will be asked again, every other one is saved in its journal"
            if self._unsaved else "every answer received is saved in its journal"
        )
        return OutputError(
            f"the disk {_mount_point(self._folder)} is full ({exc.strerror or exc}) while qagen writes to {self._folder}: "
            f"it stopped asking, and {saved}; free space and run the same command again."
        )

    def close(self) -> None:
        if self._syncer is not None:
            self._closing = True
            self._unsynced.set()
            self._syncer.join()
            self._syncer = None
        if self._fd >= 0:
            if self._written:
                try:
                    os.fsync(self._fd)
                except OSError:
                    pass  # the lines are in the file; only a power cut before the OS writes them could lose them
            os.close(self._fd)
            self._fd = -1
        self._reserve.unlink(missing_ok=True)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
