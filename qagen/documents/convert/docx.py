"""DOCX to text through mammoth, which maps Word's heading styles to h1-h6 and keeps tables.

mammoth is small and pure Python; its HTML goes through qagen's own HTML converter, so
headings and tables come out of a DOCX exactly as they do from a web page.
"""

from __future__ import annotations

import zipfile

from qagen.documents.convert.builder import Converted, Unconvertible
from qagen.documents.convert.html import convert_html
from qagen.documents.convert.progress import Progress

# Word's "Title" style is the document's outermost heading; mammoth leaves it a plain paragraph.
_STYLE_MAP = "p[style-name='Title'] => h1:fresh"


def convert_docx(path: str, progress: Progress) -> Converted:
    import mammoth  # the docs extra; imported only when a .docx is met

    with open(path, "rb") as handle:
        try:
            markup = mammoth.convert_to_html(handle, style_map=_STYLE_MAP).value
        except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:  # OSError: no word/document.xml
            raise Unconvertible(f"corrupt DOCX: {_describe(exc)}") from exc
    return convert_html(markup)


def _describe(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return "a part of the document is missing"
    return str(exc).split(". ")[0].rstrip(".") or type(exc).__name__
