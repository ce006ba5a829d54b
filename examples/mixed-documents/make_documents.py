"""Writes the PDF, DOCX and HTML files of ``documents/`` with real writer libraries.

    pip install fpdf2 python-docx      # both are in qagen's test extra
    python examples/mixed-documents/make_documents.py

The Markdown and text files are written by hand; these three are made by their formats' own
writers, as a user's files would be, so the example shows what qagen reads from each.
"""

from __future__ import annotations

from pathlib import Path

DOCUMENTS = Path(__file__).resolve().parent / "documents"


def annual_report_pdf(path: Path) -> None:
    from fpdf import FPDF

    pages = {
        "Visitors in 2023": [
            "The museum welcomed 48,200 visitors in 2023, 12 percent more than in 2022.",
            "School groups made 310 visits, most of them in May and June.",
        ],
        "Finances": [
            "Ticket sales brought in 296,000 euros, and the shop a further 71,500 euros.",
            "The harbour trust paid 150,000 euros towards the restoration of the pilot cutter Merrow.",
        ],
    }
    pdf = FPDF()
    pdf.set_title("Tollan Harbour Museum annual report 2023")
    for heading, sentences in pages.items():
        pdf.add_page()
        pdf.start_section(heading)  # an outline entry: the section of everything on this page
        pdf.set_font("Helvetica", size=16)
        pdf.cell(0, 10, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=11)
        for sentence in sentences:
            pdf.multi_cell(0, 6, sentence, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))


def volunteer_rota_docx(path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading("Volunteer rota", level=1)
    document.add_paragraph("Volunteers sign up for shifts on the board in the staff room by the 20th of each month.")
    document.add_heading("Shifts", level=2)
    table = document.add_table(rows=3, cols=2)
    for row, (shift, hours) in enumerate([("Shift", "Hours"), ("Morning", "09:30-13:00"), ("Afternoon", "13:00-17:30")]):
        table.cell(row, 0).text = shift
        table.cell(row, 1).text = hours
    document.add_heading("Training", level=2)
    document.add_paragraph("Every new volunteer spends a first afternoon with the duty curator before a shift alone.")
    document.save(str(path))


EVENTS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Events</title></head>
<body>
<nav><a href="/">Home</a> | <a href="/visit">Visit</a></nav>
<h1>Events</h1>
<h2>Lantern walk</h2>
<p>The lantern walk leaves the Customs House steps at 19:00 on the last Friday of October.</p>
<h2>Model boat regatta</h2>
<p>Children race their own model boats in the old graving dock on the first Sunday of August.</p>
</body></html>
"""


def main() -> None:
    annual_report_pdf(DOCUMENTS / "annual-report-2023.pdf")
    volunteer_rota_docx(DOCUMENTS / "volunteer-rota.docx")
    (DOCUMENTS / "events.html").write_text(EVENTS_HTML, encoding="utf-8")


if __name__ == "__main__":
    main()
