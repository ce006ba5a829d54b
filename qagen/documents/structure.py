"""A document's structure: Markdown headings read into Sections, and what chunking asks of sections.

Converted formats (PDF, DOCX, HTML, ...) come with ``Document.sections`` filled by their
converter. Markdown files are text, so their sections are read here: ATX headings (``#`` to
``######``) and setext headings (a line underlined with ``===`` or ``---``), outside fenced code
blocks and front matter, become heading paths; a pipe table becomes a section of kind "table".

Only files named as Markdown are read this way. In a plain ``.txt`` file a line starting with
``#`` is as likely a comment, a hashtag or a number as a heading, and a dashed line under a line of
text is often decoration: a wrong heading path would put a wrong subject into every question
asked about the chunk, which is worse than no heading at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from qagen.records import Document, Section

MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdown", ".mkd", ".mkdn")
HEADING_JOINER = " > "

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_TABLE_DELIMITER = re.compile(r"^ {0,3}\|?[ \t]*:?-+:?[ \t]*(\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$")
# A line that cannot be the text of a setext heading: a list item, quote, table row, heading or indented code.
_NOT_SETEXT_TEXT = re.compile(r"^( {4,}|\t| {0,3}([-+*>|#]|\d+[.)])( |$))")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*{1,3}|_{1,3}|`+)(\S(?:.*?\S)?)\1")


def heading_label(heading: Sequence[str]) -> str | None:
    """The heading path as people write it, "Fares > Concessions"; None for no heading."""
    return HEADING_JOINER.join(heading) if heading else None


def sections_of(document: Document) -> tuple[Section, ...]:
    """The document's sections: its converter's, or read from its Markdown; () for plain text."""
    if document.sections:
        return tuple(sorted(document.sections, key=lambda s: s.start))
    if document.source.lower().endswith(MARKDOWN_SUFFIXES):
        return markdown_sections(document.text)
    return ()


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """(offset, line without its line break) for every line of ``text``."""
    offset = 0
    for line in text.splitlines(keepends=True):
        yield offset, line.rstrip("\r\n")
        offset += len(line)


def _clean(heading: str) -> str:
    # Links keep their words, emphasis and code marks go: the heading is named in questions.
    heading = _LINK.sub(r"\1", heading)
    for _ in range(3):  # nested emphasis, "**_word_**"
        heading = _EMPHASIS.sub(r"\2", heading)
    return " ".join(heading.split())


def markdown_sections(text: str) -> tuple[Section, ...]:
    """Sections of a Markdown text, in order: one per heading, one per pipe table, one after each table.

    A section starts at its heading line, so a chunk that starts with a section holds its heading.
    """
    lines = list(_lines(text))
    sections: list[Section] = []
    path: list[tuple[int, str]] = []  # (level, heading) from the outermost in
    fence: str | None = None
    in_table = False
    position = _after_front_matter(lines)

    def current() -> tuple[str, ...]:
        return tuple(heading for _, heading in path)

    def open_heading(level: int, heading: str, start: int) -> None:
        while path and path[-1][0] >= level:
            path.pop()
        path.append((level, heading))
        sections.append(Section(start=start, heading=current()))

    while position < len(lines):
        offset, line = lines[position]
        if fence is not None:
            if line.strip().startswith(fence) and set(line.strip()) == {fence[0]}:
                fence = None
            position += 1
            continue
        if in_table:
            if "|" in line and line.strip():
                position += 1
                continue
            in_table = False
            sections.append(Section(start=offset, heading=current()))
        if match := _FENCE.match(line):
            fence = match.group(1)
            position += 1
            continue
        if match := _ATX.match(line):
            heading = _clean(match.group(2) or "")
            if heading:
                open_heading(len(match.group(1)), heading, offset)
            position += 1
            continue
        following = lines[position + 1][1] if position + 1 < len(lines) else ""
        if "|" in line and _TABLE_DELIMITER.match(following) and "|" in following:
            sections.append(Section(start=offset, heading=current(), kind="table"))
            in_table = True
            position += 2
            continue
        # One line of text, set apart above, underlined: a heading. A longer paragraph above a
        # dashed line is more likely text followed by a rule than a heading of several lines.
        set_apart = position == 0 or not lines[position - 1][1].strip()
        if set_apart and line.strip() and not _NOT_SETEXT_TEXT.match(line) and (match := _SETEXT.match(following)):
            heading = _clean(line)
            if heading:
                open_heading(1 if match.group(1)[0] == "=" else 2, heading, offset)
                position += 2
                continue
        position += 1
    return tuple(sections)


def _after_front_matter(lines: list[tuple[int, str]]) -> int:
    """Index of the first line after YAML front matter ("---" ... "---" at the very top), else 0."""
    if not lines or lines[0][1].strip() != "---":
        return 0
    for index in range(1, len(lines)):
        if lines[index][1].strip() in ("---", "..."):
            return index + 1
    return 0
