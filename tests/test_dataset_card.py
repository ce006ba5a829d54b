"""OUT/README.md, the dataset card: Hugging Face metadata that `datasets.load_dataset(OUT)` reads, and how the data was made."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from helpers import CORPUS, REPO, read_jsonl
from qagen import __version__
from qagen.cli import main
from qagen.dataset.card import size_category


def _front_matter(card: str) -> str:
    assert card.startswith("---\n")
    return card[4:card.index("\n---\n", 4)]


def _yaml(card: str) -> dict:
    yaml = pytest.importorskip("yaml", reason="PyYAML (installed with the train extra's datasets) reads the card's metadata")
    return yaml.safe_load(_front_matter(card))


def test_card_has_the_hub_metadata_and_says_how_the_dataset_was_made(tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert main([str(CORPUS), "-o", str(out), "-q", "--language", "en"]) == 0
    card = (out / "README.md").read_text(encoding="utf-8")
    meta = _yaml(card)
    assert meta["configs"] == [{"config_name": "default", "data_files": [
        {"split": "train", "path": "train.jsonl"}, {"split": "validation", "path": "valid.jsonl"}]}]
    assert meta["task_categories"] == ["question-answering", "text-generation"]
    assert meta["size_categories"] == ["n<1K"] and meta["language"] == ["en"]
    assert "license" not in meta and "# license:" in _front_matter(card)  # the user's to fill, and said so
    report = json.loads((out / "report.json").read_text())
    qa_digest = hashlib.sha256((REPO / "templates" / "qa.json").read_bytes()).hexdigest()
    assert f"qagen {__version__}" in card and "offline generator" in card and qa_digest in card
    for stage, counts in report["stages"].items():
        if "in" in counts and "out" in counts:
            assert f"| {stage} | {counts['in']} | {counts['out']} |" in card
    assert f"{report['train_examples']} examples, split `train`" in card
    assert '"role": "system"' in card and "| grounding_threshold | `0.5` |" in card
    assert "## License" in card


@pytest.mark.parametrize("fmt", ["chat", "completion"])
def test_load_dataset_reads_train_and_validation_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    datasets = pytest.importorskip("datasets", reason="the datasets package (qagen's train extra) is not installed")
    # Offline, and every cache in the test's own folder: nothing may be downloaded or left behind.
    for name, value in {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"),
                        "HF_DATASETS_CACHE": str(tmp_path / "hf" / "datasets")}.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "o"
    assert main([str(CORPUS), "-o", str(out), "-q", "--format", fmt]) == 0
    loaded = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "hf" / "datasets"))
    assert set(loaded) == {"train", "validation"}
    assert [dict(row) for row in loaded["train"]] == read_jsonl(out / "train.jsonl")
    assert [dict(row) for row in loaded["validation"]] == read_jsonl(out / "valid.jsonl")


def test_an_empty_validation_file_is_left_out_of_the_metadata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "o"
    assert main([str(CORPUS / "fleet.txt"), "-o", str(out), "-q", "--valid-fraction", "0"]) == 0
    assert (out / "valid.jsonl").read_text() == ""
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "validation" not in _front_matter(card)
    assert "lists no validation split" in card
    datasets = pytest.importorskip("datasets", reason="the datasets package (qagen's train extra) is not installed")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    loaded = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "hf" / "datasets"))
    assert set(loaded) == {"train"} and len(loaded["train"]) == len(read_jsonl(out / "train.jsonl"))


def test_two_runs_that_make_the_same_files_write_the_same_card(tmp_path: Path) -> None:
    assert main([str(CORPUS), "-o", str(tmp_path / "a"), "-q"]) == 0
    assert main([str(CORPUS), "-o", str(tmp_path / "b"), "-q", "--concurrency", "3"]) == 0
    assert (tmp_path / "a" / "README.md").read_bytes() == (tmp_path / "b" / "README.md").read_bytes()


def test_a_readme_in_a_new_out_folder_is_not_overwritten(tmp_path: Path, capsys) -> None:
    out = tmp_path / "project"
    out.mkdir()
    (out / "README.md").write_text("my project\n")
    assert main([str(CORPUS), "-o", str(out), "-q"]) == 1
    assert "did not write (README.md)" in capsys.readouterr().err
    assert (out / "README.md").read_text() == "my project\n"


def test_a_language_that_is_no_code_is_refused(tmp_path: Path, capsys) -> None:
    assert main([str(CORPUS), "-o", str(tmp_path / "o"), "--language", "English\n- evil: yes"]) == 2
    assert "--language must be an ISO 639 code" in capsys.readouterr().err


@pytest.mark.parametrize("count, category", [(0, "n<1K"), (999, "n<1K"), (1000, "1K<n<10K"), (250_000, "100K<n<1M")])
def test_size_category_follows_the_hub_names(count: int, category: str) -> None:
    assert size_category(count) == category
