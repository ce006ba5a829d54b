"""Compare the document converters qagen could use, and time qagen's own conversion of a long PDF.

    python benchmarks/convert_bench.py              # 100-page PDF
    python benchmarks/convert_bench.py --pages 20
    python benchmarks/convert_bench.py --pdf real.pdf --pdf other.pdf   # also time each candidate on your own PDFs

Every file is written here with the writer libraries of the test extra (fpdf2, python-docx).
For each candidate that is installed it prints: whether a two-column page (drawn line by line
across the page, as many PDF writers do) reads column by column; whether a table row stays on
one line; the time to convert the long file; and the installed size of the library with its
dependencies. Then qagen's path: the first load (worker process started, every page
converted), the second (from the cache), the worker's start-up cost, and the worker's peak
memory on a file five times longer (flat memory: about the same figure).
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import resource
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def installed_mb(*names: str) -> float:
    total = 0
    for name in names:
        try:
            total += sum(f.size or 0 for f in distribution(name).files or [])
        except PackageNotFoundError:
            pass
    return total / 1e6


def pdf_pypdf(path: Path) -> list[str]:
    import pypdf

    return [page.extract_text() for page in pypdf.PdfReader(path).pages]


def pdf_pdfminer(path: Path) -> list[str]:
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LTTextContainer

    return ["".join(box.get_text() for box in page if isinstance(box, LTTextContainer)) for page in extract_pages(path)]


def pdf_pypdfium2(path: Path) -> list[str]:
    import pypdfium2

    document = pypdfium2.PdfDocument(path)
    try:
        return [document[i].get_textpage().get_text_range() for i in range(len(document))]
    finally:
        document.close()


def pdf_qagen(path: Path) -> list[str]:
    from qagen.documents.convert.pdf import convert_pdf

    return [convert_pdf(str(path), lambda done, total: None).text.replace(" | ", " ")]


PDF = [  # (name, module, distributions with their dependencies, extractor)
    ("pypdf", "pypdf", ("pypdf",), pdf_pypdf),
    ("pdfminer.six", "pdfminer", ("pdfminer.six", "cryptography", "cffi", "pycparser", "charset-normalizer"), pdf_pdfminer),
    ("pypdfium2", "pypdfium2", ("pypdfium2",), pdf_pypdfium2),
    ("qagen (pdfminer)", "pdfminer", ("pdfminer.six", "cryptography", "cffi", "pycparser", "charset-normalizer"), pdf_qagen),
]


def docx_python_docx(path: Path) -> str:
    import docx

    parts = []
    for block in docx.Document(str(path)).iter_inner_content():
        if hasattr(block, "rows"):
            parts.extend(" | ".join(cell.text for cell in row.cells) for row in block.rows)
        else:
            parts.append(block.text)
    return "\n".join(parts)


def docx_mammoth(path: Path) -> str:
    import mammoth

    from qagen.documents.convert.html import convert_html

    with open(path, "rb") as handle:
        return convert_html(mammoth.convert_to_html(handle).value).text


def html_stdlib(markup: str) -> str:
    from qagen.documents.convert.html import convert_html

    return convert_html(markup).text


def html_bs4(markup: str) -> str:
    import bs4

    return bs4.BeautifulSoup(markup, "html.parser").get_text("\n")


def timed(work: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def write_long_docx(path: Path, paragraphs: int) -> None:
    import docx

    document = docx.Document()
    for i in range(paragraphs):
        if i % 20 == 0:
            document.add_heading(f"Part {i // 20}", level=1)
        document.add_paragraph(f"Paragraph {i} says the depot opens at {i % 12 + 1} o'clock on weekdays.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text, table.cell(1, 0).text, table.cell(1, 1).text = "Zone", "Fare", "A", "2.50 EUR"
    document.save(str(path))


def compare_pdf(folder: Path, pages: int) -> None:
    import doc_files
    from fpdf import FPDF

    columns = doc_files.two_column_pdf(folder / "columns.pdf", rows=20)
    table = folder / "table.pdf"
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    with pdf.table() as grid:
        for values in (("Zone", "Fare", "Note"), ("A", "2.50 EUR", "peak"), ("B", "3.10 EUR", "off-peak")):
            row = grid.row()
            for value in values:
                row.cell(value)
    pdf.output(str(table))
    long = doc_files.long_pdf(folder / "long.pdf", pages)
    print(f"PDF ({pages} pages)      two-column in order  table row on one line  time      installed")
    for name, module, dists, extract in PDF:
        if importlib.util.find_spec(module) is None:
            print(f"  {name:18} not installed")
            continue
        text = "\n".join(extract(columns))
        west, east = text.find("West line 19"), text.find("East line 0")
        in_order = 0 <= west < east
        row = any(re.search(r"A\s+2\.50 EUR\s+peak", line) for line in "\n".join(extract(table)).splitlines())
        seconds, _ = timed(lambda: extract(long))
        print(f"  {name:18} {str(in_order):20} {str(row):22} {seconds:6.2f} s  {installed_mb(*dists):5.1f} MB")


def compare_real_pdfs(paths: list[str]) -> None:
    for path in paths:
        print(f"{Path(path).name}:")
        for name, module, _, extract in PDF:
            if importlib.util.find_spec(module) is None:
                continue
            seconds, pages = timed(lambda: extract(Path(path)))
            text = "".join(pages)  # type: ignore[arg-type]
            print(f"  {name:18} {len(pages):4} pages {seconds:6.2f} s {len(text):8} characters {text.count(chr(0xFFFD)):4} U+FFFD")  # type: ignore[arg-type]


def compare_docx(folder: Path, pages: int) -> None:
    if importlib.util.find_spec("docx") is None:
        print("DOCX: python-docx (the writer) not installed")
        return
    path = folder / "long.docx"
    write_long_docx(path, pages * 20)
    print(f"DOCX ({pages * 20} paragraphs)  table row kept  time      installed")
    for name, module, dists, extract in (
        ("python-docx", "docx", ("python-docx", "lxml"), docx_python_docx),
        ("mammoth", "mammoth", ("mammoth", "cobble"), docx_mammoth),
    ):
        if importlib.util.find_spec(module) is None:
            print(f"  {name:18} not installed")
            continue
        seconds, text = timed(lambda: extract(path))
        print(f"  {name:18} {str('A | 2.50 EUR' in str(text)):15} {seconds:6.2f} s  {installed_mb(*dists):5.1f} MB")


def compare_html(pages: int) -> None:
    body = "".join(f"<h2>Part {i}</h2><p>Paragraph {i} about <b>fares</b>.</p>" for i in range(pages * 200))
    markup = f"<html><head><script>var a = 1;</script></head><body>{body}</body></html>"
    print(f"HTML ({len(markup) / 1e6:.1f} MB)      script left out  time      installed")
    for name, module, dists, extract in (
        ("stdlib html.parser", "html.parser", (), html_stdlib),
        ("beautifulsoup4", "bs4", ("beautifulsoup4", "soupsieve"), html_bs4),
    ):
        if importlib.util.find_spec(module) is None:
            print(f"  {name:18} not installed")
            continue
        seconds, text = timed(lambda: extract(markup))
        print(f"  {name:18} {str('var a' not in str(text)):16} {seconds:6.2f} s  {installed_mb(*dists):5.1f} MB")


def qagen_path(folder: Path, pages: int) -> None:
    import doc_files

    from qagen.documents.convert.worker import ConverterProcess
    from qagen.documents.loading import load_corpus

    corpus = folder / "corpus"
    corpus.mkdir()
    doc_files.long_pdf(corpus / "manual.pdf", pages)
    cache = folder / "cache"
    cold, first = timed(lambda: load_corpus(corpus, convert_cache=cache))
    warm, second = timed(lambda: load_corpus(corpus, convert_cache=cache))
    print(f"qagen, {pages}-page PDF: first load {cold:.2f} s ({first.converted} converted), "  # type: ignore[attr-defined]
          f"rerun {warm:.3f} s ({second.converted} converted, {second.converted_from_cache} from the cache)")  # type: ignore[attr-defined]

    tiny = doc_files.multi_page_pdf(folder / "tiny.pdf")
    process = ConverterProcess()
    target = "qagen.documents.convert.pdf:convert_pdf"
    start_and_convert, _ = timed(lambda: process.convert(target, str(tiny), archive=None, max_unpacked=0, timeout=60, on_progress=lambda d, t: None))
    convert_only, _ = timed(lambda: process.convert(target, str(tiny), archive=None, max_unpacked=0, timeout=60, on_progress=lambda d, t: None))
    process.close()
    print(f"worker process: start-up {start_and_convert - convert_only:.2f} s once per load, then {convert_only * 1000:.0f} ms for a 3-page PDF")

    for count in (pages, pages * 5):
        path = doc_files.long_pdf(folder / f"peak-{count}.pdf", count)
        process = ConverterProcess()
        seconds, _ = timed(lambda: process.convert(target, str(path), archive=None, max_unpacked=0, timeout=600, on_progress=lambda d, t: None))
        process.close()
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"worker on {count} pages ({path.stat().st_size / 1e6:.1f} MB): {seconds:.2f} s, peak memory of any worker so far {peak:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--pdf", action="append", default=[], help="a real PDF to time each candidate on (repeatable)")
    args = parser.parse_args()
    if importlib.util.find_spec("fpdf") is None:
        print("0 files written: install the test extra (fpdf2, python-docx) to run this benchmark")
        return
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        compare_pdf(folder, args.pages)
        compare_real_pdfs(args.pdf)
        compare_docx(folder, args.pages)
        compare_html(args.pages)
        qagen_path(folder, args.pages)


if __name__ == "__main__":
    main()
