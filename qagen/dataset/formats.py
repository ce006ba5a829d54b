"""Fine-tuning examples from pairs: the chat and legacy formats, JSONL text.

Two formats: chat (``{"messages": [system?, user, assistant]}``, the default) and
legacy prompt/completion for completion models (every prompt ends with one common
separator, every completion starts with a space and ends with one stop sequence).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from qagen.outfolder.lines import json_line
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


def jsonl(rows: Iterable[dict]) -> str:
    return "".join(jsonl_lines(rows))


def jsonl_lines(rows: Iterable[dict]) -> Iterator[str]:
    """The lines of ``jsonl(rows)``, made one at a time."""
    for row in rows:
        yield json_line(row) + "\n"
