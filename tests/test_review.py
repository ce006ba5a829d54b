"""The review page without a browser: written by every run and by ``qagen review OUT``, its data, its escaping, its errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fake_openai import chat_reply, grounded_pairs_reply, judge_reply
from helpers import CORPUS, output_files, read_jsonl

from qagen.cli import main
from qagen.review.page import render_page, script_json

REPO = Path(__file__).resolve().parents[1]
HOSTILE = "</script><img src=x onerror=alert(1)>"
DATA_BLOCK = re.compile(r'<script type="application/json" id="qagen-data">(.*?)</script>', re.DOTALL)


def page_data(page: Path) -> dict:
    text = page.read_text(encoding="utf-8")
    blocks = DATA_BLOCK.findall(text)
    assert len(blocks) == 1
    return json.loads(blocks[0])


def _offline(out: Path, *extra: str, corpus: Path = CORPUS) -> list[str]:
    return [str(corpus), "-o", str(out), "-q", *extra]


def test_a_run_writes_the_page_last_in_its_summary_and_its_data_is_the_out_folders(tmp_path: Path, capsys) -> None:
    out = tmp_path / "o"
    assert main(_offline(out)) == 0
    page = out / "review.html"
    assert capsys.readouterr().out.splitlines()[-1] == f"review    {page}"
    data = page_data(page)
    assert data["pairs"] == read_jsonl(out / "pairs.jsonl") and len(data["pairs"]) > 50
    assert data["rejects"] == read_jsonl(out / "rejects.jsonl")
    chunks = read_jsonl(out / "chunks.jsonl")
    assert data["chunks"] == chunks
    assert [c["id"] for c in chunks] == [c["chunk_id"] for c in data["report"]["coverage"]]
    by_id = {c["id"]: c for c in chunks}
    for pair in data["pairs"]:
        if pair["kind"] == "grounded":  # every pair can be shown beside its chunk's text
            assert by_id[pair["chunk_id"]]["source"] == pair["source"]
            assert 0 < pair["grounding"] <= 1
        else:
            assert pair["grounding"] is None
        assert pair["judge_rating"] is None and pair["judge_reason"] is None  # no --judge
    assert data["report"]["pairs_kept"] == len(data["pairs"]) and data["report"]["settings"]["review"] is True
    assert data["decisions"] == []


def test_qagen_review_writes_the_same_page_again_from_the_files(tmp_path: Path, capsys) -> None:
    out = tmp_path / "o"
    assert main(_offline(out)) == 0
    first = (out / "review.html").read_bytes()
    (out / "review.html").unlink()
    capsys.readouterr()
    assert main(["review", str(out)]) == 0
    assert capsys.readouterr().out == f"{out / 'review.html'}\n"
    assert (out / "review.html").read_bytes() == first
    assert not list(out.glob(".*.tmp-*"))


def test_the_page_holds_the_stored_decisions(tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert main(_offline(out)) == 0
    pairs = read_jsonl(out / "pairs.jsonl")
    decisions = tmp_path / "d.jsonl"
    decisions.write_text(json.dumps({"pair_id": pairs[0]["id"], "action": "drop"}) + "\n"
                         + json.dumps({"pair_id": pairs[1]["id"], "action": "keep"}) + "\n", encoding="utf-8")
    assert main(["apply", str(out), str(decisions), "-q"]) == 0
    data = page_data(out / "review.html")  # apply is a run: it writes the page too
    assert data["decisions"] == [{"pair_id": pairs[0]["id"], "action": "drop"}, {"pair_id": pairs[1]["id"], "action": "keep"}]
    assert any(r["stage"] == "review" and r["pair_id"] == pairs[0]["id"] for r in data["rejects"])


def test_hostile_document_text_stays_text_in_the_page(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    line = (f"The harbour gate opens at 06:40 every weekday {HOSTILE} and closes at 22:15. "
            "Tickets cost £4 & up\u2028at the kiosk <!-- near the pier -->.")
    (corpus / "gate.md").write_text(f"# Gate {HOSTILE}\n\n{line}\n\nThe ferry Heather Bell sails from the gate at 07:00 daily.\n",
                                    encoding="utf-8")
    out = tmp_path / "o"
    assert main(_offline(out, corpus=corpus)) == 0
    text = (out / "review.html").read_text(encoding="utf-8")
    assert "<img" not in text and "<!--" not in text and "\u2028" not in text
    # Only the page's own two script blocks close: the document's "</script>" is escaped in the data.
    assert text.count("</script>") == 2 and "\\u003c/script\\u003e\\u003cimg src=x" in text
    data = page_data(out / "review.html")
    assert any(HOSTILE in c["text"] for c in data["chunks"])
    assert any(HOSTILE in (c["section"] or "") for c in data["chunks"])


def test_script_json_escapes_what_could_end_the_block_and_reads_back_the_same() -> None:
    value = {"t": "</script><!-- & \u2028\u2029 \ud800 é 𝄞", "n": [1, None]}
    text = script_json(value)
    assert not set("<>&\u2028\u2029") & set(text)
    assert "\\ud800" in text and "é" in text and "𝄞" in text  # readable text stays as it is
    assert json.loads(text) == value
    text.encode("utf-8")  # a lone surrogate from a model's reply cannot stop the page from being written


def test_a_row_read_from_a_file_goes_into_the_page_escaped_as_written(tmp_path: Path) -> None:
    from qagen.review.data import _row_texts

    value = {"text": "</script><!-- & \u2028\u2029 é 𝄞", "n": [1, None], "nested": {"a": "<b>"}}
    (tmp_path / "rows.jsonl").write_text(json.dumps(value, ensure_ascii=False) + "\n\n" + json.dumps({"b": 2}) + "\n", encoding="utf-8")
    rows = list(_row_texts(tmp_path / "rows.jsonl", tmp_path))
    assert len(rows) == 2  # the blank line is no row
    text = script_json(rows[0])
    assert not set("<>&\u2028\u2029") & set(text)
    assert json.loads(text) == value and json.loads(script_json(rows[1])) == {"b": 2}


def test_the_script_builds_the_page_from_dom_nodes_only() -> None:
    script = (REPO / "qagen" / "review" / "review.js").read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in script, sink


def test_the_page_reaches_nothing_outside_itself(tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert main(_offline(out)) == 0
    text = (out / "review.html").read_text(encoding="utf-8")
    assert "default-src 'none'" in text
    assert not re.search(r"<(?:script|link|img|iframe)[^>]*(?:src|href)=", text)
    assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text


def test_no_review_writes_no_page_and_does_not_change_the_run(tmp_path: Path, capsys) -> None:
    out = tmp_path / "o"
    assert main(_offline(out, "--no-review")) == 0
    assert not (out / "review.html").exists()
    assert not capsys.readouterr().out.splitlines()[-1].startswith("review")
    before = output_files(out)
    # Not a result-changing setting: the same folder resumes with the page on, and the files are the same.
    assert main(_offline(out)) == 0
    assert output_files(out) == before and (out / "review.html").is_file()
    recorded = json.loads((out / ".qagen" / "settings.json").read_text(encoding="utf-8"))
    assert "review" not in recorded["settings"]


def test_a_page_that_cannot_be_written_is_a_warning_not_a_lost_run(tmp_path: Path, capsys) -> None:
    out = tmp_path / "o"
    assert main(_offline(out)) == 0
    (out / "review.html").unlink()
    (out / "review.html").mkdir()  # the page's place is taken by a folder
    capsys.readouterr()
    assert main(_offline(out)) == 0
    printed = capsys.readouterr().out
    assert "warning   the review page was not written: cannot write" in printed
    assert not printed.splitlines()[-1].startswith("review")
    assert read_jsonl(out / "pairs.jsonl")


def _damaged(out: Path) -> None:
    (out / "pairs.jsonl").write_text('{"id": "a"}\n{"id": \n', encoding="utf-8")


def _without_chunks(out: Path) -> None:
    (out / "chunks.jsonl").unlink()


@pytest.mark.parametrize(("spoil", "said"), [
    (None, "does not exist"),
    ("file", "is a file"),
    ("empty", "is not a qagen out folder"),
    (_damaged, "pairs.jsonl is damaged (line 2 is not JSON)"),
    (_without_chunks, "has no chunks.jsonl (made by an older qagen)"),
])
def test_a_missing_or_odd_out_folder_is_one_sentence(tmp_path: Path, capsys, spoil, said: str) -> None:
    out = tmp_path / "o"
    if spoil == "file":
        out.write_text("not a folder", encoding="utf-8")
    elif spoil == "empty":
        out.mkdir()
    elif spoil is not None:
        assert main(_offline(out, "--no-review")) == 0
        spoil(out)
    capsys.readouterr()
    assert main(["review", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and said in err
    assert not (out / "review.html").exists() or spoil == "file"


def test_a_damaged_line_found_while_writing_leaves_the_old_page_and_no_temp_file(tmp_path: Path, capsys) -> None:
    out = tmp_path / "o"
    assert main(_offline(out)) == 0
    before = (out / "review.html").read_bytes()
    lines = (out / "chunks.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    (out / "chunks.jsonl").write_text("".join(lines[:-1]) + "{not json\n", encoding="utf-8")  # the last chunk: read last
    capsys.readouterr()
    assert main(["review", str(out)]) == 2
    assert f"chunks.jsonl is damaged (line {len(lines)} is not JSON)" in capsys.readouterr().err
    assert (out / "review.html").read_bytes() == before
    assert sorted(p.name for p in out.iterdir() if ".tmp" in p.name) == []


def _judged_pairs(request):
    if (judged := judge_reply(request, lambda item: {"id": item["id"], "score": 5, "reason": f"states it ({item['id']})"})) is not None:
        return judged
    if request.messages[0]["content"].startswith("You write questions"):
        return chat_reply(json.dumps({"questions": ["How many llamas live on the quayside farm?"]}))
    if request.messages[0]["content"].startswith("You check whether passages"):
        return chat_reply('{"quote": "", "answered": false}')
    return grounded_pairs_reply(request, 2)


def test_the_judges_rating_and_reason_are_in_pairs_jsonl_and_on_the_page(tmp_path: Path, fake_openai) -> None:
    fake_openai.handler = _judged_pairs
    out = tmp_path / "o"
    args = [str(CORPUS), "--base-url", fake_openai.url, "--model", "m", "-o", str(out), "-q", "--chunk-size", "300", "--judge", "--no-cache"]
    assert main(args) == 0
    pairs = read_jsonl(out / "pairs.jsonl")
    grounded = [p for p in pairs if p["kind"] == "grounded"]
    assert grounded and all(p["judge_rating"] == 5 and p["judge_reason"].startswith("states it (p") for p in grounded)
    assert all(p["grounding"] == 1.0 for p in grounded)  # each answer is a sentence of its chunk
    assert page_data(out / "review.html")["pairs"] == pairs

    # The judge rated an edited pair's earlier text: its rating is not shown beside the new one.
    edited = grounded[0]
    decisions = tmp_path / "d.jsonl"
    decisions.write_text(json.dumps({"pair_id": edited["id"], "action": "edit", "question": "What exactly does this part state?",
                                     "answer": edited["answer"]}) + "\n", encoding="utf-8")
    assert main(["apply", str(out), str(decisions), "-q"]) == 0
    after = {p["id"]: p for p in read_jsonl(out / "pairs.jsonl")}
    assert after[edited["id"]]["judge_rating"] is None and after[edited["id"]]["judge_reason"] is None
    assert after[grounded[1]["id"]]["judge_rating"] == 5


def test_a_big_run_makes_a_page_of_sane_size(tmp_path: Path) -> None:
    """100,000 pairs over 20,000 chunks, written as a run writes them; the page holds each once, compactly."""
    out = tmp_path / "big"
    (out / ".qagen").mkdir(parents=True)
    chunk_count, pair_count = 20_000, 100_000
    chunks = [{"id": f"{i:016x}", "source": f"docs/file-{i // 100}.md", "page": None, "section": f"Part {i % 7}",
               "text": f"Section {i} says the ferry to island {i % 40} leaves at {i % 24:02d}:15 from pier {i % 9}. " * 3}
              for i in range(chunk_count)]
    pairs = [{"id": f"{i // 5:016x}-{i % 5}", "question": f"When does the ferry to island {(i // 5) % 40} leave?",
              "answer": f"At {(i // 5) % 24:02d}:15 from pier {(i // 5) % 9}.", "source": f"docs/file-{i // 500}.md",
              "chunk_id": f"{i // 5:016x}", "kind": "grounded", "page": None, "section": f"Part {(i // 5) % 7}",
              "split": "train", "grounding": 1.0, "judge_rating": None, "judge_reason": None} for i in range(pair_count)]
    coverage = [{"chunk_id": c["id"], "source": c["source"], "tokens": 40, "asked": 5, "generated": 5, "kept": 5,
                 "truncated": False, "status": "answered", "page": None, "section": c["section"]} for c in chunks]
    files = {"chunks.jsonl": chunks, "pairs.jsonl": pairs, "rejects.jsonl": []}
    for name, rows in files.items():
        (out / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    (out / "report.json").write_text(json.dumps({"coverage": coverage, "pairs_kept": pair_count, "settings": {}}, indent=2), encoding="utf-8")
    given = sum((out / name).stat().st_size for name in [*files, "report.json"])

    assert main(["review", str(out)]) == 0
    size = (out / "review.html").stat().st_size
    assert size < given  # compact JSON of what the files hold, and nothing per pair besides
    assert size > (out / "pairs.jsonl").stat().st_size * 0.8
    data = page_data(out / "review.html")
    assert len(data["pairs"]) == pair_count and len(data["chunks"]) == chunk_count


def test_render_page_needs_only_the_data() -> None:
    data = {"out": "x<y", "pairs": [], "rejects": [], "chunks": [], "report": {}, "decisions": []}
    text = render_page(data)
    assert "<title>qagen review: x&lt;y</title>" in text  # the out folder's name is escaped in the title too


@pytest.mark.parametrize("rows", [0, 1, 2, 255, 256, 257, 1000])
def test_the_page_holds_the_json_of_its_data_whatever_the_number_of_rows(rows: int) -> None:
    # Rows are escaped a batch at a time; the page must hold exactly script_json of the whole data.
    pairs = [{"id": f"p{i}", "question": f"Is <b>{i}</b> & more\u2028?", "answer": "\ud800 odd" if i % 97 == 5 else "yes"} for i in range(rows)]
    data = {"out": "o", "pairs": pairs, "rejects": iter(list(pairs)), "chunks": [], "report": {"n": rows}}
    text = render_page(data)
    start = text.index('id="qagen-data">') + len('id="qagen-data">')
    expected = script_json({**data, "rejects": pairs})
    assert text[start:start + len(expected) + len("</script>")] == expected + "</script>"
