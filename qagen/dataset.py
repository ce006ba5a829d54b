"""Fine-tuning examples from pairs: formats, the train/validation split, JSONL writing.

Two formats: chat (``{"messages": [system?, user, assistant]}``, the default) and
legacy prompt/completion for completion models (every prompt ends with one common
separator, every completion starts with a space and ends with one stop sequence).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from qagen.journal import write_atomic
from qagen.records import Pair


@dataclass(frozen=True)
class ExampleFormat:
    kind: str = "chat"  # "chat" or "completion"
    system_message: str | None = None
    separator: str = "\n\n###\n\n"
    stop: str = " END"
    leading_space: bool = True

    def example(self, pair: Pair) -> dict:
        if self.kind == "completion":
            prefix = " " if self.leading_space else ""
            return {"prompt": pair.question + self.separator, "completion": prefix + pair.answer + self.stop}
        messages = []
        if self.system_message:
            messages.append({"role": "system", "content": self.system_message})
        messages.append({"role": "user", "content": pair.question})
        messages.append({"role": "assistant", "content": pair.answer})
        return {"messages": messages}


def split_pairs(pairs: Sequence[Pair], valid_fraction: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    """Seeded split that keeps all pairs of one chunk on the same side.

    Pairs from one chunk often ask about the same facts; keeping them together stops
    near-copies of training questions from inflating validation scores.
    """
    if valid_fraction <= 0 or len(pairs) < 2:
        return list(pairs), []
    groups: dict[str, list[Pair]] = {}
    for pair in pairs:
        groups.setdefault(pair.chunk_id, []).append(pair)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    target = max(1, round(len(pairs) * valid_fraction))
    valid_keys: set[str] = set()
    taken = 0
    for key in keys:
        if taken >= target:
            break
        if len(valid_keys) == len(keys) - 1:
            break  # always leave something to train on
        valid_keys.add(key)
        taken += len(groups[key])
    train = [p for p in pairs if p.chunk_id not in valid_keys]
    valid = [p for p in pairs if p.chunk_id in valid_keys]
    return train, valid


def jsonl(rows: Iterable[dict]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    write_atomic(path, jsonl(rows))


def pair_row(pair: Pair) -> dict:
    return asdict(pair)
