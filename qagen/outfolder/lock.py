"""``FOLDER/.qagen/lock``: one process at a time writes in a folder.

An OS lock (``flock``) on the file, held for the whole command: the kernel drops it when
its holder exits or is killed, however it dies, so a lock is never stale. The file itself
holds who has the lock, for the sentence the next process stops with.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

from qagen.errors import OutputError

LOCK = "lock"


class FolderInUse(OutputError):
    """Another process holds the folder's lock."""

    exit_code = 5


def _holder() -> str:
    # No command line: flags such as --base-url can carry credentials.
    return json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")})


def _describe_holder(text: str) -> str:
    try:
        holder = json.loads(text)
        return f"qagen process {int(holder['pid'])} on {holder['host']} (running since {holder['started']})"
    except (ValueError, KeyError, TypeError):
        return "another qagen process"  # it has the lock but has not written its note yet


if sys.platform == "win32":  # no fcntl: lock one byte far past the holder's note (not tested here)
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, 1 << 30, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


class FolderLock:
    """Held while a command writes in ``folder``; a second holder stops with FolderInUse."""

    def __init__(self, folder: Path, state_dir: str = ".qagen") -> None:
        self.folder = folder
        self.path = folder / state_dir / LOCK
        self._fd: int | None = None

    def acquire(self) -> FolderLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise OutputError(f"cannot create {self.path}: {exc.strerror or exc}.") from None
        if not _try_lock(fd):
            os.lseek(fd, 0, os.SEEK_SET)
            holder = _describe_holder(os.read(fd, 4096).decode("utf-8", "replace"))
            os.close(fd)
            raise FolderInUse(
                f"{self.folder} is in use by {holder}; wait for it to finish (or stop it) and run the command again."
            )
        try:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, _holder().encode("utf-8"))
        except OSError:
            pass  # the lock holds without the note; the next process just cannot name this one
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the lock
            self._fd = None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
