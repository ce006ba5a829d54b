"""EPUB to text with ebooklib: the chapters in spine (reading) order, each through the HTML converter.

A chapter's own h1-h6 give the heading path; a chapter with no heading of its own is
headed by its title in the book's table of contents.
"""

from __future__ import annotations

import zipfile
from typing import Any

from qagen.documents.convert.builder import Converted, TextBuilder, Unconvertible
from qagen.documents.convert.html import feed_html
from qagen.documents.convert.progress import Progress


def convert_epub(path: str, progress: Progress) -> Converted:
    import ebooklib  # the docs extra; imported only when an .epub is met
    from ebooklib import epub

    try:
        book = epub.read_epub(path, options={"ignore_ncx": True})
    except (zipfile.BadZipFile, KeyError, ValueError, AttributeError, ebooklib.epub.EpubException) as exc:
        raise Unconvertible(f"corrupt EPUB: {str(exc).rstrip('.') or type(exc).__name__}") from exc
    titles = _toc_titles(book.toc)
    chapters = [book.get_item_with_id(idref) for idref, *_ in book.spine]
    documents = [item for item in chapters if item is not None and item.get_type() == ebooklib.ITEM_DOCUMENT]
    builder = TextBuilder()
    for number, item in enumerate(documents, start=1):
        markup = item.get_content().decode("utf-8", "replace")
        title = titles.get(item.get_name())
        if title:
            # Replaced by the chapter's own h1 where it has one: the same level.
            builder.heading(1, title, in_text=False)
        feed_html(markup, builder)
        progress(number, len(documents))
    return builder.result()


def _toc_titles(entries: Any) -> dict[str, str]:
    """Chapter file name -> its title in the table of contents (the first entry naming the file)."""
    titles: dict[str, str] = {}
    for entry in entries:
        if isinstance(entry, tuple):  # (section, children)
            section, children = entry[0], entry[1]
            _add_title(titles, section)
            for name, title in _toc_titles(children).items():
                titles.setdefault(name, title)
        else:
            _add_title(titles, entry)
    return titles


def _add_title(titles: dict[str, str], entry: Any) -> None:
    href = getattr(entry, "href", None)
    title = getattr(entry, "title", None)
    if href and title:
        titles.setdefault(href.split("#", 1)[0], title)
