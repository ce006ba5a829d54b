"""Real PDF, DOCX, PPTX and EPUB files, written at test time by the formats' own writer libraries.

Each writer puts known facts under known headings, on known pages, so a test can check that
a fact reaches the text with the right page and heading path. The writers are test
dependencies (the ``test`` extra), not qagen's.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

# page -> (outline heading, facts on that page) of the multi-page PDF; page 2 also has PDF_TABLE
PDF_TABLE = [("Card", "Discount"), ("Student card", "50%"), ("Senior card", "30%")]
PDF_PAGES = {
    1: ("Tickets", ["A day ticket costs 7 euros in zone A."]),
    2: ("Concessions", ["Students under 26 pay half fare on weekdays."]),
    3: ("Lost property", ["Lost umbrellas are kept for 90 days at Central Station."]),
}


def multi_page_pdf(path: Path, pages: dict[int, tuple[str, list[str]]] = PDF_PAGES) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for number in sorted(pages):
        heading, facts = pages[number]
        pdf.add_page()
        pdf.start_section(heading)  # an outline entry pointing at this page
        pdf.set_font("Helvetica", size=16)
        pdf.cell(0, 10, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=11)
        for fact in facts:
            pdf.multi_cell(0, 6, fact, new_x="LMARGIN", new_y="NEXT")
        if number == 2 and pages is PDF_PAGES:
            with pdf.table() as table:  # a bordered table: a grid of cell rectangles
                for values in PDF_TABLE:
                    row = table.row()
                    for value in values:
                        row.cell(value)
    pdf.output(str(path))
    return path


def numbered_sections_pdf(path: Path) -> Path:
    """One page, two outline levels; the page prints the headings with their numbers ("3.1 Umbrellas")."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    pdf.add_page()
    pdf.start_section("Lost property", level=0)
    pdf.cell(0, 10, "3 Lost property", new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(0, 6, "Found items go to the office at Central Station.", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(10)
    pdf.start_section("Umbrellas", level=1)
    pdf.cell(0, 10, "3.1 Umbrellas", new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(0, 6, "Umbrellas are kept for 90 days.", new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


def long_pdf(path: Path, pages: int) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for number in range(1, pages + 1):
        pdf.add_page()
        pdf.multi_cell(0, 6, " ".join(f"Page {number} line {i} says the depot opens at {i % 12 + 1} o'clock." for i in range(20)))
    pdf.output(str(path))
    return path


def two_column_pdf(path: Path, rows: int = 12) -> Path:
    """A page whose two columns are drawn line by line across the page, as many PDF writers do."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    for i in range(rows):
        pdf.text(10, 20 + i * 6, f"West line {i} of the left column.")
        pdf.text(110, 20 + i * 6, f"East line {i} of the right column.")
    pdf.output(str(path))
    return path


def scanned_pdf(path: Path) -> Path:
    """A page that is only a picture: what a scanner without OCR writes."""
    from fpdf import FPDF
    from PIL import Image

    image = path.with_suffix(".png")
    Image.new("RGB", (200, 100), "white").save(image)
    pdf = FPDF()
    pdf.add_page()
    pdf.image(str(image), x=10, y=10, w=100)
    pdf.output(str(path))
    image.unlink()
    return path


def encrypted_pdf(path: Path, user_password: str = "secret", algorithm: str = "RC4-128") -> Path:
    """The multi-page PDF, encrypted; with an empty user password it opens without one (only its permissions are locked)."""
    from pypdf import PdfReader, PdfWriter

    plain = multi_page_pdf(path.with_name("plain-" + path.name))
    writer = PdfWriter(clone_from=PdfReader(plain))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm=algorithm)
    with open(path, "wb") as handle:
        writer.write(handle)
    plain.unlink()
    return path


def docx_with_headings_and_table(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.add_heading("Staff handbook", level=1)
    document.add_paragraph("Welcome to the depot.")
    document.add_heading("Holidays", level=2)
    document.add_paragraph("Every driver has 28 days of paid leave a year.")
    document.add_heading("Shifts", level=2)
    table = document.add_table(rows=3, cols=2)
    for r, (shift, hours) in enumerate([("Shift", "Hours"), ("Early", "05:00-13:00"), ("Late", "13:00-21:00")]):
        table.cell(r, 0).text = shift
        table.cell(r, 1).text = hours
    document.add_heading("Uniforms", level=1)
    document.add_paragraph("Jackets are replaced every second winter.")
    document.save(str(path))
    return path


def pptx_with_slides(path: Path) -> Path:
    import pptx
    from pptx.util import Inches

    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Quarterly results"
    slide.placeholders[1].text = "Ridership grew 12 percent in the third quarter."
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = "Fleet"
    rows = [("Vehicle", "Count"), ("Trams", "41"), ("Buses", "230")]
    table = slide.shapes.add_table(3, 2, Inches(1), Inches(2), Inches(6), Inches(2)).table
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    deck.save(str(path))
    return path


def epub_with_chapters(path: Path) -> Path:
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("qagen-test-book")
    book.set_title("Depot history")
    book.set_language("en")
    one = epub.EpubHtml(title="Founding", file_name="one.xhtml", lang="en")
    one.content = "<html><body><h1>Founding</h1><p>The depot opened in 1897 with horse trams.</p></body></html>"
    two = epub.EpubHtml(title="Electrification", file_name="two.xhtml", lang="en")
    two.content = (
        "<html><body><h1>Electrification</h1><h2>The first line</h2>"
        "<p>Electric trams reached the harbour in 1902.</p>"
        "<table><tr><th>Year</th><th>Lines</th></tr><tr><td>1910</td><td>6</td></tr></table></body></html>"
    )
    three = epub.EpubHtml(title="Today", file_name="three.xhtml", lang="en")
    three.content = "<html><body><p>Today 41 trams run from the depot.</p></body></html>"  # titled only in the TOC
    for chapter in (one, two, three):
        book.add_item(chapter)
    book.toc = [epub.Link("one.xhtml", "Founding", "one"), epub.Link("two.xhtml", "Electrification", "two"),
                epub.Link("three.xhtml", "Today", "three")]
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", one, two, three]
    epub.write_epub(str(path), book)
    return path


def zip_bomb(path: Path, label_part: str = "word/document.xml", unpacked_mb: int = 1200) -> Path:
    """A DOCX-named ZIP whose one member unpacks to ``unpacked_mb`` MB of zeros (a few MB packed)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open(label_part, "w", force_zip64=True) as member:
            block = b"\0" * (1 << 20)
            for _ in range(unpacked_mb):
                member.write(block)
    return path
