"""Token counting and a whole run on input of any size (a 1.2 MB text file used to end in a traceback)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from qagen.cli import main
from qagen.documents.tokens import counter_for

WORDS = ["ferry", "harbour", "ticket", "£4.50", "Port", "Essary,", "sailing", "timetable.", "é", "island", "1987", "(route", "2)", "don't"]


def prose(words: int, seed: int = 1) -> str:
    rng = random.Random(seed)
    lines = []
    for _ in range(words // 12):
        lines.append(" ".join(rng.choice(WORDS) for _ in range(12)) + ("\n\n" if rng.random() < 0.2 else "\n"))
    return "".join(lines)


def test_counting_in_pieces_gives_the_same_count_as_counting_at_once() -> None:
    count = counter_for("gpt-4o-mini")
    text = prose(60_000)  # about 400,000 characters and 110,000 tokens: still countable in one call
    assert 100_000 < len(text) < 1_000_000
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # bpe-openai's own importlib.resources call
        import bpe_openai  # the package's own encoder: the reference qagen's counts must equal

    whole = len(bpe_openai.get_encoding("o200k_base").encode(text, disallowed_special=()))
    assert count(text) == whole


def test_text_of_any_size_can_be_counted() -> None:
    count = counter_for("gpt-4o-mini")
    big = prose(200_000)  # 1.3 MB: over the encoder's one-call limits (1,000,000 characters, 200,000 tokens)
    assert len(big) > 1_000_000
    middle = big.index(" sailing ", len(big) // 2)  # a space between two words: no token spans it
    assert count(big) == count(big[:middle]) + count(big[middle:]) > 200_000
    assert count("x" * 2_500_000) > 200_000  # one unbroken run, no space to cut at: counted all the same


def test_a_run_on_a_1_2_mb_text_file_finishes(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "big.txt").write_text(prose(190_000), encoding="utf-8")
    assert (corpus / "big.txt").stat().st_size > 1_200_000
    out = tmp_path / "out"
    assert main([str(corpus), "-o", str(out), "-q", "--chunk-size", "4000", "--idk-ratio", "0"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["chunks"] > 50 and report["pairs_kept"] > 0


def test_validate_reports_the_token_limit_of_a_huge_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "train.jsonl"
    huge = prose(180_000)
    assert len(huge) > 1_000_000
    rows = [{"messages": [{"role": "user", "content": f"Question {i}?"}, {"role": "assistant", "content": "Yes."}]} for i in range(12)]
    rows[3]["messages"][1]["content"] = huge
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "line 4" in out and "16385" in out.replace(",", "")
