"""``qagen FOLDER --dry-run``: the requests, tokens, cost and time of a run, with nothing sent and nothing written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fake_openai import grounded_pairs_reply
from helpers import CORPUS
from qagen.cli import main
from qagen.llm.prices import price_for

SMALL = ["--chunk-size", "300", "--idk-ratio", "0"]


def _dry(capsys, *args: str) -> str:
    capsys.readouterr()
    assert main([str(CORPUS), "--dry-run", *args]) == 0
    return capsys.readouterr().out


def _row(out: str, stage: str) -> list[int]:
    """The figures of one row of the table: requests, input tokens, typical and upper output tokens (no bounds in parentheses)."""
    line = next(line for line in out.splitlines() if line.startswith(stage + "  "))
    figures = re.sub(r"\(<= [\d,]+\)", "", line[len(stage):])
    return [int(f.replace(",", "")) for f in re.findall(r"[\d,]+", figures)]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_dry_run_sends_nothing_writes_nothing_and_counts_the_requests_a_run_sends(tmp_path: Path, fake_openai, capsys) -> None:
    out = tmp_path / "dry"
    text = _dry(capsys, "-o", str(out), "--base-url", fake_openai.url, "--model", "gpt-4o-mini", *SMALL)
    assert fake_openai.requests == []
    assert not out.exists()
    planned = _row(text, "generation")[0]

    # The real run with the same settings asks exactly that many.
    assert main([str(CORPUS), "-q", "-o", str(tmp_path / "real"), "--base-url", fake_openai.url, "--model", "gpt-4o-mini", *SMALL]) == 0
    assert len(fake_openai.chat_requests()) == planned > 1


def test_a_known_model_gets_a_cost_from_the_table_and_the_batch_price(tmp_path: Path, capsys) -> None:
    text = _dry(capsys, "-o", str(tmp_path / "out"), "--base-url", "http://127.0.0.1:9/v1", "--model", "gpt-4o-mini", *SMALL)
    price = price_for("gpt-4o-mini")
    _requests, tokens_in, typical_out, _max_out = _row(text, "total")
    expected = (tokens_in * price.input + typical_out * price.output) / 1e6  # type: ignore[operator]
    assert f"cost: about ${expected:,.2f}" in text or f"cost: about ${expected:.4f}" in text
    assert "Batch API" in text and "2025-08" in text


def test_an_unknown_model_says_no_price_is_known(tmp_path: Path, capsys) -> None:
    text = _dry(capsys, "-o", str(tmp_path / "out"), "--base-url", "http://127.0.0.1:9/v1", "--model", "my-local-llama", *SMALL)
    assert "no price known for my-local-llama; pass --price-input and --price-output" in text
    assert "$" not in text


def _cost(text: str) -> float:
    return float(re.search(r"cost: about \$([\d.,]+)", text).group(1).replace(",", ""))  # type: ignore[union-attr]


@pytest.mark.parametrize("where", ["flags", "config"])
def test_prices_come_from_flags_or_the_config_file(tmp_path: Path, capsys, where: str) -> None:
    args = ["-o", str(tmp_path / "out"), "--base-url", "http://127.0.0.1:9/v1", "--model", "my-local-llama", *SMALL]
    if where == "flags":
        args += ["--price-input", "20", "--price-output", "80"]
    else:
        config = tmp_path / "qagen.toml"
        config.write_text("price_input = 20\nprice_output = 80\n")
        args += ["--config", str(config)]
    text = _dry(capsys, *args)
    _requests, tokens_in, typical_out, _max_out = _row(text, "total")
    assert _cost(text) == pytest.approx((tokens_in * 20 + typical_out * 80) / 1e6, abs=0.006)
    assert "your settings" in text and "Batch API" not in text


def test_an_override_wins_over_the_table(tmp_path: Path, capsys) -> None:
    args = ["-o", str(tmp_path / "out"), "--base-url", "http://127.0.0.1:9/v1", *SMALL]
    table = _cost(_dry(capsys, *args, "--model", "gpt-4o"))
    doubled = _cost(_dry(capsys, *args, "--model", "gpt-4o", "--price-input", "5", "--price-output", "20"))
    assert doubled == pytest.approx(2 * table, rel=0.05)


def test_a_resumed_out_folder_estimates_only_what_is_left_and_stays_as_it_was(tmp_path: Path, fake_openai, capsys) -> None:
    out = tmp_path / "out"
    args = ["-o", str(out), "--base-url", fake_openai.url, "--model", "gpt-4o-mini", *SMALL]
    fake_openai.handler = lambda request: grounded_pairs_reply(request, 3)
    assert main([str(CORPUS), "-q", *args]) == 0
    chunks = len(fake_openai.chat_requests())
    journal = out / ".qagen" / "journal.jsonl"
    lines = journal.read_text().splitlines()
    journal.write_text("\n".join(lines[:3]) + "\n")  # as if the run had stopped after three answers
    before = _snapshot(out)
    fake_openai.requests.clear()

    text = _dry(capsys, *args)
    assert _row(text, "generation")[0] == chunks - 3
    assert "3 already answered" in text and "the mean of the 3 replies in the journal" in text
    assert fake_openai.requests == []
    assert _snapshot(out) == before


def test_the_offline_generator_costs_nothing(tmp_path: Path, capsys) -> None:
    text = _dry(capsys, "-o", str(tmp_path / "out"), "--model", "offline")
    assert "nothing to pay" in text
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("model, expected", [
    ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),  # a dated snapshot, not taken for gpt-4o
    ("openai/gpt-4o", "gpt-4o"),
    ("ft:gpt-4.1-mini:org::abc", "gpt-4.1-mini"),
    ("o4-mini", "o4-mini"),
])
def test_dated_and_prefixed_names_find_their_price(model: str, expected: str) -> None:
    assert price_for(model) == price_for(expected)
    assert price_for(model).known


def test_names_near_a_known_one_get_no_price() -> None:
    assert not price_for("gpt-4o-mini-turbo").known
    assert not price_for("llama3").known
    assert price_for("gpt-4o").input != price_for("gpt-4o-mini").input


def test_an_out_folder_made_with_other_settings_is_estimated_as_a_fresh_start(tmp_path: Path, fake_openai, capsys) -> None:
    out = tmp_path / "out"
    args = ["-o", str(out), "--base-url", fake_openai.url, "--model", "gpt-4o-mini", *SMALL]
    fake_openai.handler = lambda request: grounded_pairs_reply(request, 3)
    assert main([str(CORPUS), "-q", *args, "-n", "3"]) == 0
    chunks = len(fake_openai.chat_requests())

    # The run itself would refuse that folder: its answers are no answers for these settings.
    text = _dry(capsys, *args, "-n", "4")
    assert _row(text, "generation")[0] == chunks
    assert "holds a run made with different settings (pairs_per_chunk 3 -> 4)" in text and "--restart" in text


def test_the_generation_input_tokens_are_those_of_the_requests_a_run_sends(tmp_path: Path, fake_openai, capsys) -> None:
    from qagen.documents.tokens import count_chat_tokens, counter_for

    args = ["--base-url", fake_openai.url, "--model", "gpt-4o-mini", *SMALL]
    planned = _row(_dry(capsys, "-o", str(tmp_path / "dry"), *args), "generation")[1]
    assert main([str(CORPUS), "-q", "-o", str(tmp_path / "real"), *args]) == 0
    counter = counter_for("gpt-4o-mini")
    sent = sum(count_chat_tokens(request.messages, counter) for request in fake_openai.chat_requests())
    assert planned == sent > 0
