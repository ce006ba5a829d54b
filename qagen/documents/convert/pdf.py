"""PDF (its text layer) to text with pdfminer.six, page by page.

pdfminer's layout analysis puts the text boxes of a page in reading order, so a two-column
page reads down the first column, then the second (the faster extractors follow the order
the text was drawn in, which interleaves the columns of many PDFs). One page is analysed at
a time, so memory stays flat however long the document. The outline (bookmarks), where
the PDF has one, gives the heading path; a table drawn as a grid of bordered cells is kept as
rows (a PDF has no table structure to read, only where the text and the lines are).
"""

from __future__ import annotations

from typing import Any

from qagen.documents.convert.builder import Converted, TextBuilder, Unconvertible
from qagen.documents.convert.progress import Progress

NO_TEXT_LAYER = "no text layer; run OCR first, e.g. with ocrmypdf"
MAX_CELLS = 400
ENCRYPTED = "encrypted PDF: it opens only with a password; save a copy without one (e.g. qpdf --decrypt)"


def convert_pdf(path: str, progress: Progress) -> Converted:
    from pdfminer.converter import PDFPageAggregator
    from pdfminer.layout import LAParams
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
                builder.page(pages)
                _write_page(builder, _page_blocks(device.get_result()), outline.get(page.pageid, []))
                progress(pages, max(total, pages))
        except (PDFSyntaxError, PSException) as exc:
            raise Unconvertible(f"corrupt PDF: {str(exc).rstrip('.') or type(exc).__name__} (page {pages + 1})") from exc
    converted = builder.result()
    if pages == 0:
        raise Unconvertible("corrupt PDF: it has no pages")
    if not converted.text.strip():
        raise Unconvertible(NO_TEXT_LAYER)
    return converted


def _page_blocks(layout: Any) -> list[str | list[list[str]]]:
    """The page's text boxes in reading order; the boxes inside a ruled table become that table's rows.

    A table drawn as a grid of cell rectangles (what most writers draw for a bordered table) is
    found from those rectangles; without them, its cells stay text boxes in reading order.
    """
    from pdfminer.layout import LTRect, LTTextContainer

    boxes = [box for box in layout if isinstance(box, LTTextContainer) and box.get_text().strip()]
    cells = [rect for rect in layout if isinstance(rect, LTRect) and rect.width > 4 and rect.height > 4]
    # Grouping is quadratic in the rectangles; a page with hundreds is a drawing, not a table.
    tables = _tables(cells) if len(cells) <= MAX_CELLS else []
    blocks: list[str | list[list[str]]] = []
    placed: set[int] = set()
    for box in boxes:
        x, y = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
        table = next((t for t, grid in enumerate(tables) if any(_inside(x, y, cell) for cell in grid)), None)
        if table is None:
            blocks.append(box.get_text())
            continue
        if table not in placed:  # the table goes where its first box is read
            placed.add(table)
            blocks.append(_table_rows(tables[table], boxes))
    return [_squeeze(block) if isinstance(block, str) else block for block in blocks]


def _tables(cells: list[Any]) -> list[list[Any]]:
    """Cell rectangles grouped by touching; a group of at least 2 x 2 cells is a table."""
    groups: list[list[Any]] = []
    for cell in cells:
        touching = [g for g in groups if any(_touch(cell, other) for other in g)]
        merged = [cell] + [c for g in touching for c in g]
        groups = [g for g in groups if g not in touching] + [merged]
    tables = []
    for group in groups:
        rows = {round(c.y1) for c in group}
        columns = {round(c.x0) for c in group}
        if len(rows) >= 2 and len(columns) >= 2:
            tables.append(group)
    return tables


def _table_rows(grid: list[Any], boxes: list[Any]) -> list[list[str]]:
    by_row: dict[int, list[Any]] = {}
    for cell in grid:
        by_row.setdefault(round(cell.y1), []).append(cell)
    rows = []
    for top in sorted(by_row, reverse=True):  # PDF y grows upwards: the top row has the largest y
        row = []
        for cell in sorted(by_row[top], key=lambda c: c.x0):
            inside = [b for b in boxes if _inside((b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2, cell)]
            row.append(" ".join(b.get_text().strip() for b in sorted(inside, key=lambda b: -b.y1)))
        rows.append(row)
    return rows


def _inside(x: float, y: float, cell: Any) -> bool:
    return bool(cell.x0 <= x <= cell.x1 and cell.y0 <= y <= cell.y1)


def _touch(a: Any, b: Any, slack: float = 1.5) -> bool:
    return bool(a.x0 <= b.x1 + slack and b.x0 <= a.x1 + slack and a.y0 <= b.y1 + slack and b.y0 <= a.y1 + slack)


def _squeeze(text: str) -> str:
    # Justified lines come out with runs of spaces between words.
    return "\n".join(" ".join(line.split()) for line in text.strip().splitlines())


def _write_page(builder: TextBuilder, blocks: list[str | list[list[str]]], headings: list[tuple[int, str]]) -> None:
    """The page's blocks, with each outline heading placed at the text box that prints it.

    Headings are looked for in outline order. One not found on the page (its title printed
    differently, or not at all) is placed right after the heading found before it, or at the
    page's top.
    """
    at: dict[int, list[tuple[int, str]]] = {}
    start = 0
    for level, title in headings:
        for index in range(start, len(blocks)):
            block = blocks[index]
            if isinstance(block, str) and _prints(block, title):
                at.setdefault(index, []).append((level, title))
                start = index + 1
                break
        else:
            at.setdefault(start, []).append((level, title))
    for index, block in enumerate(blocks):
        for level, title in at.get(index, []):
            builder.heading(level, title, in_text=False)
        if isinstance(block, str):
            builder.paragraph(block)
        else:
            builder.table(block)
    for level, title in at.get(len(blocks), []):  # after the page's last box: for what follows
        builder.heading(level, title, in_text=False)


def _prints(box: str, title: str) -> bool:
    """Whether the text box begins with the heading, allowing for a number before it ("2.1 Syntax")."""
    first = " ".join(box.split("\n", 1)[0].casefold().split())
    wanted = " ".join(title.casefold().split())
    if first.startswith(wanted):
        return True
    number, _, rest = first.partition(" ")
    return bool(number) and number.rstrip(".").replace(".", "").isalnum() and len(number) <= 8 and rest.startswith(wanted)


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
