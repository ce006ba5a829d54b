"""PDF, DOCX, PPTX, EPUB and HTML files: their text, headings, pages and tables reach the Documents.

Every file is written at test time by the format's own writer library (tests/doc_files.py).
A fact is checked where it lands: the Section covering its offset has the right page and
heading path, and a table is a kind="table" section laid out as "cell | cell" lines.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import doc_files
import qagen.records
from qagen.cli import main
from qagen.documents import loading
from qagen.documents.convert import FORMATS, Format
from qagen.documents.loading import load_corpus
from qagen.progress import Reporter
from qagen.records import Document, Section


class Notes(Reporter):
    def __init__(self) -> None:
        self.notes: list[str] = []

    def note(self, message: str) -> None:
        self.notes.append(message)


def section_at(document: Document, fact: str) -> Section:
    """The section holding ``fact`` (which must be in the text)."""
    offset = document.text.find(fact)
    assert offset >= 0, f"{fact!r} is not in {document.source}: {document.text[:500]!r}"
    covering = [s for s in document.sections if s.start <= offset]
    assert covering, f"no section covers offset {offset} of {document.source}"
    return covering[-1]


def load_one(path: Path, tmp_path: Path, **options: object) -> Document:
    result = load_corpus(path, convert_cache=tmp_path / "cache", **options)  # type: ignore[arg-type]
    assert not result.skipped, result.skipped
    return result.documents[0]


def skip_reason(path: Path, tmp_path: Path, **options: object) -> str:
    corpus = path.parent
    (corpus / "keep.txt").write_text("Something to read, so the load is not an error.\n", encoding="utf-8")
    result = load_corpus(corpus, convert_cache=tmp_path / "cache", **options)  # type: ignore[arg-type]
    reasons = {s.source: s.reason for s in result.skipped}
    assert path.name in reasons, f"{path.name} was not skipped: {[d.source for d in result.documents]}"
    return reasons[path.name]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    return folder


# -- each format: text, pages, headings, tables -------------------------------------------


def test_a_multi_page_pdf_gives_each_fact_its_page_and_outline_heading(corpus: Path, tmp_path: Path) -> None:
    document = load_one(doc_files.multi_page_pdf(corpus / "fares.pdf"), tmp_path)

    assert document.encoding == "pdf"
    for page, (heading, facts) in doc_files.PDF_PAGES.items():
        for fact in facts:
            section = section_at(document, fact)
            assert (section.page, section.heading, section.kind) == (page, (heading,), "text")
    table = section_at(document, "Card | Discount\nStudent card | 50%\nSenior card | 30%")
    assert (table.page, table.heading, table.kind) == (2, ("Concessions",), "table")


def test_pdf_outline_headings_start_where_the_page_prints_them_even_numbered(corpus: Path, tmp_path: Path) -> None:
    document = load_one(doc_files.numbered_sections_pdf(corpus / "lost.pdf"), tmp_path)

    assert section_at(document, "Found items go to the office").heading == ("Lost property",)
    assert section_at(document, "Umbrellas are kept for 90 days.").heading == ("Lost property", "Umbrellas")
    assert section_at(document, "3.1 Umbrellas").heading == ("Lost property", "Umbrellas")


def test_a_two_column_pdf_page_reads_down_the_left_column_before_the_right(corpus: Path, tmp_path: Path) -> None:
    # The writer draws both columns line by line across the page; reading that order would
    # interleave the columns sentence by sentence.
    document = load_one(doc_files.two_column_pdf(corpus / "columns.pdf", rows=12), tmp_path)

    west = [document.text.index(f"West line {i} of the left column.") for i in range(12)]
    east = [document.text.index(f"East line {i} of the right column.") for i in range(12)]
    assert west == sorted(west) and east == sorted(east)
    assert max(west) < min(east)


def test_a_docx_keeps_its_heading_styles_as_the_path_and_its_table_as_rows(corpus: Path, tmp_path: Path) -> None:
    document = load_one(doc_files.docx_with_headings_and_table(corpus / "handbook.docx"), tmp_path)

    assert document.encoding == "docx"
    leave = section_at(document, "Every driver has 28 days of paid leave a year.")
    assert (leave.heading, leave.page, leave.kind) == (("Staff handbook", "Holidays"), None, "text")
    table = section_at(document, "Early | 05:00-13:00")
    assert (table.heading, table.kind) == (("Staff handbook", "Shifts"), "table")
    assert "Shift | Hours\nEarly | 05:00-13:00\nLate | 13:00-21:00" in document.text
    jackets = section_at(document, "Jackets are replaced every second winter.")
    assert jackets.heading == ("Uniforms",)  # a new level-1 heading closes the old path


def test_a_pptx_gives_each_slide_its_page_and_title_and_keeps_tables(corpus: Path, tmp_path: Path) -> None:
    document = load_one(doc_files.pptx_with_slides(corpus / "results.pptx"), tmp_path)

    growth = section_at(document, "Ridership grew 12 percent in the third quarter.")
    assert (growth.page, growth.heading, growth.kind) == (1, ("Quarterly results",), "text")
    fleet = section_at(document, "Trams | 41")
    assert (fleet.page, fleet.heading, fleet.kind) == (2, ("Fleet",), "table")
    assert "Vehicle | Count\nTrams | 41\nBuses | 230" in document.text


def test_an_epub_reads_its_chapters_in_spine_order_with_their_headings(corpus: Path, tmp_path: Path) -> None:
    document = load_one(doc_files.epub_with_chapters(corpus / "history.epub"), tmp_path)

    founding = section_at(document, "The depot opened in 1897 with horse trams.")
    assert founding.heading == ("Founding",)
    harbour = section_at(document, "Electric trams reached the harbour in 1902.")
    assert harbour.heading == ("Electrification", "The first line")
    assert section_at(document, "1910 | 6").kind == "table"
    assert document.text.index("1897") < document.text.index("1902") < document.text.index("41 trams")
    assert section_at(document, "Today 41 trams run from the depot.").heading == ("Today",)  # from the table of contents


def test_html_headings_make_the_path_and_tables_become_rows(corpus: Path, tmp_path: Path) -> None:
    page = corpus / "fares.html"
    page.write_text(
        "<html><head><title>Fares</title><style>p {color: red}</style><script>var x = 1;</script></head><body>"
        "<nav><a href='/'>Home</a></nav><h1>Fares</h1><p>Fares change on 1 <b>March</b>.</p>"
        "<h2>Zones</h2><table><tr><th>Zone</th><th>Price</th></tr><tr><td>A</td><td>2.50 EUR</td></tr></table>"
        "<h3>Night buses</h3><p>Night buses cost double.</p><h2>Refunds</h2><p>Refunds take ten days.</p></body></html>",
        encoding="utf-8",
    )
    document = load_one(page, tmp_path)

    assert document.encoding == "html"
    assert "var x" not in document.text and "color: red" not in document.text and "Home" not in document.text
    assert section_at(document, "Fares change on 1 March.").heading == ("Fares",)
    table = section_at(document, "A | 2.50 EUR")
    assert (table.heading, table.kind) == (("Fares", "Zones"), "table")
    assert section_at(document, "Night buses cost double.").heading == ("Fares", "Zones", "Night buses")
    assert section_at(document, "Refunds take ten days.").heading == ("Fares", "Refunds")


def test_html_markup_inside_headings_and_cells_stays_with_them(corpus: Path, tmp_path: Path) -> None:
    page = corpus / "odd.htm"
    page.write_text(
        "<h1>Part<div>One</div></h1><p>Opening words.</p>"
        "<table><tr><td>Line one<br>line two</td><td><p>Para</p><p>two</p></td></tr><tr><td>x</td><td>y</td></tr></table>",
        encoding="utf-8",
    )
    document = load_one(page, tmp_path)

    assert section_at(document, "Opening words.").heading == ("Part One",)
    assert "Line one line two | Para two\nx | y" in document.text


# -- without the docs extra -----------------------------------------------------------------


def test_without_the_docs_extra_such_files_are_skipped_and_the_summary_counts_them(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(loading, "needs_docs_extra", lambda fmt: True)  # as if pdfminer & co were not installed
    doc_files.multi_page_pdf(corpus / "fares.pdf")
    doc_files.docx_with_headings_and_table(corpus / "handbook.docx")
    (corpus / "notes.txt").write_text("The depot opens at five in the morning on weekdays.\n", encoding="utf-8")

    code = main([str(corpus), "-o", str(tmp_path / "out"), "--quiet"])

    assert code == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert report["files_skipped"] == [
        {"source": "fares.pdf", "reason": "install qagen[docs] to read .pdf files"},
        {"source": "handbook.docx", "reason": "install qagen[docs] to read .docx files"},
    ]
    out = capsys.readouterr().out
    assert '2 skipped (2 need pip install "qagen[docs]")' in out


# -- bad documents: a skip with its reason, never a traceback or a hang ---------------------


def test_a_scanned_pdf_is_skipped_with_a_pointer_to_ocr(corpus: Path, tmp_path: Path) -> None:
    reason = skip_reason(doc_files.scanned_pdf(corpus / "scan.pdf"), tmp_path)
    assert reason == "no text layer; run OCR first, e.g. with ocrmypdf"


def test_an_encrypted_pdf_is_skipped_as_encrypted(corpus: Path, tmp_path: Path) -> None:
    reason = skip_reason(doc_files.encrypted_pdf(corpus / "locked.pdf"), tmp_path)
    assert reason.startswith("encrypted PDF: it opens only with a password")


def test_a_pdf_encrypted_without_a_user_password_converts(corpus: Path, tmp_path: Path) -> None:
    # Permissions-only encryption (an owner password) is common on published PDFs; it opens as is.
    document = load_one(doc_files.encrypted_pdf(corpus / "published.pdf", user_password="", algorithm="AES-256"), tmp_path)
    assert section_at(document, "Students under 26 pay half fare on weekdays.").page == 2


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("broken.pdf", b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog", "corrupt PDF"),
        ("broken.docx", b"PK\x03\x04 this is not the rest of a zip", "corrupt DOCX"),
        ("broken.epub", b"PK\x03\x04 nor is this", "corrupt EPUB"),
        ("broken.pptx", b"not a zip at all", "corrupt PPTX"),
    ],
)
def test_a_corrupt_document_is_skipped_as_corrupt(corpus: Path, tmp_path: Path, name: str, data: bytes, reason: str) -> None:
    path = corpus / name
    path.write_bytes(data)
    assert skip_reason(path, tmp_path).startswith(reason)


def test_a_zip_whose_members_are_not_a_docx_is_skipped_as_corrupt(corpus: Path, tmp_path: Path) -> None:
    path = corpus / "odd.docx"
    doc_files.zip_bomb(path, label_part="readme.txt", unpacked_mb=1)
    assert skip_reason(path, tmp_path).startswith("corrupt DOCX")


def test_a_docx_that_unpacks_to_gigabytes_is_refused_before_it_is_opened(corpus: Path, tmp_path: Path) -> None:
    bomb = doc_files.zip_bomb(corpus / "bomb.docx", unpacked_mb=1200)
    assert bomb.stat().st_size < 5 * 2**20

    reason = skip_reason(bomb, tmp_path)

    assert reason.startswith("DOCX unpacks to 1,200 MB")
    assert "over the 1,000 MB limit (20 x --max-file-size); not opened" in reason


def test_a_500_page_pdf_converts_with_a_progress_line(corpus: Path, tmp_path: Path) -> None:
    notes = Notes()
    document = load_one(doc_files.long_pdf(corpus / "manual.pdf", pages=500), tmp_path, reporter=notes)

    assert section_at(document, "Page 500 line 19 says").page == 500
    assert section_at(document, "Page 250 line 0 says").page == 250
    assert notes.notes and notes.notes[0].startswith("converting manual.pdf: page ")
    assert notes.notes[0].endswith(" of 500")


def test_a_conversion_over_the_time_limit_is_skipped_and_the_next_file_still_converts(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A converter that never returns stands in for a pathological file; the worker process is ended.
    monkeypatch.setitem(FORMATS, ".slow", Format("slow", "SLOW", "convert_fakes:hang", ()))
    (corpus / "a.slow").write_bytes(b"whatever")
    doc_files.multi_page_pdf(corpus / "b.pdf")

    result = load_corpus(corpus, convert_cache=tmp_path / "cache", convert_timeout=0.5)

    assert [s.reason for s in result.skipped] == ["conversion took longer than 0.5 s; --convert-timeout raises the limit"]
    assert [d.source for d in result.documents] == ["b.pdf"]
    # A time-out is not cached: with a longer limit (here, a converter that works) the file converts.
    monkeypatch.setitem(FORMATS, ".slow", Format("slow", "SLOW", "convert_fakes:echo", ()))
    again = load_corpus(corpus, convert_cache=tmp_path / "cache")
    assert [d.text for d in again.documents if d.source == "a.slow"] == ["whatever"]
    assert (again.converted, again.converted_from_cache) == (1, 1)


def test_a_converter_that_dies_costs_that_file_only(corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(FORMATS, ".boom", Format("boom", "BOOM", "convert_fakes:crash", ()))
    (corpus / "a.boom").write_bytes(b"whatever")
    doc_files.multi_page_pdf(corpus / "b.pdf")

    result = load_corpus(corpus, convert_cache=tmp_path / "cache")

    assert [s.reason for s in result.skipped] == ["the converter stopped on this file (exit code 3); it may be damaged"]
    assert [d.source for d in result.documents] == ["b.pdf"]


def test_a_conversion_that_needs_too_much_memory_is_skipped(corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(FORMATS, ".hog", Format("hog", "HOG", "convert_fakes:hog", ()))
    (corpus / "a.hog").write_bytes(b"whatever")

    reason = skip_reason(corpus / "a.hog", tmp_path)

    assert reason == "it needs more than the 4 GB of memory one conversion may use"


def test_a_script_without_a_main_guard_can_convert(corpus: Path, tmp_path: Path) -> None:
    # The converter's process must not run the caller's script again (what multiprocessing's
    # spawn does with a script that has no `if __name__ == "__main__":`).
    doc_files.multi_page_pdf(corpus / "fares.pdf")
    script = tmp_path / "make_dataset.py"
    script.write_text(
        "import sys\n"
        "from qagen.documents.loading import load_corpus\n"
        f"result = load_corpus({str(corpus)!r}, convert_cache={str(tmp_path / 'cache')!r})\n"
        "print('ran', [d.source for d in result.documents], [s.reason for s in result.skipped])\n",
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(Path(qagen.__file__).parent.parent)}

    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)

    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["ran ['fares.pdf'] []"]
    assert done.stderr == ""


def test_convert_timeout_is_a_checked_setting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path), "--convert-timeout", "0"]) == 2
    assert capsys.readouterr().err.strip() == "error: --convert-timeout must be above 0 (got '0')."


# -- converted once: the cache ----------------------------------------------------------------


def test_a_rerun_converts_nothing_and_an_edited_file_converts_again(corpus: Path, tmp_path: Path) -> None:
    doc_files.multi_page_pdf(corpus / "fares.pdf")
    doc_files.docx_with_headings_and_table(corpus / "handbook.docx")
    doc_files.scanned_pdf(corpus / "scan.pdf")
    cache = tmp_path / "cache"

    first = load_corpus(corpus, convert_cache=cache)
    second = load_corpus(corpus, convert_cache=cache)

    assert (first.converted, first.converted_from_cache) == (3, 0)
    assert (second.converted, second.converted_from_cache) == (0, 3)
    assert second.documents == first.documents and second.skipped == first.skipped

    doc_files.multi_page_pdf(corpus / "fares.pdf", {1: ("Tickets", ["A week ticket costs 30 euros."])})
    third = load_corpus(corpus, convert_cache=cache)
    assert (third.converted, third.converted_from_cache) == (1, 2)
    assert "A week ticket costs 30 euros." in third.documents[0].text


def test_the_cache_folder_follows_the_setting_and_a_rerun_of_the_command_converts_nothing(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc_files.multi_page_pdf(corpus / "fares.pdf")
    cache = tmp_path / "moved-cache"
    monkeypatch.setenv("QAGEN_CONVERT_CACHE", str(cache))
    calls: list[str] = []
    real = loading.Converter.convert

    def counted(self: loading.Converter, path: str, source: str, fmt: Format) -> object:
        calls.append(source)
        return real(self, path, source, fmt)

    monkeypatch.setattr(loading.Converter, "convert", counted)

    assert main([str(corpus), "-o", str(tmp_path / "out"), "--quiet"]) == 0
    entries = list(cache.rglob("*.json"))
    assert len(entries) == 1
    assert main([str(corpus), "-o", str(tmp_path / "out2"), "--quiet"]) == 0
    assert list(cache.rglob("*.json")) == entries
    assert calls == ["fares.pdf", "fares.pdf"]  # asked twice; the second answer came from the cache


def test_a_cache_folder_that_cannot_be_written_costs_a_warning_not_the_run(corpus: Path, tmp_path: Path) -> None:
    doc_files.multi_page_pdf(corpus / "fares.pdf")
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder should be", encoding="utf-8")
    notes = Notes()

    result = load_corpus(corpus, convert_cache=blocked / "converted", reporter=notes)

    assert [d.source for d in result.documents] == ["fares.pdf"]
    assert len(notes.notes) == 1
    assert notes.notes[0].startswith(f"warning: converted files are not cached (cannot write {blocked / 'converted'}: ")
    assert notes.notes[0].endswith("); a rerun converts them again")


# -- end to end: facts reach the pairs with their page and section ----------------------------

_PAIRS_HAVE_PROVENANCE = "page" in {f.name for f in dataclasses.fields(qagen.records.Pair)}
FACTS = {  # fact -> (file, page, innermost heading)
    "Students under 26 pay half fare": ("fares.pdf", 2, "Concessions"),
    "Lost umbrellas are kept for 90 days": ("fares.pdf", 3, "Lost property"),
    "Every driver has 28 days of paid leave": ("handbook.docx", None, "Holidays"),
    "Ridership grew 12 percent": ("results.pptx", 1, "Quarterly results"),
    "Electric trams reached the harbour in 1902": ("history.epub", None, "The first line"),
}


def pairs_from_documents(corpus: Path, out: Path, url: str) -> list[dict]:
    doc_files.multi_page_pdf(corpus / "fares.pdf")
    doc_files.docx_with_headings_and_table(corpus / "handbook.docx")
    doc_files.pptx_with_slides(corpus / "results.pptx")
    doc_files.epub_with_chapters(corpus / "history.epub")
    code = main([str(corpus), "--base-url", url, "--model", "test-model", "-n", "3", "-o", str(out), "--idk-ratio", "0", "--quiet"])
    assert code == 0
    return [json.loads(line) for line in (out / "pairs.jsonl").read_text(encoding="utf-8").splitlines()]


def pair_with(rows: list[dict], fact: str) -> dict:
    matching = [row for row in rows if fact in row["answer"]]
    assert matching, f"no pair carries {fact!r}: {[row['answer'] for row in rows]}"
    return matching[0]


def test_facts_from_each_format_reach_the_pairs_against_the_test_server(corpus: Path, tmp_path: Path, fake_openai) -> None:
    rows = pairs_from_documents(corpus, tmp_path / "out", fake_openai.url)

    for fact, (source, _, _) in FACTS.items():
        assert pair_with(rows, fact)["source"] == source


@pytest.mark.skipif(not _PAIRS_HAVE_PROVENANCE, reason="pairs carry page and section once structure-aware chunking lands")
def test_facts_reach_the_pairs_with_their_page_and_section(corpus: Path, tmp_path: Path, fake_openai) -> None:
    # Small chunks and pages with some words each, so every page (and chapter) is a chunk of its own:
    # a pair's page and section are its chunk's.
    filler = " The office is open on weekdays from nine to five. Ask at the desk for a printed copy."
    pages = {number: (heading, [facts[0] + filler]) for number, (heading, facts) in doc_files.PDF_PAGES.items()}
    doc_files.multi_page_pdf(corpus / "fares.pdf", pages)
    doc_files.pptx_with_slides(corpus / "results.pptx")
    doc_files.epub_with_chapters(corpus / "history.epub")
    out = tmp_path / "out"
    code = main([str(corpus), "--base-url", fake_openai.url, "--model", "test-model", "-n", "3", "-o", str(out),
                 "--idk-ratio", "0", "--quiet", "--chunk-size", "50", "--chunk-overlap", "0"])
    assert code == 0
    rows = [json.loads(line) for line in (out / "pairs.jsonl").read_text(encoding="utf-8").splitlines()]

    expected = {
        "A day ticket costs 7 euros": ("fares.pdf", 1, "Tickets"),
        "Students under 26 pay half fare": ("fares.pdf", 2, "Concessions"),
        "Lost umbrellas are kept for 90 days": ("fares.pdf", 3, "Lost property"),
        "Ridership grew 12 percent": ("results.pptx", 1, "Quarterly results"),
        "Electric trams reached the harbour in 1902": ("history.epub", None, "The first line"),
    }
    for fact, (source, page, heading) in expected.items():
        row = pair_with(rows, fact)
        assert (row["source"], row["page"]) == (source, page), fact
        assert heading in json.dumps(row["section"]), (fact, row["section"])
