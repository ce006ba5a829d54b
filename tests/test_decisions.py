"""Decisions from a review: drop, edit and keep pairs by id, through --decisions and qagen apply, kept for later runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import qagen
from fake_openai import chat_reply, grounded_pairs_reply, judge_reply
from helpers import CORPUS, output_files, read_jsonl
from qagen.cli import main
from qagen.pipeline.decisions import protect_from_dedupe
from qagen.pipeline.stages import drop_duplicates
from qagen.records import Pair


def _write(path: Path, *lines: dict | str) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines), encoding="utf-8")
    return path


def _judge_or_pairs(low: set[str] = frozenset()):  # type: ignore[assignment]
    """Pairs from the passage; the judge rates 5, or 2 for an answer holding any of ``low``."""
    def rate(item: dict) -> dict:
        score = 2 if any(word in item["answer"] for word in low) else 5
        return {"id": item["id"], "score": score, "reason": f"scored {score}"}

    def handler(request):
        if (judged := judge_reply(request, rate)) is not None:
            return judged
        system = request.messages[0]["content"]
        if system.startswith("You write questions"):  # I-don't-know candidates, about nothing the corpus holds
            return chat_reply(json.dumps({"questions": [
                "Does the cooperative run a night bus to the airport?", "Can passengers bring a canoe on the glasshouse tour?",
                "How many llamas live on the quayside farm?", "Is there a chess club for skippers in winter?",
                "Who designed the cooperative's mobile app?"]}))
        if system.startswith("You check whether passages"):
            return chat_reply('{"quote": "", "answered": false}')
        return grounded_pairs_reply(request, 3)
    return handler


def _server_args(server, out: Path, *extra: str) -> list[str]:
    # --no-cache: the journal alone must answer the second run (the call cache would hide a re-sent request).
    return [str(CORPUS), "--base-url", server.url, "--model", "m", "-o", str(out), "-q", "--chunk-size", "300",
            "--concurrency", "2", "--no-cache", *extra]


def _offline(out: Path, *extra: str) -> list[str]:
    return [str(CORPUS), "-o", str(out), "-q", *extra]


def test_apply_drops_edits_and_keeps_from_the_journal_and_a_later_rerun_still_honours_them(tmp_path: Path, fake_openai) -> None:
    fake_openai.handler = _judge_or_pairs()
    out = tmp_path / "o"
    args = _server_args(fake_openai, out, "--judge")
    assert main(args) == 0
    assert any(r.messages[0]["content"].startswith("You check") for r in fake_openai.chat_requests())
    pairs = read_jsonl(out / "pairs.jsonl")
    grounded = [p for p in pairs if p["kind"] == "grounded"]
    # Two pairs of one chunk: the judge's request for that chunk must still be the one answered before.
    dropped, edited = grounded[0], grounded[1]
    assert dropped["chunk_id"] == edited["chunk_id"]
    idk = next(p for p in pairs if p["kind"] == "idk")
    new_question = "What exactly does this part of the documents state?"
    decisions = _write(tmp_path / "decisions.jsonl",
                       {"pair_id": dropped["id"], "action": "drop"},
                       {"pair_id": edited["id"], "action": "edit", "question": new_question, "answer": edited["answer"]},
                       {"pair_id": grounded[2]["id"], "action": "keep"},
                       {"pair_id": idk["id"], "action": "drop"})
    fake_openai.requests.clear()

    assert main(["apply", str(out), str(decisions), "-q"]) == 0
    assert fake_openai.chat_requests() == []  # everything from the journal: generation, judge and I-don't-know requests
    after = {p["id"]: p for p in read_jsonl(out / "pairs.jsonl")}
    assert dropped["id"] not in after and idk["id"] not in after
    assert after[edited["id"]]["question"] == new_question  # same id, new text, same provenance
    assert after[edited["id"]]["source"] == edited["source"] and after[edited["id"]]["chunk_id"] == edited["chunk_id"]
    review_rejects = [r for r in read_jsonl(out / "rejects.jsonl") if r["stage"] == "review"]
    assert {r["pair_id"] for r in review_rejects} == {dropped["id"], idk["id"]}
    assert {r["reason"] for r in review_rejects} == {"dropped_by_reviewer"}
    assert any(new_question in line for line in (out / "train.jsonl").read_text().splitlines() + (out / "valid.jsonl").read_text().splitlines())
    report = json.loads((out / "report.json").read_text())
    assert report["stages"]["review"]["decisions"] == {"keep": 1, "drop": 2, "edit": 1}
    assert report["stages"]["review"]["not_found"] == 0
    assert [json.loads(line)["pair_id"] for line in (out / "decisions.jsonl").read_text().splitlines()] == [
        dropped["id"], edited["id"], grounded[2]["id"], idk["id"]]
    applied = output_files(out)

    # The same command as the first run, no --decisions: the stored decisions still hold, nothing is asked.
    assert main(args) == 0
    assert fake_openai.chat_requests() == []
    assert output_files(out) == applied


def test_a_kept_pair_survives_a_stricter_judge_and_an_edit_outranks_its_duplicate(tmp_path: Path, fake_openai) -> None:
    fake_openai.handler = _judge_or_pairs()
    out = tmp_path / "o"
    assert main(_server_args(fake_openai, out, "--judge", "--idk-ratio", "0")) == 0
    grounded = read_jsonl(out / "pairs.jsonl")
    kept, plain, editor = grounded[0], grounded[3], grounded[4]
    decisions = _write(tmp_path / "d.jsonl", {"pair_id": kept["id"], "action": "keep"},
                       # the edit asks what `plain` asks: `plain` is the duplicate, not the reviewed pair
                       {"pair_id": editor["id"], "action": "edit", "question": plain["question"], "answer": editor["answer"]})
    # The judge now rates both `kept` and `plain` low; the journal answers it, so the rating is the new handler's only
    # where the request is new: a fresh --judge-threshold is not in the manifest and needs no --restart.
    fake_openai.handler = _judge_or_pairs(low={kept["answer"], plain["answer"]})
    fake_openai.requests.clear()
    assert main(_server_args(fake_openai, out, "--judge", "--idk-ratio", "0", "--judge-threshold", "5",
                             "--decisions", str(decisions))) == 0
    assert fake_openai.chat_requests() == []
    after = {p["id"]: p for p in read_jsonl(out / "pairs.jsonl")}
    assert kept["id"] in after and editor["id"] in after
    assert plain["id"] not in after
    duplicate = next(r for r in read_jsonl(out / "rejects.jsonl") if r["pair_id"] == plain["id"])
    assert duplicate["reason"] == "exact_duplicate" and editor["id"] in duplicate["detail"]


def test_an_edit_that_fails_grounding_is_rejected_with_that_reason(tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert main(_offline(out)) == 0
    pair = read_jsonl(out / "pairs.jsonl")[0]
    decisions = _write(tmp_path / "d.jsonl", {"pair_id": pair["id"], "action": "edit", "question": pair["question"],
                                               "answer": "The ferry crosses in 97 minutes and carries 4,412 cars."})
    assert main(_offline(out, "--decisions", str(decisions))) == 0
    assert pair["id"] not in {p["id"] for p in read_jsonl(out / "pairs.jsonl")}
    reject = next(r for r in read_jsonl(out / "rejects.jsonl") if r["pair_id"] == pair["id"])
    assert reject["stage"] == "grounding" and reject["reason"] == "not_grounded" and "97" in reject["raw"]
    report = json.loads((out / "report.json").read_text())
    assert any("kept or edited failed the checks (not_grounded)" in w for w in report["warnings"])


def test_later_files_merge_on_top_the_last_decision_winning_and_restart_forgets_them(tmp_path: Path, capsys) -> None:
    out = tmp_path / "o"
    assert main(_offline(out)) == 0
    first, second = read_jsonl(out / "pairs.jsonl")[:2]
    assert main(_offline(out, "--decisions", str(_write(tmp_path / "a.jsonl", {"pair_id": first["id"], "action": "drop"})))) == 0
    assert first["id"] not in {p["id"] for p in read_jsonl(out / "pairs.jsonl")}
    later = _write(tmp_path / "b.jsonl", {"pair_id": second["id"], "action": "drop"}, {"pair_id": first["id"], "action": "keep"})
    assert qagen.generate(CORPUS, out=out, decisions=later).report.stages["review"]["decisions"]["keep"] == 1
    ids = {p["id"] for p in read_jsonl(out / "pairs.jsonl")}
    assert first["id"] in ids and second["id"] not in ids
    assert main(_offline(out)) == 0  # no --decisions: the merged ones hold
    assert {p["id"] for p in read_jsonl(out / "pairs.jsonl")} == ids
    capsys.readouterr()
    assert main([str(CORPUS), "-o", str(out), "--restart"]) == 0
    assert "forgets the 2 review decisions" in capsys.readouterr().err
    assert not (out / "decisions.jsonl").exists()
    assert second["id"] in {p["id"] for p in read_jsonl(out / "pairs.jsonl")}


@pytest.mark.parametrize("line, words", [
    ('{"pair_id": "x", "action": "drop"', "is not JSON"),
    ('{"pair_id": "x", "action": "delete"}', "action 'delete'; it must be keep, drop or edit"),
    ('{"action": "drop"}', "has no pair_id"),
    ('{"pair_id": "x", "action": "edit", "question": "Why?"}', "edits pair x but has no answer"),
    ('["x", "drop"]', "must be a JSON object"),
])
def test_a_bad_decision_line_is_one_error_naming_its_line(tmp_path: Path, capsys, line: str, words: str) -> None:
    out = tmp_path / "o"
    decisions = _write(tmp_path / "d.jsonl", {"pair_id": "fine-0", "action": "keep"}, line)
    assert main(_offline(out, "--decisions", str(decisions))) == 2
    err = capsys.readouterr().err
    assert f"d.jsonl line 2 " in err and words in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()  # refused before anything was made


def test_unknown_ids_and_repeated_decisions_are_warnings_that_name_them(tmp_path: Path, capsys) -> None:
    out = tmp_path / "o"
    assert main(_offline(out)) == 0
    pair = read_jsonl(out / "pairs.jsonl")[0]
    decisions = _write(tmp_path / "d.jsonl", {"pair_id": pair["id"], "action": "drop"}, {"pair_id": "gone-3", "action": "drop"},
                       {"pair_id": pair["id"], "action": "keep"})
    capsys.readouterr()
    assert main([str(CORPUS), "-o", str(out), "--decisions", str(decisions)]) == 0
    printed = capsys.readouterr()
    err = printed.err
    assert "review    1 kept by the reviewer (1 names no pair of this run)" in printed.out
    assert "gone-3" in err and "does not have" in err
    assert f"2 decisions for pair {pair['id']} (lines 1, 3); the last one, on line 3, is used" in err
    assert pair["id"] in {p["id"] for p in read_jsonl(out / "pairs.jsonl")}  # the last one was keep
    report = json.loads((out / "report.json").read_text())
    assert report["stages"]["review"]["not_found"] == 1


def test_apply_needs_an_out_folder_with_a_recorded_run(tmp_path: Path, capsys) -> None:
    decisions = _write(tmp_path / "d.jsonl", {"pair_id": "a-0", "action": "keep"})
    assert main(["apply", str(tmp_path / "nothing"), str(decisions)]) == 2
    err = capsys.readouterr().err
    assert "is not a qagen out folder" in err and "--decisions" in err


def test_apply_reruns_the_recorded_settings_from_another_folder(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "o"
    assert main(_offline(out, "-n", "2", "--chunk-size", "400")) == 0  # settings that must match, or the run is refused
    pair = read_jsonl(out / "pairs.jsonl")[0]
    decisions = _write(tmp_path / "d.jsonl", {"pair_id": pair["id"], "action": "drop"})
    monkeypatch.chdir(tmp_path)  # paths were recorded whole
    assert main(["apply", "o", "d.jsonl", "-q"]) == 0
    assert pair["id"] not in {p["id"] for p in read_jsonl(out / "pairs.jsonl")}
    assert json.loads((out / "report.json").read_text())["chunks_resumed"] > 0


def _pair(pair_id: str, question: str) -> Pair:
    return Pair(id=pair_id, question=question, answer="It sails at noon.", source="a.md", chunk_id="c")


def test_dedupe_never_drops_a_reviewed_pair_and_keeps_the_input_order() -> None:
    pairs = [_pair("a", "When does the ferry sail?"), _pair("b", "When does the ferry sail?"), _pair("c", "When does the ferry sail?")]
    dedupe_exact = lambda ps: drop_duplicates(ps, 0.75)  # noqa: E731
    assert [p.id for p in dedupe_exact(pairs)[0]] == ["a"]
    kept, dropped = drop_duplicates(pairs, 0.75, {"b", "c"})
    assert [p.id for p in kept] == ["b", "c"]  # both reviewed: both stay; the unreviewed first one is the duplicate
    assert [(r.pair_id, r.reason) for r in dropped] == [("a", "exact_duplicate")]
    assert protect_from_dedupe(pairs, set(), lambda ps: (list(ps), [])) == (pairs, [])


def test_a_damaged_copy_in_the_out_folder_is_one_error_naming_it(tmp_path: Path, capsys) -> None:
    out = tmp_path / "o"
    assert main(_offline(out)) == 0
    (out / "decisions.jsonl").write_text('{"pair_id": "a-0", "action": "keep"}\n{"pair_id": \n')
    manifest = (out / ".qagen" / "manifest.json").read_text()
    assert main(_offline(out)) == 1
    err = capsys.readouterr().err
    assert "decisions.jsonl line 2 is not JSON" in err and "Fix or remove" in err
    assert (out / ".qagen" / "manifest.json").read_text() == manifest
