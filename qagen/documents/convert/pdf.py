"""PDF (its text layer) to text with pdfminer.six, page by page.

pdfminer's layout analysis puts the text boxes of a page in reading order, so a two-column
page reads down the first column, then the second (the faster extractors follow the order
the text was drawn in, which interleaves the columns of many PDFs). One page is analysed at
a time, so memory stays flat however long the document. The outline (bookmarks), where
the PDF has one, gives the heading path.
"""

from __future__ import annotations

from typing import Any

from qagen.documents.convert.builder import Converted, TextBuilder, Unconvertible
from qagen.documents.convert.progress import Progress

NO_TEXT_LAYER = "no text layer; run OCR first, e.g. with ocrmypdf"
ENCRYPTED = "encrypted PDF: it opens only with a password; save a copy without one (e.g. qpdf --decrypt)"


def convert_pdf(path: str, progress: Progress) -> Converted:
    from pdfminer.converter import PDFPageAggregator
    from pdfminer.layout import LAParams, LTTextContainer
    from pdfminer.pdfdocument import PDFDocument, PDFEncryptionError, PDFPasswordIncorrect
    from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
    from pdfminer.pdfpage import PDFPage
    from pdfminer.pdfparser import PDFParser, PDFSyntaxError
    from pdfminer.psparser import PSException

    with open(path, "rb") as handle:
        try:
            document = PDFDocument(PDFParser(handle))
        except (PDFPasswordIncorrect, PDFEncryptionError) as exc:
            raise Unconvertible(ENCRYPTED) from exc
        except (PDFSyntaxError, PSException, ValueError, TypeError, KeyError) as exc:
            raise Unconvertible(f"corrupt PDF: {str(exc).rstrip('.') or type(exc).__name__}") from exc
        total = _page_count(document)
        outline = _outline(document)
        resources = PDFResourceManager()
        device = PDFPageAggregator(resources, laparams=LAParams())
        interpreter = PDFPageInterpreter(resources, device)
        builder = TextBuilder()
        pages = 0
        try:
            for pages, page in enumerate(PDFPage.create_pages(document), start=1):
                interpreter.process_page(page)
                boxes = [box.get_text() for box in device.get_result() if isinstance(box, LTTextContainer)]
                builder.page(pages)
                _write_page(builder, [b for b in boxes if b.strip()], outline.get(page.pageid, []))
                progress(pages, max(total, pages))
        except (PDFSyntaxError, PSException) as exc:
            raise Unconvertible(f"corrupt PDF: {str(exc).rstrip('.') or type(exc).__name__} (page {pages + 1})") from exc
    converted = builder.result()
    if pages == 0:
        raise Unconvertible("corrupt PDF: it has no pages")
    if not converted.text.strip():
        raise Unconvertible(NO_TEXT_LAYER)
    return converted


def _write_page(builder: TextBuilder, boxes: list[str], headings: list[tuple[int, str]]) -> None:
    """The page's text boxes, with each outline heading placed at the box that prints it.

    A heading whose title is not printed on the page (or not found) applies from the page's top.
    """
    found: dict[int, tuple[int, str]] = {}
    unplaced = []
    start = 0
    for level, title in headings:
        wanted = _words(title)
        for index in range(start, len(boxes)):
            if _words(boxes[index])[: len(wanted)] == wanted:
                found[index] = (level, title)
                start = index + 1
                break
        else:
            unplaced.append((level, title))
    for level, title in unplaced:
        builder.heading(level, title, in_text=False)
    for index, box in enumerate(boxes):
        if index in found:
            level, title = found[index]
            builder.heading(level, title, in_text=False)
        builder.paragraph(box)


def _words(text: str) -> list[str]:
    return text.casefold().split()


def _page_count(document: Any) -> int:
    from pdfminer.pdftypes import resolve1

    try:
        count = resolve1(resolve1(document.catalog["Pages"])["Count"])
        return int(count) if isinstance(count, int) and count > 0 else 0
    except Exception:  # a damaged page tree: the pages are still walked, just without a total
        return 0


def _outline(document: Any) -> dict[int, list[tuple[int, str]]]:
    """Page object id -> the outline headings (level, title) that point into that page."""
    from pdfminer.pdfdocument import PDFNoOutlines
    from pdfminer.pdftypes import PDFObjRef, resolve1

    headings: dict[int, list[tuple[int, str]]] = {}
    try:
        for level, title, dest, action, _ in document.get_outlines():
            if dest is None and action is not None:
                action = resolve1(action)
                dest = action.get("D") if isinstance(action, dict) else None
            dest = resolve1(dest)
            if isinstance(dest, (bytes, str)):
                dest = resolve1(document.get_dest(dest))
            if isinstance(dest, dict):
                dest = resolve1(dest.get("D"))
            if isinstance(dest, list) and dest and isinstance(dest[0], PDFObjRef) and isinstance(title, str) and title.strip():
                headings.setdefault(dest[0].objid, []).append((level, title.strip()))
    except PDFNoOutlines:
        return {}
    except Exception:  # a broken outline costs the headings, not the text
        return headings
    return headings
