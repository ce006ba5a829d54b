"""Converting in a separate process: a real time limit, and a crash or a blown-up file cannot take the run down.

One worker process is started when the first file needs converting and is reused for the
rest; a conversion that runs past its time limit is ended by ending the process, and the
next file gets a fresh one. The worker reports pages done, which the caller turns into a
progress line for a large file.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import astuple
from multiprocessing.connection import Connection
from typing import Any, Callable

from qagen.documents.convert.archive import check_archive
from qagen.documents.convert.builder import ConversionStopped, Converted, Unconvertible
from qagen.records import Section

# Seconds between two progress messages from the worker: often enough for a live line, rarely
# enough that a 500-page file does not send 500 messages.
PROGRESS_INTERVAL = 0.5
# The worker's address space: a file that would need more is skipped (MemoryError), not left to
# push the machine into swap. A 500-page PDF peaks near 200 MB.
MEMORY_LIMIT = 4 * 2**30


class ConverterProcess:
    """The worker process and its pipe; ``close`` ends it."""

    def __init__(self) -> None:
        self._process: Any = None
        self._conn: Connection | None = None
        self.started = 0  # processes started, for the caller's figures

    def convert(
        self, target: str, path: str, *, archive: str | None, max_unpacked: int, timeout: float,
        on_progress: Callable[[int, int], None],
    ) -> Converted:
        """Run the converter ``target`` ("module:function") on ``path``; Unconvertible says why not."""
        conn = self._connection()
        conn.send((target, path, archive, max_unpacked))
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not conn.poll(remaining):
                self.close()
                raise ConversionStopped(f"conversion took longer than {timeout:g} s; --convert-timeout raises the limit")
            try:
                message = conn.recv()
            except (EOFError, OSError):
                code = self.close()
                raise ConversionStopped(f"the converter stopped on this file (exit code {code}); it may be damaged") from None
            if message[0] == "progress":
                on_progress(message[1], message[2])
            elif message[0] == "done":
                return Converted(message[1], tuple(Section(start, tuple(heading), page, kind) for start, heading, page, kind in message[2]))
            elif message[0] == "stopped":
                raise ConversionStopped(message[1])
            else:
                raise Unconvertible(message[1])

    def close(self) -> int | None:
        """End the worker (if any); its exit code."""
        process, self._process = self._process, None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if process is None:
            return None
        try:
            return int(process.wait(0.5))  # it ends by itself once the pipe is closed
        except subprocess.TimeoutExpired:
            process.kill()
            return int(process.wait())

    def _connection(self) -> Connection:
        if self._conn is None:
            # A fresh interpreter, not multiprocessing: fork could deadlock a caller holding threads
            # (the SDK's, a test server's), and spawn would run the caller's script again in the
            # worker when it lacks an `if __name__ == "__main__":` guard. The worker gets the
            # caller's import path, so it imports the same qagen.
            ours, theirs = socket.socketpair()
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in sys.path if path)}
            try:
                self._process = subprocess.Popen(
                    [sys.executable, "-m", "qagen.documents.convert", str(theirs.fileno())],
                    pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, env=env,
                )
            finally:
                theirs.close()
            self._conn = Connection(ours.detach())
            self.started += 1
        return self._conn


def serve(conn: Connection) -> None:
    """The worker's loop: one job at a time until the pipe closes."""
    # Ctrl-C reaches the whole process group; the parent handles it and ends this process, which
    # must not print a traceback of its own. The libraries' log lines and warnings about odd
    # files would land on the user's terminal; what matters reaches the user as the skip reason.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.getLogger().addHandler(logging.NullHandler())
    logging.getLogger().setLevel(logging.CRITICAL)
    warnings.simplefilter("ignore")
    _limit_memory()
    while True:
        try:
            target, path, archive, max_unpacked = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        try:
            conn.send(("done", *_flatten(run(target, path, archive, max_unpacked, _progress_sender(conn)))))
        except Unconvertible as exc:
            conn.send(("skip", str(exc)))
        except MemoryError:
            conn.send(("stopped", f"it needs more than the {MEMORY_LIMIT // 2**30} GB of memory one conversion may use"))
        except Exception as exc:  # a converter library's own bug on a strange file: a skip, not a traceback
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            conn.send(("skip", f"cannot convert it ({type(exc).__name__}{': ' + detail[:200] if detail else ''})"))


def _limit_memory() -> None:
    try:
        import resource
    except ImportError:  # not on this platform: the time limit still holds
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard == resource.RLIM_INFINITY or hard > MEMORY_LIMIT:
        try:
            resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, hard))
        except (ValueError, OSError):  # a platform that refuses: the time limit still holds
            pass


def run(target: str, path: str, archive: str | None, max_unpacked: int, progress: Callable[[int, int], None]) -> Converted:
    """Convert in this process (the worker's part, also the benchmark's)."""
    if archive is not None:
        check_archive(path, archive, max_unpacked)
    module, name = target.split(":")
    converter = getattr(importlib.import_module(module), name)
    result = converter(path, progress)
    assert isinstance(result, Converted)
    return result


def _flatten(converted: Converted) -> tuple[str, list[tuple[Any, ...]]]:
    return converted.text, [astuple(section) for section in converted.sections]


def _progress_sender(conn: Connection) -> Callable[[int, int], None]:
    last = 0.0

    def send(done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= PROGRESS_INTERVAL or done == total:
            last = now
            conn.send(("progress", done, total))

    return send
