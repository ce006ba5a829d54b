"""Provenance and structure: chunks follow a document's sections, and every chunk, pair and reject says where it is from.

A Markdown file's headings become heading paths ("Fares > Concessions"); a converted document's
sections (pages, headings, tables) come in ``Document.sections``. Chunks do not straddle two
top-level sections when that can be avoided, a table that fits stays whole, and every chunk knows
its ``section`` and ``page``, which reach the template, ``pairs.jsonl``, ``rejects.jsonl`` and the report.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fake_openai import chat_reply, grounded_pairs_reply
from helpers import REPO, read_jsonl
from qagen.cli import main
from qagen.documents.chunking import chunk_id, split_documents
from qagen.documents.loading import LoadResult
from qagen.documents.structure import markdown_sections
from qagen.records import Document, Section


def words(text: str) -> int:
    """A token counter that is easy to reason about in a test: one token per word."""
    return len(text.split())


def filler(topic: str, n: int) -> str:
    """``n`` words about ``topic``, as sentences, so a splitter has natural breaks."""
    sentences = []
    for i in range(0, n, 6):
        sentences.append(" ".join([topic.capitalize()] + [f"{topic}{j}" for j in range(i + 1, min(i + 6, n))]) + ".")
    return " ".join(sentences)


GUIDE = """Printed for the harbour office.

# Ferry guide

The ferry guide explains fares and sailings.

## Fares

Fares rose in April.

### Concessions

Children pay half the adult fare.

```
# not a heading, a comment in a code block
```

Seniors
-------

Seniors pay half the adult fare too.

Timetable
=========

The first sailing leaves at seven.
"""


def test_markdown_headings_become_heading_paths() -> None:
    sections = markdown_sections(GUIDE)
    assert [s.heading for s in sections] == [
        ("Ferry guide",),
        ("Ferry guide", "Fares"),
        ("Ferry guide", "Fares", "Concessions"),
        ("Ferry guide", "Seniors"),  # setext "---" is a second-level heading
        ("Timetable",),  # setext "===" is a first-level heading
    ]
    # Each section starts at its heading line, so the heading is part of the section's text.
    assert [GUIDE[s.start:].split("\n", 1)[0] for s in sections] == ["# Ferry guide", "## Fares", "### Concessions", "Seniors", "Timetable"]
    assert all(s.page is None and s.kind == "text" for s in sections)


def test_headings_are_cleaned_and_front_matter_and_indented_code_are_not_headings() -> None:
    text = "---\ntitle: x\n---\n\n#  Fares  ##\n\n    # indented code\n\n## **Route** [2](https://x.example/r2) `b`\n\nText.\n"
    assert [s.heading for s in markdown_sections(text)] == [("Fares",), ("Fares", "Route 2 b")]


def test_markdown_pipe_table_is_a_table_section() -> None:
    text = "## Prices\n\nSome words.\n\n| Ticket | Fare |\n|---|---:|\n| Adult | 4 |\n| Child | 2 |\n\nAfter the table.\n"
    sections = markdown_sections(text)
    assert [(s.heading, s.kind) for s in sections] == [(("Prices",), "text"), (("Prices",), "table"), (("Prices",), "text")]
    table = sections[1]
    assert text[table.start:sections[2].start].strip() == "| Ticket | Fare |\n|---|---:|\n| Adult | 4 |\n| Child | 2 |"


def test_chunks_carry_their_heading_path() -> None:
    chunks = split_documents([Document("guide.md", GUIDE, "utf-8")], words, chunk_tokens=12, overlap_tokens=0)
    concession = next(c for c in chunks if "Children pay half" in c.text)
    assert concession.section == "Ferry guide > Fares > Concessions"
    assert next(c for c in chunks if "first sailing" in c.text).section == "Timetable"
    assert next(c for c in chunks if "Printed for" in c.text).section is None  # before the first heading
    assert all(c.page is None for c in chunks)
    # Chunk text is the document's own text, unchanged: a chunk never holds words the file does not.
    assert all(c.text in GUIDE for c in chunks)


def test_a_chunk_does_not_straddle_two_top_level_sections() -> None:
    text = f"# Fares\n\n{filler('fare', 30)}\n\n# Sailings\n\n{filler('sailing', 30)}\n"
    chunks = split_documents([Document("d.md", text, "utf-8")], words, chunk_tokens=80, overlap_tokens=0)
    assert [c.section for c in chunks] == ["Fares", "Sailings"]  # both would fit in one chunk of 80
    assert "sailing" not in chunks[0].text and "fare" not in chunks[1].text


def test_a_document_title_is_not_the_top_level_its_second_level_headings_are() -> None:
    text = f"# Guide\n\n## Fares\n\n{filler('fare', 30)}\n\n## Sailings\n\n{filler('sailing', 30)}\n"
    chunks = split_documents([Document("d.md", text, "utf-8")], words, chunk_tokens=80, overlap_tokens=0)
    # The title alone is too small for a chunk: it joins the first section, and does not name the chunk.
    assert [c.section for c in chunks] == ["Guide > Fares", "Guide > Sailings"]
    assert chunks[0].text.startswith("# Guide\n\n## Fares")


def test_tiny_sections_join_their_neighbour_rather_than_making_a_chunk_of_their_own() -> None:
    # A section of a few words makes a poor request: it joins the next when both fit.
    text = f"# Fares\n\nSee below.\n\n# Sailings\n\n{filler('sailing', 30)}\n"
    chunks = split_documents([Document("d.md", text, "utf-8")], words, chunk_tokens=80, overlap_tokens=0)
    assert len(chunks) == 1
    assert chunks[0].section is None  # two top-level sections share no heading
    assert chunks[0].text.startswith("# Fares")


def test_subsections_of_one_section_share_a_chunk_while_they_fit() -> None:
    text = f"# Fares\n\n## Adults\n\n{filler('adult', 20)}\n\n## Children\n\n{filler('child', 20)}\n\n# Sailings\n\n{filler('sailing', 30)}\n"
    chunks = split_documents([Document("d.md", text, "utf-8")], words, chunk_tokens=80, overlap_tokens=0)
    assert [c.section for c in chunks] == ["Fares", "Sailings"]  # the common heading of what the chunk holds
    assert "## Adults" in chunks[0].text and "## Children" in chunks[0].text


def test_a_chunk_starting_mid_section_carries_the_heading_path() -> None:
    text = f"# Guide\n\n## Long part\n\n{filler('long', 200)}\n"
    chunks = split_documents([Document("d.md", text, "utf-8")], words, chunk_tokens=60, overlap_tokens=10)
    assert len(chunks) >= 3
    assert all(c.section == "Guide > Long part" for c in chunks)
    assert not chunks[1].text.startswith("#")  # the heading is not in its text, but in its section


def test_a_table_that_fits_stays_whole() -> None:
    intro = filler("intro", 40)
    rows = "\n".join(f"Row{i} | fare{i} | note{i} | more{i}" for i in range(10))  # 70 words
    text = f"{intro}\n{rows}\nClosing words after the table.\n"
    table_start = text.index("Row0")
    after = text.index("Closing")
    doc = Document("t.docx", text, "docx", sections=(
        Section(0, ("Prices",)), Section(table_start, ("Prices",), kind="table"), Section(after, ("Prices",)),
    ))
    plain = split_documents([Document("t.docx", text, "docx")], words, chunk_tokens=80, overlap_tokens=0)
    assert not any(rows in c.text for c in plain)  # without the table known, the splitter cuts it
    chunks = split_documents([doc], words, chunk_tokens=80, overlap_tokens=0)
    assert sum(1 for c in chunks if rows in c.text) == 1
    assert all(c.section == "Prices" for c in chunks)


def test_a_table_too_large_for_one_chunk_is_split_by_lines() -> None:
    rows = "\n".join(f"Row{i} | fare{i} | note{i} | more{i}" for i in range(60))
    doc = Document("t.docx", rows, "docx", sections=(Section(0, ("Prices",), kind="table"),))
    chunks = split_documents([doc], words, chunk_tokens=80, overlap_tokens=0)
    assert len(chunks) > 1
    assert all(c.text.startswith("Row") and c.text.endswith(tuple("0123456789")) for c in chunks)  # cut between rows


def test_a_chunk_has_the_page_it_starts_on_and_pages_alone_do_not_cut_chunks() -> None:
    pages = [filler(f"page{n}", 30) for n in (1, 2, 3)]
    text = "\n\n".join(pages)
    starts = [text.index(p) for p in pages]
    doc = Document("r.pdf", text, "pdf", sections=tuple(Section(s, page=n) for n, s in enumerate(starts, start=1)))
    chunks = split_documents([doc], words, chunk_tokens=50, overlap_tokens=0)
    plain = split_documents([Document("r.pdf", text, "pdf")], words, chunk_tokens=50, overlap_tokens=0)
    assert [c.text for c in chunks] == [c.text for c in plain]  # page breaks are not section breaks
    for chunk in chunks:
        offset = text.index(chunk.text)
        assert chunk.page == max(n for n, s in enumerate(starts, start=1) if s <= offset)
    assert [c.page for c in chunks][0] == 1 and chunks[-1].page == 3
    assert all(c.section is None for c in chunks)


def test_plain_text_chunks_are_as_before_and_ids_depend_on_source_and_text_only() -> None:
    text = "\n\n".join(filler(f"para{n}", 25) for n in range(6))
    doc = Document("notes.txt", text, "utf-8")
    chunks = split_documents([doc], words, chunk_tokens=60, overlap_tokens=10)
    assert len(chunks) > 1
    assert all(c.id == chunk_id("notes.txt", c.text, 0) for c in chunks)
    assert all(c.section is None and c.page is None for c in chunks)
    # The same text under a heading keeps its id: an id names text, not where the text sits.
    again = split_documents([Document("notes.txt", text, "utf-8", sections=(Section(0, ("Notes",)),))], words, chunk_tokens=60, overlap_tokens=10)
    assert [c.id for c in again] == [c.id for c in chunks]
    assert {c.section for c in again} == {"Notes"}


def test_a_txt_file_with_hash_lines_is_not_read_as_markdown() -> None:
    text = f"# not a heading: a comment\n\n{filler('note', 30)}\n\n# another comment\n\n{filler('more', 30)}\n"
    chunks = split_documents([Document("notes.txt", text, "utf-8")], words, chunk_tokens=80, overlap_tokens=0)
    assert len(chunks) == 1 and chunks[0].section is None


# --------------------------------------------------------------------------- end to end


def _corpus(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "guide.md").write_text(
        "# Fares\n\n## Concessions\n\n"
        "Children aged five to fifteen pay half the adult fare on every route. "
        "Passengers over sixty five pay the senior fare, which is also half the adult fare.\n\n"
        "# Sailings\n\n"
        "The first sailing from Port Essary leaves at seven in the morning. "
        "The last sailing from Kellimore leaves at nine in the evening.\n",
        encoding="utf-8",
    )
    (docs / "notes.txt").write_text(
        "The harbour office opens at eight in the morning on weekdays. It closes at six in the evening.\n", encoding="utf-8"
    )
    return docs


# The default template as this checkout has it (an installed qagen.templates may be another copy's).
DEFAULT_QA = str(REPO / "templates" / "qa.json")


def _args(docs: Path, out: Path, url: str, *extra: str) -> list[str]:
    return [str(docs), "--base-url", url, "--model", "m", "--idk-ratio", "0", "-o", str(out), "-q", "--concurrency", "1",
            "--chunk-overlap", "10", "--template", DEFAULT_QA, *extra]


def test_pairs_rejects_and_report_say_which_section_each_came_from(tmp_path: Path, fake_openai) -> None:
    def handler(request):
        if "Sailings" in request.last_user_text:  # one reply that cannot be read, to see a reject's provenance
            return chat_reply("no pairs here")
        return grounded_pairs_reply(request, 2)

    fake_openai.handler = handler
    out = tmp_path / "o"
    assert main(_args(_corpus(tmp_path), out, fake_openai.url, "--chunk-size", "60")) == 0

    prompts = [r.last_user_text for r in fake_openai.chat_requests()]
    assert any('section "Fares > Concessions"' in p and "Children aged" in p for p in prompts)
    assert any('section "Sailings"' in p for p in prompts)
    assert not any("section" in p.split('"""')[0] for p in prompts if "harbour office" in p)  # no section, none named

    pairs = read_jsonl(out / "pairs.jsonl")
    assert {(p["source"], p["section"], p["page"]) for p in pairs} == {("guide.md", "Fares > Concessions", None), ("notes.txt", None, None)}
    rejects = read_jsonl(out / "rejects.jsonl")
    assert rejects and {(r["source"], r["section"], r["page"]) for r in rejects} == {("guide.md", "Sailings", None)}
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert {(c["source"], c["section"], c["page"]) for c in report["coverage"]} == {
        ("guide.md", "Fares > Concessions", None), ("guide.md", "Sailings", None), ("notes.txt", None, None),
    }


def test_a_paged_document_gives_every_pair_its_page(tmp_path: Path, fake_openai, monkeypatch: pytest.MonkeyPatch) -> None:
    # Converters (PDF, PPTX) fill Document.sections; here the loaded document is given directly.
    pages = [
        "The Corrie Dawn was built in 1998 at Greyhaven. She carries two hundred and twenty passengers.",
        "The Orrin Lass was built in 2009 at Port Essary. She carries ninety passengers and twelve cars.",
    ]
    text = "\n\n".join(pages)
    document = Document("fleet.pdf", text, "pdf", sections=(Section(0, page=1), Section(text.index(pages[1]), ("Newer ships",), page=2)))
    import qagen.pipeline.stages as stages

    monkeypatch.setattr(stages, "load_corpus", lambda *a, **k: LoadResult((document,), ()))
    fake_openai.handler = lambda request: grounded_pairs_reply(request, 2)
    out = tmp_path / "o"
    assert main(_args(tmp_path, out, fake_openai.url, "--chunk-size", "60")) == 0

    prompts = [r.last_user_text for r in fake_openai.chat_requests()]
    assert any("page 2" in p and 'section "Newer ships"' in p for p in prompts)
    pairs = read_jsonl(out / "pairs.jsonl")
    assert {(p["page"], p["section"]) for p in pairs} == {(1, None), (2, "Newer ships")}
    assert all(p["answer"] in pages[p["page"] - 1] for p in pairs)  # each answer is from the page its pair names


def test_a_pair_from_a_chunk_that_runs_over_a_page_break_names_the_page_of_its_answer(
    tmp_path: Path, fake_openai, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two short pages under one heading make one chunk, which starts on page 1.
    pages = [
        "The Corrie Dawn was built in 1998 at Greyhaven. She carries two hundred and twenty passengers.",
        "The Orrin Lass was built in 2009 at Port Essary. She carries ninety passengers and twelve cars.",
    ]
    text = "\n\n".join(pages)
    document = Document("fleet.pdf", text, "pdf",
                        sections=(Section(0, ("Fleet",), page=1), Section(text.index(pages[1]), ("Fleet",), page=2)))
    import qagen.pipeline.stages as stages

    monkeypatch.setattr(stages, "load_corpus", lambda *a, **k: LoadResult((document,), ()))
    fake_openai.handler = lambda request: grounded_pairs_reply(request, 4)
    out = tmp_path / "o"
    assert main(_args(tmp_path, out, fake_openai.url)) == 0

    assert len({r.last_user_text for r in fake_openai.chat_requests()}) == 1  # one chunk for both pages
    pairs = read_jsonl(out / "pairs.jsonl")
    assert {p["page"] for p in pairs} == {1, 2}
    assert all(p["answer"] in pages[p["page"] - 1] for p in pairs)  # each answer is from the page its pair names


def test_a_pair_answered_in_other_words_finds_its_page_by_its_number_or_name() -> None:
    from qagen.documents.chunking import page_of
    from qagen.records import Chunk

    text = "The Corrie Dawn was built in 1998.\n\nThe Orrin Lass was built in 2009 at Port Essary."
    chunk = Chunk("c", "fleet.pdf", 0, text, 20, page=4, page_starts=((text.index("The Orrin"), 5),))
    assert page_of(chunk, "The Orrin Lass was built in 2009 at Port Essary.") == 5  # the answer's own words
    assert page_of(chunk, "She dates from 2009.") == 5  # its number
    assert page_of(chunk, "It was the Corrie Dawn.") == 4  # its name
    assert page_of(chunk, "A ferry.") == 4  # nothing to find: the chunk's first page


def test_a_template_of_ones_own_can_use_section_and_page(tmp_path: Path, fake_openai) -> None:
    template = tmp_path / "mine.json"
    template.write_text(json.dumps({"messages": [{"role": "user", "content": (
        "[{{ section }}] [{{ page }}]\n\"\"\"\n{{ info }}\n\"\"\"\nWrite {{ n }} pairs."
    )}]}), encoding="utf-8")
    fake_openai.handler = lambda request: grounded_pairs_reply(request, 2)
    assert main(_args(_corpus(tmp_path), tmp_path / "o", fake_openai.url, "--chunk-size", "60", "--template", str(template))) == 0
    prompts = [r.last_user_text for r in fake_openai.chat_requests()]
    assert any(p.startswith("[Fares > Concessions] []") for p in prompts)
    assert any(p.startswith("[] []") and "harbour office" in p for p in prompts)  # unknown: empty, not "None"


def test_an_answer_may_name_the_heading_of_a_chunk_that_starts_mid_section(tmp_path: Path, fake_openai) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    paragraphs = [f"Sailing {n} leaves the slip at {n + 6} o'clock and the adult fare is four pounds ten." for n in range(1, 13)]
    (docs / "fares.md").write_text("# Fares\n\n## Route 7\n\n" + "\n\n".join(paragraphs) + "\n", encoding="utf-8")

    def handler(request):
        passage = request.last_user_text.split('"""')[1]
        sentence = next(p for p in paragraphs if p in passage)
        number = sentence.split()[1]
        answer = f"On Route 7, sailing {number} costs four pounds ten for an adult."
        return chat_reply(json.dumps({"question": f"What does sailing {number} on Route 7 cost an adult?", "answer": answer}))

    fake_openai.handler = handler
    out = tmp_path / "o"
    assert main(_args(docs, out, fake_openai.url, "--chunk-size", "60", "-n", "1", "--dedupe-threshold", "1")) == 0
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert len(report["coverage"]) >= 3 and {c["section"] for c in report["coverage"]} == {"Fares > Route 7"}
    pairs = read_jsonl(out / "pairs.jsonl")
    # "7" is in no chunk after the first, only in the heading over them: the answers are grounded all the same.
    assert len(pairs) == len(report["coverage"])
    assert not [r for r in read_jsonl(out / "rejects.jsonl") if r["reason"] == "not_grounded"]


def test_editing_one_section_keeps_the_ids_of_the_chunks_of_the_others() -> None:
    # A resumed run asks again only about chunks whose text changed: an edit in one section must not
    # move the chunk boundaries of the sections after it (packing text greedily from the top did).
    names = ["fares", "sailings", "staff", "boats", "piers", "cargo"]

    def guide(added: str) -> Document:
        text = "\n\n".join(f"# {n.title()}\n\n{filler(n, 25)}" + (added if i == 0 else "") for i, n in enumerate(names))
        return Document("g.md", text + "\n", "utf-8")

    before = split_documents([guide("")], words, chunk_tokens=60, overlap_tokens=0)
    after = split_documents([guide(" One more sentence, added to the first section.")], words, chunk_tokens=60, overlap_tokens=0)
    unchanged = [c.id for c in before if c.section != "Fares"]
    assert len(unchanged) == 5
    assert [c.id for c in after if c.section != "Fares"] == unchanged
