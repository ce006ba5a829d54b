"""``qagen cache info`` and ``qagen cache clear``: look at, or empty, the call cache."""

from __future__ import annotations

import argparse
import os
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from qagen.errors import OutputError
from qagen.llm.cache import CACHE_FILE, CacheUnavailable, CallCache, default_cache_dir, remove_cache_files
from qagen.options import GENERATE_OPTIONS
from qagen.progress import terminal_safe
from qagen.cli.options import add_options, given


def run(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="qagen cache", description="The call cache: replies kept so an identical request is not paid for twice.")
    parser.add_argument("action", choices=("info", "clear"), help="info: where it is, entries, size, oldest and newest; clear: forget every entry")
    add_options(parser, GENERATE_OPTIONS, ["cache_dir"])
    args = parser.parse_args(argv)
    folder = given(args, GENERATE_OPTIONS)["cache_dir"] or os.environ.get(GENERATE_OPTIONS["cache_dir"].env)
    path = (Path(folder) if folder else default_cache_dir()) / CACHE_FILE
    return _info(path) if args.action == "info" else _clear(path)


def _when(moment: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(moment)) if moment is not None else "-"


def _info(path: Path) -> int:
    lines = [f"path     {path}"]
    if not path.exists():  # looking creates nothing
        lines += ["entries  0", "size     0 bytes"]
    else:
        try:
            with CallCache(path) as cache:
                info = cache.info()
        except (CacheUnavailable, sqlite3.Error) as exc:
            raise OutputError(f"the call cache cannot be read ({exc}); qagen cache clear resets it.") from None
        lines += [f"entries  {info.entries}", f"size     {info.bytes:,} bytes",
                  f"oldest   {_when(info.oldest)}", f"newest   {_when(info.newest)}"]
    print("\n".join(terminal_safe(line) for line in lines))
    return 0


def _clear(path: Path) -> int:
    if not path.exists():
        print(terminal_safe(f"the call cache {path} is empty"))
        return 0
    try:
        with CallCache(path) as cache:
            count = cache.clear()
        print(terminal_safe(f"forgot {count} cached {'reply' if count == 1 else 'replies'} in {path}"))
    except (CacheUnavailable, sqlite3.Error):
        try:
            remove_cache_files(path)  # a damaged file holds nothing worth keeping
        except OSError as exc:
            raise OutputError(f"cannot remove the damaged call cache {path}: {exc.strerror or exc}.") from None
        print(terminal_safe(f"removed the damaged call cache {path}"))
    return 0
