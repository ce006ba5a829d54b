"""Text and its sections, built block by block as a converter walks a document.

Every converter speaks in blocks (a heading, a paragraph, a table, a new page); the builder
joins them with blank lines and records a ``Section`` wherever the heading path, the page or
the kind of text changes, so offsets always match the text that was built.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from qagen.records import Section

CELL_SEPARATOR = " | "  # a table row is one line, its cells joined by this


@dataclass(frozen=True)
class Converted:
    """What a converter gives back: the text and where its headings, pages and tables are."""

    text: str
    sections: tuple[Section, ...]


class Unconvertible(Exception):
    """A document that cannot be converted; the message is the skip reason shown to the user."""

    lasting = True  # the same bytes give the same answer every time, so the answer is cached


class ConversionStopped(Unconvertible):
    """The conversion was ended (time limit, memory cap, the worker died): a rerun may get further."""

    lasting = False


class TextBuilder:
    def __init__(self) -> None:
        self._parts: list[str] = []
        self._length = 0
        self._sections: list[Section] = []
        self._levels: list[tuple[int, str]] = []  # (level, title) of the open headings, outermost first
        self._page: int | None = None

    @property
    def heading_path(self) -> tuple[str, ...]:
        return tuple(title for _, title in self._levels)

    def page(self, number: int) -> None:
        """The blocks that follow are on page (or slide) ``number``."""
        self._page = number

    def heading(self, level: int, title: str, *, in_text: bool = True) -> None:
        """A heading of ``level`` (1 outermost) closes every heading at its level or deeper.

        ``in_text=False`` sets the heading path without writing the title (a title known only
        from a table of contents, not printed on the page).
        """
        title = " ".join(title.split())
        if not title:
            return
        self._levels = [(lvl, text) for lvl, text in self._levels if lvl < level]
        self._levels.append((level, title))
        if in_text:
            self._write(title, "text")

    def paragraph(self, text: str) -> None:
        self._write(text.strip(), "text")

    def table(self, rows: Iterable[Sequence[str]]) -> None:
        lines = []
        for row in rows:
            cells = [" ".join(cell.split()) for cell in row]
            if any(cells):
                lines.append(CELL_SEPARATOR.join(cells))
        self._write("\n".join(lines), "table")

    def result(self) -> Converted:
        return Converted("".join(self._parts), tuple(self._sections))

    def _write(self, text: str, kind: Literal["text", "table"]) -> None:
        if not text:
            return
        if self._parts:
            self._parts.append("\n\n")
            self._length += 2
        section = Section(start=self._length, heading=self.heading_path, page=self._page, kind=kind)
        last = self._sections[-1] if self._sections else None
        if last is None or (last.heading, last.page, last.kind) != (section.heading, section.page, section.kind):
            self._sections.append(section)
        self._parts.append(text)
        self._length += len(text)
