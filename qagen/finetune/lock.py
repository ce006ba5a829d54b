"""One launch at a time per out folder: ``OUT_DIR/.qagen-finetune.lock``, held with ``flock``.

Two ``qagen finetune OUT`` started together would each read a state file without a job and
each create one. The lock is held from reading the state file until the job's id is saved in
it; a second launch meanwhile is refused with the first one's pid. Once the first has
created its job, running the command again follows that job. The lock goes with its holder
(the kernel drops it when the process ends, even by kill -9), so a crash never leaves the
folder locked. Named apart from the generation run's lock so the two never meet.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from qagen.finetune.errors import FinetuneError

LOCK_FILE = ".qagen-finetune.lock"


@contextmanager
def finetune_lock(out: Path, doing: str = "launching a fine-tuning job") -> Iterator[None]:
    """Hold the out folder's launch lock, or raise one sentence naming the process that holds it."""
    path = out / LOCK_FILE
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise FinetuneError(f"cannot create {path}: {exc.strerror or exc}.") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise FinetuneError(
                f"another qagen (pid {holder}) is {doing} in {out}; wait for it to finish, then run the same "
                "command again to follow the job it creates."
            ) from None
        # A holder removes the file as it lets go: a lock taken on the removed file would guard
        # nothing, so it counts only when the path still names the locked file.
        try:
            locked_the_path = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            locked_the_path = False
        if locked_the_path:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield
    finally:
        path.unlink(missing_ok=True)  # removed while still held, so no one waits on a file about to go
        os.close(fd)
