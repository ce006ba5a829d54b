"""``OUT/review.html``: the run's data as JSON inside one HTML file with its own script and style.

The page needs no server and reaches nothing: its Content-Security-Policy allows only its own inline
script and style. Document text is hostile, so the data goes in a ``<script type="application/json">``
block with every character that could end it or start markup escaped, and the script builds the page
from DOM nodes and ``textContent``, never from HTML text.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from qagen.outfolder import REVIEW_PAGE, write_atomic
from qagen.review.data import RowText, read_run

# "<" and ">" could close the block or open a comment, "&" start an entity, U+2028/2029 end a line in old
# JavaScript parsers; a lone surrogate (a model's reply may hold one) cannot be written as UTF-8 at all.
# The first five, which document text is full of, are each replaced in one pass of str.replace: re.sub's
# Python call per character took a third of the page's CPU (85,000 calls at 10 MB). Surrogates are rare.
_UNSAFE_ESCAPED = tuple((c, f"\\u{ord(c):04x}") for c in "<>&\u2028\u2029")
_SURROGATE = re.compile("[\ud800-\udfff]")
_POLICY = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'"


def script_json(value: Any) -> str:
    """``value`` as JSON that can sit inside a script block: the unsafe characters as ``\\uXXXX`` escapes.

    A ``RowText`` is JSON already: only escaped. It was read as UTF-8, which holds no lone surrogate
    (looking for one in every row took 0.35 s of the 50 MB run's page).
    """
    as_read = isinstance(value, RowText)
    text = value if as_read else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for unsafe, escaped in _UNSAFE_ESCAPED:
        if unsafe in text:
            text = text.replace(unsafe, escaped)
    if not as_read and _SURROGATE.search(text):
        text = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text


def _asset(name: str) -> str:
    return resources.files("qagen.review").joinpath(name).read_text(encoding="utf-8")


def render_page(data: dict[str, Any]) -> str:
    """The whole page for ``data`` (``qagen.review.data.read_run``)."""
    return "".join(page_pieces(data))


def page_pieces(data: dict[str, Any]) -> Iterator[str]:
    """The page in pieces, each list of ``data`` (or iterator, as ``read_run`` gives) a row at a time.

    The same text as ``script_json(data)`` in one piece, without ever holding it: at 50 MB of documents,
    the page made as one string (the data, its JSON, the escaped JSON, the page) took 600 MB more at its peak.
    """
    title = html.escape(f"qagen review: {data['out']}")
    yield (
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{_POLICY}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{title}</title>\n<style>\n{_asset('review.css')}</style>\n</head>\n<body>\n"
        "<noscript>This page needs JavaScript to show the run.</noscript>\n<div id=\"app\"></div>\n"
        "<script type=\"application/json\" id=\"qagen-data\">{"
    )
    for position, (key, value) in enumerate(data.items()):
        yield ("," if position else "") + script_json(key) + ":"
        if isinstance(value, (list, Iterator)):
            yield from _array(value)
        else:
            yield script_json(value)
    yield f"}}</script>\n<script>\n{_asset('review.js')}</script>\n</body>\n</html>\n"


def _array(rows: Iterable[Any]) -> Iterator[str]:
    yield "["
    for position, row in enumerate(rows):
        yield ("," if position else "") + script_json(row)
    yield "]"


def write_review_page(out: Path) -> Path:
    """Write ``out/review.html`` atomically from the out folder's files; ConfigError or OutputError says why not."""
    path = out / REVIEW_PAGE
    write_atomic(path, page_pieces(read_run(out)))
    return path
