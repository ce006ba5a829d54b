"""Converters that misbehave, for the time-limit tests; the worker process imports them by name."""

from __future__ import annotations

import threading


def hang(path: str, progress: object) -> object:
    """Never returns: what a converter stuck on a pathological file looks like from outside."""
    threading.Event().wait()
    raise AssertionError("unreachable")


def crash(path: str, progress: object) -> object:
    import os

    os._exit(3)  # the worker dies as it would on a segfault in a native library


def hog(path: str, progress: object) -> object:
    """Asks for 6 GB. The allocation is lazy, so without the worker's memory cap it would succeed at no cost."""
    from qagen.documents.convert.builder import Converted

    block = bytearray(6 * 2**30)
    return Converted(f"allocated {len(block)} bytes", ())


def echo(path: str, progress: object) -> object:
    """The file's bytes as its text: a converter that always works."""
    from qagen.documents.convert.builder import Converted

    with open(path, encoding="utf-8") as handle:
        return Converted(handle.read(), ())
