"""Question/answer pairs written as plain text, for replies that hold no JSON pair.

The ``Q: ... A: ...`` / ``Question: ... Answer: ...`` style, with optional numbering and bold
labels: a field runs over the following non-blank lines and a blank line closes it. A numbered
line or a markdown heading that asks a question (``1. What ...?``, ``### 2. What ...?``) is a
question without a label; its answer is the next ``Answer:``/``A:`` line, or, under a heading,
the paragraph that follows (small models write both).

``read_blocks`` only finds the blocks; ``qagen.replies.pairs`` decides which are pairs. A pure
function of the reply text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# "Q: ...", "Question 3: ...", "1. **Q:** ...", "**Answer**: ...", "- A: ..."; one match per line,
# no nested repetition, so it stays linear on any input.
LABEL = re.compile(
    r"[ \t]*(?:(?:\d{1,4}[.)]|[-*+\u2022]|#{1,6})[ \t]*)?"
    r"(?:\*\*|__)?(?P<label>question|answer|q|a)(?:[ \t]*#?\d{1,4})?"
    r"[ \t]*(?:\*\*|__)?[ \t]*[:\uff1a][ \t]*(?:\*\*|__)?[ \t]*",
    re.IGNORECASE,
)


# A question on its own numbered line or markdown heading, without a label: "1. What ...?", "### 2. What ...?".
NUMBERED_QUESTION = re.compile(
    r"[ \t]*(?:(?P<heading>#{1,6})[ \t]*(?:\d{1,4}[.)][ \t]*)?|\d{1,4}[.)][ \t]*)"
    r"(?:\*\*|__)?(?P<text>[^\n]*?\?)(?:\*\*|__)?[ \t]*"
)


@dataclass
class Block:
    """Lines of a reply that hold one question and its answer, as far as they were written."""

    start: int
    end: int
    question: list[str] | None = None
    answer: list[str] | None = None
    open_field: str | None = None  # "q" or "a" while continuation lines still belong to it
    heading: bool = False  # the question is a heading: the paragraph under it is its answer


def read_blocks(text: str, start: int) -> list[Block]:
    """The question/answer blocks of plain text from ``start`` on, in order, complete or not."""
    blocks: list[Block] = []
    current: Block | None = None
    pos = start
    size = len(text)
    while pos < size:
        newline = text.find("\n", pos)
        line_end = size if newline < 0 else newline
        line = text[pos:line_end].rstrip("\r")
        label = LABEL.match(line)
        numbered = None if label is not None else NUMBERED_QUESTION.fullmatch(line)
        if label is not None:
            content = line[label.end() :]
            is_question = label.group("label").lower() in ("q", "question")
            if is_question or current is None or current.answer is not None or current.question is None:
                current = Block(pos, line_end)
                blocks.append(current)
            if is_question:
                current.question, current.open_field = [content], "q"
            else:
                current.answer, current.open_field = [content], "a"
            current.end = line_end
        elif numbered is not None and (current is None or current.open_field != "a" or numbered.group("heading")):
            current = Block(pos, line_end, question=[numbered.group("text")], heading=bool(numbered.group("heading")))
            blocks.append(current)
        elif not line.strip():
            if current is not None:
                current.open_field = None
        elif current is not None and current.open_field is not None:
            target = current.question if current.open_field == "q" else current.answer
            assert target is not None
            target.append(line)
            current.end = line_end
        elif current is not None and current.heading and current.answer is None:
            current.answer, current.open_field = [line], "a"
            current.end = line_end
        pos = line_end + 1
    return blocks
