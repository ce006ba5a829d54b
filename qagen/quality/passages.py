"""A chunk as sentences with their context, and the windows of neighbouring sentences grounding looks in.

A right figure attached to the wrong fact passes a check that looks for the answer's terms
anywhere in the chunk ("a senior fare is 10% more" found "10" in "10-journey carnet").
``qagen.quality.grounding`` therefore wants an answer's facts found together, in one window:
a sentence with the one before and the one after, plus what names the subject of that
sentence in structured text, which sits further up:

- the headings above it (Markdown ``#`` lines, and lines in capitals: "CURRENT FLEET");
- the header row of its table (``| Ticket | Single fare |`` for the row ``| Adult | £9.40 |``);
- the title line of its block ("MV Heather Bell" above "  Length: 42.0 m").

Units are sentences in prose, and one unit per list item, table row or "Key: value" line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import NamedTuple

__all__ = ["iter_windows", "sentences", "windows"]

# A sentence ends at . ! or ? followed by space and something that can start a sentence; "£9.40" and
# "e.g. the" stay whole.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9£$€])")
_HEADING = re.compile(r"^\s*#{1,6}\s+\S")
_LIST_ITEM = re.compile(r"^\s*(?:[-*•+]|\d{1,3}[.)])\s+")
_KEY_VALUE = re.compile(r"^\s*[A-Z][\w /&()-]{0,40}:\s")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}")
_ASCII_LOWER = re.compile(r"[a-z]")


class _Unit(NamedTuple):  # not a frozen dataclass: a chunk has dozens, and those are slower to make
    text: str
    context: tuple[str, ...]  # headings, table header, block title
    row: bool = False  # a table row: its neighbours are other facts, never its context
    item: int = -1  # the list item it belongs to (-1: none): the next item is another fact too


def sentences(text: str) -> list[str]:
    """The sentences (and list items, table rows, record lines) of ``text``, in order."""
    return [unit.text for unit in _units(text)]


@lru_cache(maxsize=256)
def windows(text: str, reach: int = 1) -> tuple[str, ...]:
    """For each unit of ``text``: the unit, ``reach`` units either side, and the unit's context."""
    return tuple(dict.fromkeys(iter_windows(text, reach))) or (text,)


def iter_windows(text: str, reach: int = 1) -> Iterator[str]:
    """The windows of ``windows`` as the text is read (a window may come twice; none when ``text`` has no unit).

    A pair looks in a chunk's windows until one holds what it asks for: at 10 MB, three windows in five
    were ever looked at, so the rest of the chunk is never split into units.
    """
    units: list[_Unit] = []
    ahead = _iter_units(text)
    i = 0
    while True:
        while len(units) <= i + reach and (unit := next(ahead, None)) is not None:
            units.append(unit)
        if i >= len(units):
            return
        unit = units[i]
        # Neighbours come from the same section, table or record only: across a heading they
        # speak of something else ("Bicycles cost £2.00" closes Route 3, not Route 4).
        around = [
            u.text for u in units[max(0, i - reach) : i + reach + 1]
            if u.context == unit.context and not unit.row and u.item == unit.item
        ]
        yield "\n".join(dict.fromkeys([*unit.context, *(around or [unit.text])]))
        i += 1


def _is_caps_heading(line: str) -> bool:
    if len(line.strip()) > 80:
        return False
    if line.isascii() and _ASCII_LOWER.search(line):
        return False  # the usual line, told in one search instead of a look at each letter
    letters = [c for c in line if c.isalpha()]
    return len(letters) >= 4 and all(c.isupper() for c in letters)


def _units(text: str) -> list[_Unit]:
    return list(_iter_units(text))


def _iter_units(text: str) -> Iterator[_Unit]:
    count = 0  # units so far
    headings: dict[int, str] = {}  # level -> heading text; capitals headings are level 0
    for block in re.split(r"\n\s*\n", text):
        lines = [line for line in block.splitlines() if line.strip()]
        if not lines:
            continue
        title: tuple[str, ...] = ()
        table_header: tuple[str, ...] = ()
        pieces: list[str] = []  # the block's lines joined into items, before sentence splitting
        listed: set[int] = set()  # the pieces that are list items
        for position, line in enumerate(lines):
            stripped = line.strip()
            # Each pattern opens with ``^\s*`` then a fixed set of first characters: looked at first, the
            # line's first character rules most patterns out without a call (2,700 chunks of 10 MB: 0.52 -> 0.43 s).
            first = stripped[0]
            if first == "#" and _HEADING.match(line):
                level = len(stripped) - len(stripped.lstrip("#"))
                headings = {lv: h for lv, h in headings.items() if lv < level}
                headings[level] = stripped
                continue
            if position == 0 and _is_caps_heading(stripped):  # the cheap test first: profiled, 1.2 s at 10 MB
                headings = {0: stripped}
                continue
            if first == "|":
                if _TABLE_RULE.match(stripped.strip("|")):
                    continue
                if not table_header:
                    table_header = (stripped,)
                pieces.append(stripped)
                continue
            if position == 0 and len(lines) > 1 and _is_title(stripped, lines[1]):
                title = (stripped,)
                continue
            list_item = (first in "-*•+" or first.isdigit()) and _LIST_ITEM.match(line) is not None
            # A line joins the piece before it unless it starts an item (a list item, a "Key: value" line).
            if pieces and not list_item and not pieces[-1].startswith("|") and not ("A" <= first <= "Z" and _KEY_VALUE.match(line)):
                pieces[-1] += " " + stripped
            else:
                if list_item:
                    listed.add(len(pieces))
                pieces.append(stripped)
        context = (*headings.values(), *title)
        for number, piece in enumerate(pieces):
            item = count if number in listed else -1  # the item's first unit names it
            if piece.startswith("|"):
                count += 1
                yield _Unit(piece, (*context, *table_header), piece not in table_header)
                continue
            for sentence in _SENTENCE_END.split(piece) if "." in piece or "!" in piece or "?" in piece else (piece,):
                if sentence.strip():
                    count += 1
                    yield _Unit(sentence.strip(), context, False, item)


def _is_title(line: str, next_line: str) -> bool:
    """A block's first line that names what the lines under it describe."""
    if line.endswith((".", ",", ";", ":")) or _LIST_ITEM.match(line) or _KEY_VALUE.match(line):
        return False
    return len(line) <= 60 or next_line[:1].isspace()
