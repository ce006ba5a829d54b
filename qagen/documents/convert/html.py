"""HTML (and the XHTML inside EPUB and converted DOCX) to text: headings h1-h6, paragraphs, tables.

The standard library's parser is enough: qagen needs the text in reading order, where the
headings are and which rows form a table, not a DOM. Scripts, styles and the page's
navigation chrome are left out.
"""

from __future__ import annotations

import html.parser
import re

from qagen.documents.convert.builder import Converted, TextBuilder

_HEADINGS = {f"h{n}": n for n in range(1, 7)}
# Elements that end a line of text; anything else (span, a, em ...) flows inline.
_BLOCKS = frozenset(
    "p div li ul ol dl dt dd br hr blockquote pre section article header footer aside main figure figcaption "
    "caption address body html tr".split()
)
_SKIPPED = frozenset({"script", "style", "template", "noscript", "head", "title", "svg", "nav"})
# Void elements never get an end tag; entering them must not open a skipped region.
_VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())


def convert_html(markup: str) -> Converted:
    builder = TextBuilder()
    feed_html(markup, builder)
    return builder.result()


def feed_html(markup: str, builder: TextBuilder) -> None:
    """Add the blocks of ``markup`` to ``builder`` (EPUB feeds one chapter after another)."""
    parser = _BlockParser(builder)
    parser.feed(markup)
    parser.close()
    parser.flush()


class _BlockParser(html.parser.HTMLParser):
    def __init__(self, builder: TextBuilder) -> None:
        super().__init__(convert_charrefs=True)
        self._builder = builder
        self._text: list[str] = []
        self._skip_depth = 0
        self._heading: int | None = None
        self._pre = 0
        # Tables nest; each open table keeps its rows, each row its cells, each cell its text.
        self._tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            if tag == "br" and not self._skip_depth:
                if self._cell is not None:
                    self._cell.append(" ")
                else:
                    self._text.append(" " if self._heading is not None else "\n")
            return
        if self._skip_depth or tag in _SKIPPED:
            self._skip_depth += 1
            return
        if tag == "table":
            self.flush()
            self._tables.append([])
        elif tag == "tr" and self._tables:
            self._tables[-1].append([])
        elif tag in ("td", "th") and self._tables:
            if not self._tables[-1]:
                self._tables[-1].append([])
            self._cell = []
        elif tag in _HEADINGS and not self._tables:
            self.flush()
            self._heading = _HEADINGS[tag]
        elif tag == "pre":
            self.flush()
            self._pre += 1
        elif tag in _BLOCKS:
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        if self._skip_depth:
            self._skip_depth -= 1
            return
        if tag in ("td", "th") and self._tables and self._cell is not None:
            self._tables[-1][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table" and self._tables:
            rows = self._tables.pop()
            if self._tables:  # a table inside a cell: its rows flow into that cell
                inner = "; ".join(" ".join(row) for row in rows)
                self._cell = (self._cell or []) + [inner]
            else:
                self._builder.table(rows)
        elif tag in _HEADINGS and self._heading is not None:
            self._builder.heading(self._heading, "".join(self._text))
            self._text = []
            self._heading = None
        elif tag == "pre" and self._pre:
            self._builder.paragraph("".join(self._text))
            self._text = []
            self._pre -= 1
        elif tag in _BLOCKS:
            self._break()

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        if self._cell is not None:
            self._cell.append(data)
        elif self._tables:
            return  # text between rows (whitespace, stray captions) is not part of a cell
        else:
            self._text.append(data)

    def _break(self) -> None:
        # A block ends a paragraph; inside a heading or a table cell it only separates words.
        if self._cell is not None:
            self._cell.append(" ")
        elif self._heading is not None:
            self._text.append(" ")
        else:
            self.flush()

    def flush(self) -> None:
        """Write the text gathered so far as paragraphs (one per line of the rendered page)."""
        if self._heading is not None:
            return  # the heading's own text is written when the heading closes
        text, self._text = "".join(self._text), []
        if self._pre:
            self._builder.paragraph(text)
            return
        lines = (re.sub(r"[ \t\r\f\v\xa0]+", " ", line).strip() for line in text.split("\n"))
        paragraph = "\n".join(line for line in lines if line)
        self._builder.paragraph(paragraph)
