"""Converted text, kept by file content: a rerun or a resumed run does not convert a file again.

The key is the SHA-256 of the file's bytes, the format and the converter version, so an
edited file, or a qagen whose converters changed, converts afresh. Each entry is one JSON
file (the text and its sections, or the reason the file cannot be converted), written
atomically. Time-outs are not kept: a longer limit may succeed.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import astuple
from pathlib import Path

from qagen.documents.convert.builder import Converted
from qagen.records import Section

# Raise when a converter's output changes, so entries made by the old one are not used.
CONVERTER_VERSION = 1


def default_cache_folder() -> Path:
    """$XDG_CACHE_HOME/qagen/converted, else ~/.cache/qagen/converted."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "qagen" / "converted"


def file_digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ConvertedCache:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, digest: str, fmt: str) -> Path:
        return self.folder / digest[:2] / f"{digest}.{fmt}.v{CONVERTER_VERSION}.json"

    def get(self, digest: str, fmt: str) -> Converted | str | None:
        """The cached conversion, the cached skip reason, or None when there is none (or it is unreadable)."""
        try:
            entry = json.loads(self._path(digest, fmt).read_text(encoding="utf-8"))
            if "skip" in entry:
                return str(entry["skip"])
            sections = tuple(Section(start, tuple(heading), page, kind) for start, heading, page, kind in entry["sections"])
            return Converted(str(entry["text"]), sections)
        except (OSError, ValueError, KeyError, TypeError):
            return None  # a missing or damaged entry is converted again

    def put(self, digest: str, fmt: str, value: Converted | str) -> str | None:
        """Store ``value``; the reason when it could not be written (the run goes on without it)."""
        if isinstance(value, str):
            entry: dict[str, object] = {"skip": value}
        else:
            entry = {"text": value.text, "sections": [astuple(s) for s in value.sections]}
        path = self._path(digest, fmt)
        # Renamed into place, so a reader sees a whole entry or none; not synced to disk: an entry
        # lost in a crash is only converted again.
        temp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temp.write_text(json.dumps(entry, ensure_ascii=False), encoding="utf-8")
            os.replace(temp, path)
        except OSError as exc:
            temp.unlink(missing_ok=True) if temp.parent.is_dir() else None
            return f"cannot write {self.folder}: {exc.strerror or exc}"
        return None
