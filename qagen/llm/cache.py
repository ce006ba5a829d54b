"""The call cache: a reply the endpoint gave once is not paid for again, in any out folder.

The journal answers the requests of one out folder; this store answers identical requests
across out folders and runs (a rerun elsewhere, ``--restart`` with only quality settings
changed, a corpus with one more document). It is one SQLite file under the user's cache
folder, keyed by the SHA-256 of a canonical JSON of what decides the reply: the endpoint, the
model, the messages and the parameters. The API key is in neither the key nor the row: a
rotated key still finds its answers, and the file holds no secret (nor any prompt text).

What is kept: every reply the endpoint gave, a truncated one (``finish_reason`` length)
included, since the same request would be truncated the same way and paid for again; the
stages already reject or split what a truncated reply leaves. A request that got no answer
raises and is never stored. Each answer is its own committed transaction (WAL mode, with a
busy timeout, so two qagen processes can share the file), so a kill never leaves half a row.

A cache that cannot be opened or read (a damaged file, a full disk) is worth one warning;
the run then goes on without it. The offline generator is not cached: it is free.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qagen.llm.model import ChatModel
from qagen.outfolder.lines import without_surrogates
from qagen.records import Completion, Request

CACHE_FILE = "calls.sqlite3"
SCHEMA_VERSION = 1
_BUSY_MS = 10_000  # another process writing: wait this long for it rather than failing


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/qagen, else ~/.cache/qagen."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "qagen"


def normalised_endpoint(base_url: str | None) -> str:
    """One spelling per endpoint: ``HTTP://Host:8000/v1/`` and ``http://host:8000/v1`` are the same one."""
    url = (base_url or "https://api.openai.com/v1").strip().rstrip("/")
    scheme, sep, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}{sep}{host.lower()}{slash}{path}" if sep else url


def request_key(endpoint: str, model: str, request: Request, structured_output: bool) -> str:
    """The cache key of a request: what is sent follows from these (the request's key and passage are not sent).

    ``structured_output`` is part of it because it changes the ``response_format`` sent; what an
    endpoint is learned to refuse during a run is the endpoint's own, so its name covers it.
    """
    canonical = json.dumps(
        {"endpoint": endpoint, "model": model, "messages": [m.as_dict() for m in request.messages],
         "params": request.params, "structured_output": structured_output},
        sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class CacheUnavailable(Exception):
    """The cache file cannot be used; the sentence says why."""


@dataclass(frozen=True)
class CacheInfo:
    path: Path
    entries: int
    bytes: int  # the file and its write-ahead log on disk
    oldest: float | None  # seconds since the epoch
    newest: float | None


class CallCache:
    """The SQLite store. Opening creates the file; ``info`` and ``clear`` of a missing one create nothing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=_BUSY_MS / 1000, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise CacheUnavailable(f"cannot open {path}: {exc}") from None
        try:
            self._db.execute(f"PRAGMA busy_timeout = {_BUSY_MS}")
            self._db.execute("PRAGMA journal_mode = WAL")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise CacheUnavailable(f"{path} was made by another qagen version (schema {version})")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, text TEXT NOT NULL, finish_reason TEXT NOT NULL, "
                "prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, created REAL NOT NULL)"
            )
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            self._db.close()
            raise CacheUnavailable(f"{path} is not a usable cache ({exc})") from None
        except CacheUnavailable:
            self._db.close()
            raise

    def __enter__(self) -> CallCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def get(self, key: str) -> Completion | None:
        """The stored reply; raises ``sqlite3.Error`` when the file cannot be read."""
        row = self._db.execute(
            "SELECT text, finish_reason, prompt_tokens, completion_tokens FROM calls WHERE key = ?", (key,)
        ).fetchone()
        return None if row is None else Completion(str(row[0]), str(row[1]), int(row[2]), int(row[3]))

    def put(self, key: str, completion: Completion) -> None:
        """Store a reply in its own transaction; raises ``sqlite3.Error`` when it cannot be written."""
        self._db.execute(
            "INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?, ?, ?)",
            (key, without_surrogates(completion.text), completion.finish_reason, completion.prompt_tokens, completion.completion_tokens, time.time()),
        )

    def info(self) -> CacheInfo:
        entries, oldest, newest = self._db.execute("SELECT COUNT(*), MIN(created), MAX(created) FROM calls").fetchone()
        return CacheInfo(self.path, int(entries), _size_on_disk(self.path), oldest, newest)

    def clear(self) -> int:
        """Forget every entry; the number forgotten."""
        count = int(self._db.execute("SELECT COUNT(*) FROM calls").fetchone()[0])
        self._db.execute("DELETE FROM calls")
        self._db.execute("VACUUM")
        return count


def _size_on_disk(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())


def remove_cache_files(path: Path) -> None:
    """Delete a cache file that cannot be opened, with its write-ahead log and shared memory."""
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        file.unlink(missing_ok=True)


class CachedModel:
    """A ChatModel that answers from the cache when it can, and stores what the inner model answers.

    ``hits`` counts requests answered from the cache: no request reached the endpoint for them.
    A cache error is reported once through ``warn``; the model then works without the cache.
    """

    def __init__(
        self, inner: ChatModel, cache: CallCache, *, endpoint: str, structured_output: bool, warn: Callable[[str], None]
    ) -> None:
        self.name = inner.name
        self.hits = 0
        self._inner = inner
        self._cache: CallCache | None = cache
        self._endpoint = endpoint
        self._structured_output = structured_output
        self._warn = warn

    async def complete(self, request: Request) -> Completion:
        cached = self.lookup(request)
        if cached is not None:
            return cached
        completion = await self._inner.complete(request)
        self.store(request, completion)
        return completion

    def lookup(self, request: Request) -> Completion | None:
        """The cached answer to ``request`` (counted as a hit, not billed), without asking the endpoint.

        A batch asks the cache first too: what the cache answers is not put in a request file.
        """
        if self._cache is None:
            return None
        try:
            cached = self._cache.get(self._key(request))
        except sqlite3.Error as exc:
            self._give_up(exc)
            return None
        if cached is None:
            return None
        self.hits += 1
        # Not sent, so not billed: the journal keeps it out of the money this out folder spent.
        return dataclasses.replace(cached, billed=False)

    def store(self, request: Request, completion: Completion) -> None:
        """Keep an answer, asked here or come by another way (a batch's output file)."""
        if self._cache is None:
            return
        try:
            self._cache.put(self._key(request), completion)
        except sqlite3.Error as exc:
            self._give_up(exc)

    def _key(self, request: Request) -> str:
        return request_key(self._endpoint, self.name, request, self._structured_output)

    def _give_up(self, exc: sqlite3.Error) -> None:
        assert self._cache is not None
        path = self._cache.path
        self._cache.close()
        self._cache = None
        self._warn(f"the call cache {path} failed ({exc}); this run goes on without it (qagen cache clear resets it)")

    async def aclose(self) -> None:
        if self._cache is not None:
            self._cache.close()
        await self._inner.aclose()
