"""qagen's legacy prompt/completion files, judged by a checker qagen does not own.

openai-python 0.28.1 ships the validators behind `openai tools fine_tunes.prepare_data`. That
old package cannot share a virtualenv with qagen's `openai>=1.40`, so tests/legacy_check.py runs
them under a second interpreter named by the LEGACY_OPENAI_PYTHON environment variable
(.ci/run creates it). Exit codes of legacy_check.py: 0 clean, 1 findings, 2 usage or crash.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from helpers import CORPUS
from qagen.cli import main

# Read once at import: the autouse fixture in conftest.py only clears OPENAI_* and QAGEN_* names.
LEGACY_PYTHON = os.environ.get("LEGACY_OPENAI_PYTHON", "")
LEGACY_CHECK = Path(__file__).resolve().parent / "legacy_check.py"

pytestmark = pytest.mark.skipif(
    not LEGACY_PYTHON,
    reason=(
        "set LEGACY_OPENAI_PYTHON to a python with `pip install openai==0.28.1 pandas` "
        "to run openai's legacy prepare_data checks (.ci/run does this)"
    ),
)


class Checked:
    """One run of legacy_check.py: exit code, printed report, and its RESULT entries."""

    def __init__(self, completed: subprocess.CompletedProcess[str]) -> None:
        self.code = completed.returncode
        self.output = completed.stdout + completed.stderr
        result_lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
        self.remediations: list[dict] = json.loads(result_lines[-1][len("RESULT "):]) if result_lines else []

    def by(self, validator: str) -> dict:
        found = [r for r in self.remediations if r["validator"] == validator]
        assert len(found) == 1, f"{validator} not reported once:\n{self.output}"
        return found[0]

    def necessary_or_errors(self) -> list[dict]:
        return [r for r in self.remediations if r["necessary"] or r["error"]]

    def optional(self) -> list[str]:
        return [r["validator"] for r in self.remediations if r["optional"]]


def legacy_check(path: Path, *, strict: bool = False) -> Checked:
    # -I: the tests folder must not land on the other interpreter's sys.path.
    command = [LEGACY_PYTHON, "-I", str(LEGACY_CHECK), *(["--strict"] if strict else []), str(path)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    checked = Checked(completed)
    # Printed so that `pytest -s` (and any failure) shows exactly what the old tool said.
    print(f"--- legacy_check {'--strict ' if strict else ''}{path.name} -> exit {checked.code}\n{checked.output}")
    assert checked.code in (0, 1), f"legacy_check.py could not run:\n{checked.output}"
    assert checked.remediations, f"legacy_check.py printed no RESULT line:\n{checked.output}"
    return checked


def line_count(path: Path) -> int:
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def qagen_completion_files(out: Path, *extra: str) -> list[Path]:
    assert main([str(CORPUS), "-o", str(out), "--format", "completion", "-q", *extra]) == 0
    train, valid = out / "train.jsonl", out / "valid.jsonl"
    # prepare_data misreads a one-line .jsonl as a JSON document (see the test below), so a
    # one-line valid.jsonl could not be judged fairly; the corpus gives ten validation examples.
    assert line_count(train) >= 10 and line_count(valid) >= 2, "the corpus no longer gives enough examples"
    return [train, valid]


def as_shown(text: str) -> str:
    """How prepare_data prints a suffix: newlines as a backslash and n."""
    return text.replace("\n", "\\n")


def assert_passes_as_qagen_promises(path: Path, separator: str, stop: str) -> None:
    checked = legacy_check(path, strict=True)
    assert checked.code == 0, checked.output
    assert checked.necessary_or_errors() == []
    # The whole file was read, and the tool found the separator and stop qagen was asked for.
    assert f"Your file contains {line_count(path)} prompt-completion pairs" in checked.by("num_examples_validator")["immediate"]
    assert f"{as_shown(separator)}`" in checked.by("common_prompt_suffix_validator")["immediate"]
    assert f"{as_shown(stop)}`" in checked.by("common_completion_suffix_validator")["immediate"]
    assert "completions_space_start_validator" not in checked.optional()


def test_default_completion_files_pass_prepare_data(tmp_path: Path) -> None:
    for path in qagen_completion_files(tmp_path / "out"):
        assert_passes_as_qagen_promises(path, separator="\n\n###\n\n", stop=" END")


def test_custom_separator_and_stop_pass_prepare_data(tmp_path: Path) -> None:
    files = qagen_completion_files(tmp_path / "out", "--separator", " ->", "--stop", "\n")
    for path in files:
        assert_passes_as_qagen_promises(path, separator=" ->", stop="\n")


QUESTIONS = [
    ("When does the first ferry leave", "The first ferry leaves at 7.15 from the north pier"),
    ("How much is an adult single", "An adult single costs £4.20"),
    ("Are dogs allowed on board", "Dogs on a lead are welcome on the open deck"),
    ("Where is the ticket office", "The ticket office is in Harbour House"),
    ("Who runs the island service", "The county council runs the island service"),
    ("Is there a café on board", "A small café serves tea and cakes"),
    ("Can I bring a bicycle", "Bicycles travel for £2.00 each way"),
    ("What happens in a storm", "Sailings are cancelled above force 8"),
    ("How long is the crossing", "The crossing takes forty minutes"),
    ("Is parking at the pier free", "Parking at the pier is free for one day"),
    ("Do children pay", "Children under five travel free"),
    ("When is the last sailing", "The last sailing leaves at 18.30"),
]


def test_missing_separator_and_leading_space_are_found(tmp_path: Path) -> None:
    # Prompts end three different ways, completions start with no space and have no stop.
    endings = ("?", "", " please?")
    bad = write_jsonl(
        tmp_path / "bad.jsonl",
        [{"prompt": q + endings[i % 3], "completion": a + "."} for i, (q, a) in enumerate(QUESTIONS)],
    )
    lenient = legacy_check(bad)
    # prepare_data itself only suggests these fixes, so without --strict the file passes...
    assert lenient.code == 0, lenient.output
    assert {"common_prompt_suffix_validator", "completions_space_start_validator"} <= set(lenient.optional())
    assert "does not contain a common separator" in lenient.by("common_prompt_suffix_validator")["immediate"]
    # ...and --strict, which qagen's files pass above, turns them into a failure.
    strict = legacy_check(bad, strict=True)
    assert strict.code == 1, strict.output
    # The "." ending every completion also appears inside them: no usable stop sequence either.
    broken = {r["validator"] for r in strict.remediations if r["breaks_convention"]}
    assert broken == {"common_prompt_suffix_validator", "completions_space_start_validator", "common_completion_suffix_validator"}


def test_extra_keys_and_empty_completions_are_necessary_fixes(tmp_path: Path) -> None:
    # Shaped like a mistaken upload of pairs with their provenance kept, one answer lost.
    rows = [
        {"prompt": q + "?\n\n###\n\n", "completion": f" {a}. END" if i else "", "source": "fares.md"}
        for i, (q, a) in enumerate(QUESTIONS)
    ]
    checked = legacy_check(write_jsonl(tmp_path / "bad.jsonl", rows))
    assert checked.code == 1, checked.output
    assert "Remove additional columns/keys: ['source']" == checked.by("additional_column_validator")["necessary"]
    assert "Remove 1 rows with empty completions" == checked.by("non_empty_field_validator")["necessary"]


def test_missing_completion_key_is_an_error(tmp_path: Path) -> None:
    rows = [{"prompt": q + "?\n\n###\n\n", "answer": f" {a}. END"} for q, a in QUESTIONS]
    checked = legacy_check(write_jsonl(tmp_path / "bad.jsonl", rows))
    assert checked.code == 1, checked.output
    assert "`completion` column/key is missing" in checked.by("necessary_column(completion)")["error"]


def test_a_one_line_jsonl_file_is_misread_by_prepare_data(tmp_path: Path) -> None:
    # Why the tests above insist on two or more validation lines: a well-formed single example
    # is taken for a JSON document and rejected, whatever qagen writes.
    question, answer = QUESTIONS[0]
    one = write_jsonl(tmp_path / "one.jsonl", [{"prompt": question + "?\n\n###\n\n", "completion": f" {answer}. END"}])
    checked = legacy_check(one)
    assert checked.code == 1, checked.output
    assert "does not appear to be in valid JSONL format" in checked.by("read_any_format")["error"]
