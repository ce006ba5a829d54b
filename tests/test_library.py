"""The library API (``qagen.generate``, ``qagen.agenerate``) and settings named like the flags everywhere."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

import qagen
from qagen.cli import main
from qagen.records import Completion, Request

from helpers import CORPUS, read_jsonl


def test_generate_returns_the_pairs_rejects_report_and_paths_it_wrote(tmp_path: Path) -> None:
    result = qagen.generate(CORPUS, out=tmp_path / "out", pairs_per_chunk=3)

    assert set(result.paths) == {"pairs", "rejects", "train", "valid", "report", "card", "review"}
    assert all(path.is_file() and path.parent == tmp_path / "out" for path in result.paths.values())
    written = read_jsonl(result.paths["pairs"])
    assert [p["id"] for p in written] == [p.id for p in result.pairs] and result.pairs
    assert [r["reason"] for r in read_jsonl(result.paths["rejects"])] == [r.reason for r in result.rejects]
    assert result.report.pairs_kept == len(result.pairs)
    assert result.report.settings["pairs_per_chunk"] == 3 and result.report.offline
    assert json.loads(result.paths["report"].read_text())["pairs_kept"] == len(result.pairs)


def test_generate_works_inside_a_running_event_loop_and_agenerate_awaits(tmp_path: Path) -> None:
    async def notebook_cell() -> tuple[int, int]:
        inside = qagen.generate(CORPUS / "fleet.txt", out=tmp_path / "a")  # asyncio.run() would refuse here
        awaited = await qagen.agenerate(CORPUS / "fleet.txt", out=tmp_path / "b")
        return len(inside.pairs), len(awaited.pairs)

    inside, awaited = asyncio.run(notebook_cell())
    assert inside == awaited > 0


class ScriptedModel:
    """Any object with the ChatModel protocol: two pairs per chunk, quoted from the chunk."""

    name = "scripted-model"

    def __init__(self) -> None:
        self.asked = 0
        self.closed = False

    async def complete(self, request: Request) -> Completion:
        self.asked += 1
        sentences = [s.strip() for s in request.passage.replace("\n", " ").split(". ") if len(s.split()) > 4][:2]
        pairs = [{"question": f"What does the text say about {' '.join(s.split()[:3])}?", "answer": s + "."} for s in sentences]
        return Completion(text=json.dumps(pairs), finish_reason="stop", prompt_tokens=10, completion_tokens=20)

    async def aclose(self) -> None:
        self.closed = True


def test_any_chat_model_object_can_write_the_pairs(tmp_path: Path) -> None:
    model = ScriptedModel()
    result = qagen.generate(CORPUS / "fleet.txt", out=tmp_path / "out", model=model, idk_ratio=0)

    assert model.asked == result.report.chunks > 0
    assert result.report.model == "scripted-model" and not result.report.offline
    assert result.pairs and all(p.kind == "grounded" for p in result.pairs)
    assert not model.closed  # the caller's model is the caller's to close


class FreezeWatchingModel(ScriptedModel):
    """Records how many objects the cycle collector had been told to leave alone when each request came."""

    def __init__(self) -> None:
        super().__init__()
        self.frozen: list[int] = []

    async def complete(self, request: Request) -> Completion:
        import gc

        self.frozen.append(gc.get_freeze_count())
        return await super().complete(request)


def test_a_run_spares_the_collector_what_it_keeps_and_gives_it_back_at_the_end(tmp_path: Path) -> None:
    import gc

    model = FreezeWatchingModel()
    qagen.generate(CORPUS / "fleet.txt", out=tmp_path / "out", model=model, idk_ratio=0)
    assert model.frozen and min(model.frozen) > 0  # the chunks, read and kept, were out of the collector's sight
    assert gc.get_freeze_count() == 0  # and the caller's program has its collector as before

    # A program that froze objects of its own keeps them frozen, and qagen freezes nothing more.
    gc.freeze()
    try:
        own = gc.get_freeze_count()
        model = FreezeWatchingModel()
        qagen.generate(CORPUS / "fleet.txt", out=tmp_path / "again", model=model, idk_ratio=0)
        # (Frozen objects that die leave the count: it may only go down.)
        assert max(model.frozen) <= own and 0 < gc.get_freeze_count() <= own
    finally:
        gc.unfreeze()


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"chunk_tokens": 400}, "unknown setting 'chunk_tokens' (it is called chunk_size now)"),
        ({"chunk_sise": 400}, "unknown setting 'chunk_sise' (did you mean chunk_size?)"),
        ({"chunk_size": "big"}, "argument chunk_size must be a whole number (got 'big')"),
        ({"valid_fraction": 1.0}, "argument valid_fraction must be at least 0 and below 1 (got 1.0)"),
        ({"format": "xml"}, "argument format must be chat or completion (got 'xml')"),
        ({"judge": True}, "--judge needs a model"),
    ],
)
def test_a_bad_setting_is_one_qagen_error_naming_it(tmp_path: Path, settings: dict, words: str) -> None:
    with pytest.raises(qagen.QagenError) as caught:
        qagen.generate(CORPUS, out=tmp_path / "out", **settings)
    assert words in str(caught.value)
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_environment_variables_use_the_flags_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("QAGEN_CHUNK_SIZE", "300")
    monkeypatch.setenv("QAGEN_CHUNK_OVERLAP", "30")
    monkeypatch.setenv("QAGEN_SYSTEM", "Answer from the ferry documents.")
    monkeypatch.setenv("QAGEN_CHUNK_TOKENS", "900")  # the old name: ignored, with a warning
    assert main([str(CORPUS), "-o", str(tmp_path / "out")]) == 0

    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert (report["settings"]["chunk_size"], report["settings"]["chunk_overlap"]) == (300, 30)
    assert all(c["tokens"] <= 300 for c in report["coverage"])
    first = read_jsonl(tmp_path / "out" / "train.jsonl")[0]["messages"][0]
    assert first == {"role": "system", "content": "Answer from the ferry documents."}
    assert "warning: QAGEN_CHUNK_TOKENS names no qagen setting" in capsys.readouterr().err


def test_config_file_keys_use_the_flags_names(tmp_path: Path, capsys) -> None:
    config = tmp_path / "qagen.toml"
    config.write_text('chunk_size = 300\nrefusal = ["No idea, sorry."]\nidk_ratio = 0.2\n')
    assert main([str(CORPUS), "-o", str(tmp_path / "out"), "--config", str(config), "-q"]) == 0
    pairs = read_jsonl(tmp_path / "out" / "pairs.jsonl")
    assert {p["answer"] for p in pairs if p["kind"] == "idk"} == {"No idea, sorry."}

    config.write_text("chunk_tokens = 300\n")
    assert main([str(CORPUS), "-o", str(tmp_path / "again"), "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"error: config file {config}: unknown setting 'chunk_tokens' (it is called chunk_size now)." in err
    config.write_text('chunk_size = "wide"\n')
    assert main([str(CORPUS), "-o", str(tmp_path / "again"), "--config", str(config)]) == 2
    assert f"error: chunk_size in config file {config} must be a whole number (got 'wide')." in capsys.readouterr().err


def test_restart_is_a_flag_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    # Starting over throws paid answers away: only a flag typed for this run may ask for it.
    config = tmp_path / "qagen.toml"
    config.write_text("restart = true\n")
    assert main([str(CORPUS), "-o", str(tmp_path / "out"), "--config", str(config)]) == 2
    assert "unknown setting 'restart'" in capsys.readouterr().err


def test_the_readme_lists_every_setting_once_with_its_flag_variable_and_range() -> None:
    from qagen.options import GENERATE_OPTIONS

    from helpers import REPO

    rows = [line for line in (REPO / "README.md").read_text(encoding="utf-8").splitlines() if line.startswith("| ")]
    for option in GENERATE_OPTIONS.values():
        key = "(flag only)" if option.flag_only else f"`{option.name}`"
        mine = [row for row in rows if row.startswith(f"| {key} |") and (option.flag in row or option.name in ("leading_space", "structured_output", "cache", "review"))]
        assert len(mine) == 1, option.name
        if not option.flag_only:
            assert f"`{option.env}`" in mine[0]
        assert option.valid_range() in mine[0]
