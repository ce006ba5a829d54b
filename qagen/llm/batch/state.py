"""``.qagen/batches.json``: the input files uploaded and the batches created, saved the moment each exists.

A rerun (after a kill, Ctrl-C or a lost connection) reads it and follows the batches it names
instead of uploading or submitting again: a batch costs money once it is created, and the service
would answer its requests a second time. Each part is one input file: its request keys, the file's
id once uploaded, the batch's id once created, and whether its output was read into the journal.
Every change is written atomically before qagen does anything else.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from qagen.errors import OutputError
from qagen.outfolder import write_atomic

BATCHES_FILE = "batches.json"
_VERSION = 1


@dataclass
class Part:
    keys: list[str]
    file_id: str
    batch_id: str | None = None
    round: int = 1  # 1 for a stage's first batch, 2 for the follow-up that retries its failed lines, ...
    done: bool = False  # its output is in the journal


@dataclass
class BatchState:
    path: Path
    parts: list[Part] = field(default_factory=list)

    @staticmethod
    def load(path: Path) -> BatchState:
        if not path.exists():
            return BatchState(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            parts = [Part(keys=[str(k) for k in p["keys"]], file_id=str(p["file_id"]),
                          batch_id=None if p.get("batch_id") is None else str(p["batch_id"]),
                          round=int(p.get("round", 1)), done=bool(p.get("done", False))) for p in data["parts"]]
        except (OSError, ValueError, KeyError, TypeError):
            raise OutputError(
                f"{path} is damaged; it names the batches this out folder submitted: look them up on the service, "
                "or pass --restart to start over."
            ) from None
        return BatchState(path, parts)

    def save(self) -> None:
        write_atomic(self.path, json.dumps({"version": _VERSION, "parts": [asdict(p) for p in self.parts]}, indent=1) + "\n")

    def uploaded(self, keys: list[str], file_id: str, round: int) -> Part:
        part = Part(keys=list(keys), file_id=file_id, round=round)
        self.parts.append(part)
        self.save()
        return part

    def created(self, part: Part, batch_id: str) -> None:
        part.batch_id = batch_id
        self.save()

    def finished(self, part: Part) -> None:
        part.done = True
        self.save()

    def open_parts(self, wanted: set[str]) -> list[Part]:
        """Parts not read yet that hold any of the ``wanted`` keys."""
        return [p for p in self.parts if not p.done and wanted.intersection(p.keys)]
