"""The quality stage through ``main(argv)``: checks, grounding, judge, dedupe, split, report, validate."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from fake_openai import chat_reply, grounded_pairs_reply, judge_reply
from helpers import CORPUS, read_jsonl
from qagen.cli import main
from qagen.quality.dedupe import dedupe
from qagen.records import Pair


def _server_args(server, out: Path, *extra: str) -> list[str]:
    return [str(CORPUS / "fleet.txt"), "--base-url", server.url, "--model", "m", "-o", str(out), "-q", "--concurrency", "1", *extra]


def _jsonl(*pairs: tuple[str, str]) -> str:
    return "\n".join(json.dumps({"question": q, "answer": a}) for q, a in pairs)


FLEET = (CORPUS / "fleet.txt").read_text(encoding="utf-8")
SENTENCES = [s.strip() for s in re.split(r"(?<=[.!?])\s+", FLEET) if len(s.split()) > 5]


def test_planted_defects_each_land_in_rejects_with_their_reason(tmp_path: Path, fake_openai) -> None:
    good = SENTENCES[2]
    fake_openai.handler = lambda request: chat_reply(_jsonl(
        ("What does the fleet document say first?", good),                      # kept
        ("What does the fleet document say first?", good),                      # exact duplicate
        ("WHAT does the fleet document say first ?!", good),                    # exact after normalising
        ("How fast is the Gullwing?", "The Gullwing does 97 knots on a calm day."),  # number not in the chunk
        ("The fleet is large.", "The fleet has four vessels."),                 # not a question
        ("What is the fleet?", "What is the fleet?"),                           # answer repeats the question
        ("What is {{ info }}?", good),                                          # template leftover
        ("Who owns the fleet?", '{"answer": "The cooperative owns it."}'),      # JSON leftover
    ))
    out = tmp_path / "o"
    assert main(_server_args(fake_openai, out, "--idk-ratio", "0", "--chunk-size", "2000")) == 0
    rejects = read_jsonl(out / "rejects.jsonl")
    reasons = [r["reason"] for r in rejects]
    assert reasons.count("exact_duplicate") == 2
    assert "not_grounded" in reasons
    assert "not_a_question" in reasons
    assert "answer_repeats_question" in reasons
    assert "template_leftover" in reasons
    assert "json_leftover" in reasons
    assert [p["answer"] for p in read_jsonl(out / "pairs.jsonl")] == [good]
    grounding = next(r for r in rejects if r["reason"] == "not_grounded")
    assert "97" in grounding["detail"] and grounding["stage"] == "grounding"
    duplicate = next(r for r in rejects if r["reason"] == "exact_duplicate")
    assert duplicate["detail"] and read_jsonl(out / "pairs.jsonl")[0]["id"] in duplicate["detail"]
    report = json.loads((out / "report.json").read_text())
    assert report["stages"]["check"]["in"] == 8 and report["stages"]["dedupe"]["dropped"] == {"exact_duplicate": 2}


def test_example_over_the_token_limit_is_rejected(tmp_path: Path, fake_openai) -> None:
    long_sentence = max(SENTENCES, key=len)
    fake_openai.handler = lambda request: chat_reply(_jsonl(("What does the long sentence say?", long_sentence), ("What does the fleet do?", SENTENCES[0])))
    out = tmp_path / "o"
    assert main(_server_args(fake_openai, out, "--idk-ratio", "0", "--chunk-size", "2000", "--max-example-tokens", "100")) == 0
    rejects = read_jsonl(out / "rejects.jsonl")
    assert any(r["reason"] == "too_many_tokens" and r["stage"] == "validate" for r in rejects)
    assert [p["answer"] for p in read_jsonl(out / "pairs.jsonl")] == [SENTENCES[0]]  # the short one fits


def _judge_handler(scores: dict[str, int], echo_altered: bool = False):
    def rate(item: dict) -> dict:
        score = next((s for word, s in scores.items() if word in item["answer"]), 5)
        row = {"id": item["id"], "score": score, "reason": f"scored {score}"}
        return row | {"question": "ALTERED", "answer": "ALTERED"} if echo_altered else row

    def handler(request):
        if (judged := judge_reply(request, rate)) is not None:
            return judged
        return grounded_pairs_reply(request, 3)
    return handler


def test_judge_rates_pairs_by_id_and_drops_low_ones(tmp_path: Path, fake_openai) -> None:
    fake_openai.handler = _judge_handler({SENTENCES[1]: 2}, echo_altered=True)
    out = tmp_path / "o"
    assert main(_server_args(fake_openai, out, "--idk-ratio", "0", "--judge", "--chunk-size", "2000")) == 0
    rejects = read_jsonl(out / "rejects.jsonl")
    low = [r for r in rejects if r["reason"] == "judge_low_score"]
    assert len(low) == 1 and "2/5" in low[0]["detail"] and SENTENCES[1] in low[0]["raw"]
    pairs = read_jsonl(out / "pairs.jsonl")
    assert pairs and all(p["question"] != "ALTERED" and p["answer"] != "ALTERED" for p in pairs)
    judge_requests = [r for r in fake_openai.chat_requests() if r.messages[0]["content"].startswith("You check")]
    assert len(judge_requests) == 1  # one request per chunk


def test_judge_that_skips_a_pair_leaves_it_unrated_in_rejects(tmp_path: Path, fake_openai) -> None:
    def handler(request):
        if request.messages[0]["content"].startswith("You check"):
            return chat_reply('{"id": "p1", "score": 5, "reason": "fine"}')  # says nothing of p2, p3
        return grounded_pairs_reply(request, 3)

    fake_openai.handler = handler
    out = tmp_path / "o"
    assert main(_server_args(fake_openai, out, "--idk-ratio", "0", "--judge", "--chunk-size", "2000")) == 0
    reasons = [r["reason"] for r in read_jsonl(out / "rejects.jsonl")]
    assert reasons.count("judge_unrated") == 2
    assert len(read_jsonl(out / "pairs.jsonl")) == 1


def test_judge_needs_a_model(tmp_path: Path, capsys) -> None:
    assert main([str(CORPUS), "-o", str(tmp_path / "o"), "--judge"]) == 2
    assert "--judge needs a model" in capsys.readouterr().err


def test_split_leaves_no_duplicate_across_and_keeps_chunks_on_one_side(tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert main([str(CORPUS), "-o", str(out), "-q", "--valid-fraction", "0.3"]) == 0
    pairs = read_jsonl(out / "pairs.jsonl")
    train = [p for p in pairs if p["split"] == "train"]
    valid = [p for p in pairs if p["split"] == "valid"]
    assert train and valid
    assert not {p["chunk_id"] for p in train if p["kind"] == "grounded"} & {p["chunk_id"] for p in valid if p["kind"] == "grounded"}
    as_pair = lambda p: Pair(p["id"], p["question"], p["answer"], p["source"], p["chunk_id"])  # noqa: E731
    for v in valid:
        for t in train:
            assert dedupe([as_pair(t), as_pair(v)])[1] == [], (t["question"], v["question"])
    # deterministic for a seed, different for another
    assert main([str(CORPUS), "-o", str(tmp_path / "again"), "-q", "--valid-fraction", "0.3"]) == 0
    assert (tmp_path / "again" / "valid.jsonl").read_text() == (out / "valid.jsonl").read_text()
    assert main([str(CORPUS), "-o", str(tmp_path / "seed"), "-q", "--valid-fraction", "0.3", "--seed", "7"]) == 0
    assert (tmp_path / "seed" / "valid.jsonl").read_text() != (out / "valid.jsonl").read_text()


def test_too_small_a_dataset_is_warned_about(tmp_path: Path, capsys) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "one.md").write_text("The Orrin Bay pier was rebuilt in 1994 at a cost of £410,000.", encoding="utf-8")
    assert main([str(docs), "-o", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "fine-tuning needs at least 10" in out
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert any("at least 10" in w for w in report["warnings"])


def test_report_has_stages_coverage_distributions_and_estimate(tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert main([str(CORPUS), "-o", str(out), "-q"]) == 0
    report = json.loads((out / "report.json").read_text())
    for stage in ("generate", "check", "dedupe", "idk", "validate", "split"):
        assert stage in report["stages"]
    assert report["stages"]["validate"]["out"] == report["pairs_kept"]
    assert {f["source"] for f in report["files"]} == {c["source"] for c in report["coverage"]}
    assert sum(f["kept"] for f in report["files"]) == report["pairs_kept"] - report["idk_kept"]
    train = report["example_tokens"]["train"]
    assert train["examples"] == report["train_examples"] and 0 < train["min"] <= train["p50"] <= train["max"]
    estimate = report["finetune_estimate"]
    assert estimate["examples"] == report["train_examples"]
    assert estimate["billed_tokens"] == estimate["n_epochs"] * train["total"]
    assert report["settings"]["model"] == "offline" and "api_key" not in report["settings"]


@pytest.mark.parametrize("fmt", ["chat", "completion"])
def test_validate_command_accepts_qagen_output(tmp_path: Path, capsys, fmt: str) -> None:
    out = tmp_path / "o"
    assert main([str(CORPUS), "-o", str(out), "-q", "--format", fmt]) == 0
    capsys.readouterr()
    assert main(["validate", str(out / "train.jsonl")]) == 0
    assert fmt in capsys.readouterr().out


def test_validate_command_reports_line_numbers_and_fails(tmp_path: Path, capsys) -> None:
    good = {"messages": [{"role": "user", "content": "Where is Harbour House?"}, {"role": "assistant", "content": "On Quay Street, Port Essary."}]}
    lines = [json.dumps(good)] * 12
    lines[3] = json.dumps({"messages": [{"role": "user", "content": "Where?"}]})  # no assistant message
    lines[7] = "{not json"
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert main(["validate", str(path)]) == 1
    report = capsys.readouterr().out
    assert "4" in report and "8" in report
    assert "example_missing_assistant_message" in report and "invalid_json" in report


def test_validate_command_missing_file(tmp_path: Path, capsys) -> None:
    assert main(["validate", str(tmp_path / "nope.jsonl")]) != 0
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nope.jsonl" in err


IDK_CANDIDATES = [
    "Who painted the portrait in the Harbour House boardroom?",   # unanswered: kept
    "What is the Wi-Fi password on the Corrie Dawn?",             # unanswered, but the model's check says answered
    "When was the Brannoch Sound Ferry Cooperative founded?",     # answered by history.md: BM25 drops it
    "What brand of coffee does the Scarth Pier kiosk sell?",      # unanswered: kept
]


def _idk_model(request):
    system = request.messages[0]["content"]
    if system.startswith("You write questions for training an assistant to say"):
        return chat_reply("\n".join(json.dumps({"question": q}) for q in IDK_CANDIDATES))
    if system.startswith("You check whether passages"):
        answered = "Wi-Fi" in request.last_user_text
        return chat_reply(json.dumps({"answered": answered, "reason": "scripted"}))
    return grounded_pairs_reply(request, 3)


def test_model_idk_examples_are_verified_against_the_corpus(tmp_path: Path, fake_openai) -> None:
    fake_openai.handler = _idk_model
    out = tmp_path / "o"
    args = [str(CORPUS), "--base-url", fake_openai.url, "--model", "m", "-o", str(out), "-q", "--idk-ratio", "0.05",
            "--refusal", "Sorry, that is not in my documents.", "--refusal", "I don't know that one."]
    assert main(args) == 0
    pairs = read_jsonl(out / "pairs.jsonl")
    idk = {p["question"]: p for p in pairs if p["kind"] == "idk"}
    assert set(idk) == {IDK_CANDIDATES[0], IDK_CANDIDATES[3]}
    assert all(p["answer"] in ("Sorry, that is not in my documents.", "I don't know that one.") for p in idk.values())
    rejects = {r["raw"]: r["reason"] for r in read_jsonl(out / "rejects.jsonl") if r["stage"] == "idk"}
    assert rejects[IDK_CANDIDATES[1]] == "model_says_answered"
    assert rejects[IDK_CANDIDATES[2]] == "answered_by_corpus"
    report = json.loads((out / "report.json").read_text())
    assert report["idk_kept"] == 2 and report["stages"]["idk"]["candidates"] == 4

    # A rerun replays every idk and check request from the journal: nothing is asked twice.
    asked = len(fake_openai.chat_requests())
    assert main(args) == 0
    assert len(fake_openai.chat_requests()) == asked
    assert {p["question"] for p in read_jsonl(out / "pairs.jsonl") if p["kind"] == "idk"} == set(idk)


def test_idk_examples_land_on_both_sides_of_the_split(tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert main([str(CORPUS), "-o", str(out), "-q", "--idk-ratio", "0.3", "--valid-fraction", "0.2"]) == 0
    pairs = read_jsonl(out / "pairs.jsonl")
    sides = {p["split"] for p in pairs if p["kind"] == "idk"}
    assert sides == {"train", "valid"}


def test_no_idk_examples_when_ratio_is_zero(tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert main([str(CORPUS), "-o", str(out), "-q", "--idk-ratio", "0"]) == 0
    assert not [p for p in read_jsonl(out / "pairs.jsonl") if p["kind"] == "idk"]


def test_own_judge_template_is_used_and_a_broken_one_named(tmp_path: Path, fake_openai, capsys) -> None:
    builtin = json.loads((Path(__file__).parent.parent / "templates" / "judge.json").read_text())
    builtin["messages"][0]["content"] = "You check question and answer pairs, strictly. " + builtin["messages"][0]["content"]
    mine = tmp_path / "strict-judge.json"
    mine.write_text(json.dumps(builtin))
    fake_openai.handler = _judge_handler({})
    out = tmp_path / "o"
    assert main(_server_args(fake_openai, out, "--idk-ratio", "0", "--judge", "--judge-template", str(mine), "--chunk-size", "2000")) == 0
    assert any(r.messages[0]["content"].startswith("You check question and answer pairs, strictly.") for r in fake_openai.chat_requests())

    broken = tmp_path / "broken-judge.json"
    broken.write_text('{"messages": [{"role": "user", "content": "{{ passage }}"}]}')  # never shows the pairs
    assert main(_server_args(fake_openai, tmp_path / "o2", "--judge", "--judge-template", str(broken))) == 1
    assert "broken-judge.json" in capsys.readouterr().err


def test_a_judge_request_that_keeps_failing_is_reported_and_asked_again(tmp_path: Path, fake_openai, capsys) -> None:
    from fake_openai import error_reply

    healthy = _judge_handler({})
    down = {"judge": True}

    def handler(request):
        if down["judge"] and request.messages[0]["content"].startswith("You check"):
            return error_reply(503, "judge overloaded")
        return healthy(request)

    fake_openai.handler = handler
    out = tmp_path / "o"
    args = _server_args(fake_openai, out, "--idk-ratio", "0", "--judge", "--chunk-size", "2000", "--max-attempts", "2")
    assert main(args) == 3
    err = capsys.readouterr().err
    assert "judge requests failed after every retry" in err and "run the same command again" in err
    assert {r["reason"] for r in read_jsonl(out / "rejects.jsonl")} == {"judge_unrated"}
    down["judge"] = False
    generation_requests = sum(1 for r in fake_openai.chat_requests() if not r.messages[0]["content"].startswith("You check"))
    assert main(args) == 0
    again = sum(1 for r in fake_openai.chat_requests() if not r.messages[0]["content"].startswith("You check"))
    assert again == generation_requests  # only the judge was asked again
    assert read_jsonl(out / "pairs.jsonl")


def test_a_right_number_on_the_wrong_fact_and_the_examples_names_are_rejected(tmp_path: Path, fake_openai) -> None:
    # Two of the small model's real kept pairs, and one right pair, about the fares chunk.
    fake_openai.handler = lambda request: chat_reply(_jsonl(
        ("What is the difference between a senior and a child fare?",
         "A senior fare is 10% more than a child fare, but it does not include any other fares."),
        ("What is the current fleet of Brindle Point?", "The current fleet sails on Route 1."),
        ("What does an adult single on Route 1 cost?", "An adult single on Route 1 costs £9.40."),
        ("What does the Islander card cost?", "The Islander card costs £75.00 and is valid for 12 months."),
    ))
    out = tmp_path / "o"
    args = [str(CORPUS / "fares-and-tickets.md"), "--base-url", fake_openai.url, "--model", "m", "-o", str(out), "-q",
            "--concurrency", "1", "--idk-ratio", "0", "--chunk-size", "2000"]
    assert main(args) == 0
    rejects = {r["reason"]: r for r in read_jsonl(out / "rejects.jsonl")}
    assert set(rejects) == {"not_grounded", "example_leak", "facts_apart"}
    assert "Brindle Point" in rejects["example_leak"]["detail"] and rejects["example_leak"]["stage"] == "grounding"
    assert [p["answer"] for p in read_jsonl(out / "pairs.jsonl")] == ["An adult single on Route 1 costs £9.40."]
