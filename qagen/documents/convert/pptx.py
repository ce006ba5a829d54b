"""PPTX to text with python-pptx: one page per slide, the slide title as its heading, tables kept."""

from __future__ import annotations

import zipfile
from typing import Any

from qagen.documents.convert.builder import Converted, TextBuilder, Unconvertible
from qagen.documents.convert.progress import Progress


def convert_pptx(path: str, progress: Progress) -> Converted:
    import pptx  # the docs extra; imported only when a .pptx is met
    from pptx.exc import PackageNotFoundError

    try:
        deck = pptx.Presentation(path)
    except (zipfile.BadZipFile, PackageNotFoundError, KeyError, ValueError) as exc:
        raise Unconvertible(f"corrupt PPTX: {str(exc).rstrip('.') or type(exc).__name__}") from exc
    builder = TextBuilder()
    total = len(deck.slides)
    for number, slide in enumerate(deck.slides, start=1):
        builder.page(number)
        title_shape = slide.shapes.title
        title = title_shape.text_frame.text if title_shape is not None and title_shape.has_text_frame else ""
        # A slide without a title still starts a new heading, or its text would sit under the last one.
        if title.strip():
            builder.heading(1, title)
        else:
            builder.heading(1, f"Slide {number}", in_text=False)
        for shape in _reading_order(slide.shapes):
            if title_shape is not None and shape.shape_id == title_shape.shape_id:
                continue
            _add_shape(builder, shape)
        if slide.has_notes_slide:
            notes = slide.notes_slide.notes_text_frame
            if notes is not None and notes.text.strip():
                builder.paragraph(notes.text)
        progress(number, total)
    return builder.result()


def _reading_order(shapes: Any) -> list[Any]:
    # Shapes are stored in the order they were drawn; people read top to bottom, left to right.
    return sorted(shapes, key=lambda shape: (shape.top or 0, shape.left or 0))


def _add_shape(builder: TextBuilder, shape: Any) -> None:
    if getattr(shape, "has_table", False) and shape.has_table:
        builder.table([cell.text for cell in row.cells] for row in shape.table.rows)
    elif shape.shape_type is not None and getattr(shape, "shapes", None) is not None:  # a group
        for inner in _reading_order(shape.shapes):
            _add_shape(builder, inner)
    elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
        builder.paragraph("\n".join(p.text for p in shape.text_frame.paragraphs if p.text.strip()))
