"""The append-only journal of answers."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from qagen.errors import OutputError
from qagen.outfolder.lines import json_line
from qagen.records import Completion



@dataclass(frozen=True)
class JournalEntry:
    key: str  # the request key (a chunk id for generation requests)
    completion: Completion
    attempts: int = 1

    def to_line(self) -> str:
        return json_line({"key": self.key, "attempts": self.attempts, **asdict(self.completion)})

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
