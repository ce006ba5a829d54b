"""Converting PDF, DOCX, PPTX, EPUB and HTML files to text with their sections (headings, pages, tables).

The libraries come with the optional ``docs`` extra (``pip install "qagen[docs]"``) and load
only when such a file is met. Each format has its own module; ``Converter`` runs them for one
load of the corpus: the cache first, then a worker process with a time limit. HTML needs no
library and is converted in-process.

Why these libraries (benchmarks/convert_bench.py prints the figures): pdfminer.six is the one
PDF candidate whose layout analysis reads a two-column page column by column (pypdf and
pypdfium2 follow drawing order, which interleaves the columns), at about 1.3 s per 100 pages;
mammoth (0.2 MB, pure Python) turns Word's heading styles and tables into HTML, so DOCX shares
the HTML converter; python-pptx and ebooklib are the maintained readers of their formats; the
standard library's HTML parser was 4 times faster than BeautifulSoup on a 1 MB page.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from qagen.documents.convert.builder import Converted, Unconvertible
from qagen.documents.convert.cache import ConvertedCache, default_cache_folder, file_digest
from qagen.documents.convert.html import convert_html
from qagen.documents.convert.worker import ConverterProcess
from qagen.progress import Reporter
from qagen.options import CONVERT_TIMEOUT

__all__ = ["FORMATS", "HTML_SUFFIXES", "Converted", "Converter", "Format", "Unconvertible", "convert_html",
           "default_cache_folder", "needs_docs_extra"]

DEFAULT_TIMEOUT = CONVERT_TIMEOUT  # seconds per file (--convert-timeout)
# A ZIP-based document may unpack to this many times the --max-file-size limit.
UNPACKED_LIMIT_FACTOR = 20
# A file of at least this many pages gets a progress line, then another every PROGRESS_NOTE_SECONDS.
LARGE_FILE_PAGES = 50
PROGRESS_NOTE_SECONDS = 10.0
HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})


@dataclass(frozen=True)
class Format:
    name: str  # the Document's "encoding": "pdf", "docx", ...
    label: str  # for messages: "PDF"
    target: str  # "module:function" of the converter, run in the worker process
    modules: tuple[str, ...]  # the docs extra's libraries it needs
    archive: bool = False  # a ZIP container, checked for its unpacked size first


FORMATS: dict[str, Format] = {
    ".pdf": Format("pdf", "PDF", "qagen.documents.convert.pdf:convert_pdf", ("pdfminer",)),
    ".docx": Format("docx", "DOCX", "qagen.documents.convert.docx:convert_docx", ("mammoth",), archive=True),
    ".pptx": Format("pptx", "PPTX", "qagen.documents.convert.pptx:convert_pptx", ("pptx",), archive=True),
    ".epub": Format("epub", "EPUB", "qagen.documents.convert.epub:convert_epub", ("ebooklib",), archive=True),
}


def needs_docs_extra(fmt: Format) -> bool:
    """True when a library the format needs is not installed."""
    return any(importlib.util.find_spec(module) is None for module in fmt.modules)


class Converter:
    """Converts the files of one load of the corpus; ``close`` ends its worker process."""

    def __init__(self, *, timeout: float, cache_folder: Path | None, max_unpacked: int, reporter: Reporter) -> None:
        self._timeout = timeout
        self._cache = ConvertedCache(cache_folder) if cache_folder is not None else None
        self._max_unpacked = max_unpacked
        self._reporter = reporter
        self._process = ConverterProcess()
        self._cache_problem_told = False
        self.converted = 0  # files converted by this load (not taken from the cache)
        self.from_cache = 0

    def convert(self, path: str, source: str, fmt: Format) -> Converted:
        """``path`` converted (or as cached); Unconvertible gives the skip reason."""
        digest = file_digest(path) if self._cache is not None else ""
        if self._cache is not None:
            cached = self._cache.get(digest, fmt.name)
            if cached is not None:
                self.from_cache += 1
                if isinstance(cached, str):
                    raise Unconvertible(cached)
                return cached
        self.converted += 1
        try:
            result: Converted | str = self._process.convert(
                fmt.target, path, archive=fmt.label if fmt.archive else None, max_unpacked=self._max_unpacked,
                timeout=self._timeout, on_progress=self._progress_line(source, fmt),
            )
        except Unconvertible as exc:
            if not exc.lasting:
                raise  # may go another way next time (a longer limit, another machine): not kept
            result = str(exc)
        self._store(digest, fmt, result)
        if isinstance(result, str):
            raise Unconvertible(result)
        return result

    def close(self) -> None:
        self._process.close()

    def _store(self, digest: str, fmt: Format, result: Converted | str) -> None:
        if self._cache is None:
            return
        problem = self._cache.put(digest, fmt.name, result)
        if problem and not self._cache_problem_told:
            self._cache_problem_told = True
            self._reporter.note(f"warning: converted files are not cached ({problem}); a rerun converts them again")

    def _progress_line(self, source: str, fmt: Format) -> Callable[[int, int], None]:
        unit = "slide" if fmt.name == "pptx" else "chapter" if fmt.name == "epub" else "page"
        next_note = 0.0

        def on_progress(done: int, total: int) -> None:
            nonlocal next_note
            now = time.monotonic()
            if total >= LARGE_FILE_PAGES and done < total and now >= next_note:
                next_note = now + PROGRESS_NOTE_SECONDS
                self._reporter.note(f"converting {source}: {unit} {done} of {total}")

        return on_progress
