"""``qagen eval``: held-out questions asked through the real SDK against the fake server, and scored."""

from __future__ import annotations

import asyncio
import json
import math
import shutil
from pathlib import Path

import pytest

from fake_openai import FakeOpenAI, RecordedRequest, Reply, chat_reply, error_reply
from helpers import CORPUS, read_jsonl
from qagen.cli import main
from qagen.errors import ModelError, OutputError
from qagen.evaluate.matching import exact_match, normalise_answer, token_f1
from qagen.evaluate.refusals import looks_like_refusal
from qagen.evaluate.runner import EvalItem, EvalReport, evaluate, load_eval_items, render_eval, safe_model_name, write_eval
from qagen.replies.reasoning import strip_reasoning
from qagen.options import DEFAULT_REFUSALS
from qagen.llm.client import OpenAIChatModel
from qagen.documents.tokens import counter_for

REFUSAL = DEFAULT_REFUSALS[0]


# --------------------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="module")
def built_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dataset") / "out"
    assert main([str(CORPUS), "-o", str(out), "-q", "--valid-fraction", "0.3", "--model", "offline"]) == 0
    return out


@pytest.fixture
def out(built_dataset: Path, tmp_path: Path) -> Path:
    """A private copy of the dataset, so a test can write its eval/ folder."""
    copy = tmp_path / "out"
    copy.mkdir()
    for name in ("pairs.jsonl", "valid.jsonl", "train.jsonl"):
        shutil.copy(built_dataset / name, copy / name)
    return copy


def held_out(out: Path) -> dict[str, dict]:
    """The valid split's pairs by question."""
    return {row["question"]: row for row in read_jsonl(out / "pairs.jsonl") if row["split"] == "valid"}


def chat_model(server: FakeOpenAI, name: str = "ft:gpt-4o-mini:acme::eval1") -> OpenAIChatModel:
    return OpenAIChatModel(
        name, base_url=server.url, api_key=None, timeout=10, max_attempts=3, count_tokens=counter_for("gpt-4o-mini")
    )


def run_eval(server: FakeOpenAI, items: list[EvalItem], *, judge: bool = False, **options) -> EvalReport:
    async def go() -> EvalReport:
        model = chat_model(server)
        judge_model = chat_model(server, "judge") if judge else None
        try:
            return await evaluate(items, model, judge_model=judge_model, **{"concurrency": 4, **options})
        finally:
            await model.aclose()
            if judge_model is not None:
                await judge_model.aclose()

    return asyncio.run(go())


def answering(out: Path, grounded, idk=lambda row: REFUSAL):
    """A handler answering each held-out question with ``grounded(row)`` or ``idk(row)``."""
    rows = held_out(out)

    def handler(request: RecordedRequest) -> Reply:
        row = rows[request.last_user_text]
        return chat_reply(grounded(row) if row["kind"] == "grounded" else idk(row))

    return handler


def perfect(row: dict) -> str:
    return row["answer"]


# --------------------------------------------------------------------------- text scoring


def test_normalise_answer() -> None:
    assert normalise_answer("The fare is £9.40, up from £9.00!") == "fare is 9.40 up from 9.00"
    assert normalise_answer("  An  adult’s   ticket: A   Return ") == "adults ticket return"
    assert normalise_answer("1,912 passengers at 06:15 (Port Essary-Kellimore)") == "1912 passengers at 06:15 port essary kellimore"
    assert normalise_answer("Theatre, then a banana") == "theatre then banana"  # whole words only
    assert normalise_answer("...") == ""


def test_exact_match_ignores_case_punctuation_and_articles() -> None:
    assert exact_match("the Ferry leaves at 06:15.", "Ferry leaves at 06:15")
    assert not exact_match("The ferry leaves at 06:15.", "The ferry leaves at 16:15.")
    assert not exact_match("£9.40", "£940")


def test_token_f1() -> None:
    assert token_f1("The fare is £9.40", "fare £9.40 pounds") == pytest.approx(2 / 3)  # 2 shared of 3 and 3
    assert token_f1("ferry ferry", "ferry") == pytest.approx(2 / 3)  # repeats count once each: p 1/2, r 1
    assert token_f1("Route 4", "Route 4.") == 1.0
    assert token_f1("Kellimore", "Orrin") == 0.0
    assert token_f1("", "") == 1.0
    assert token_f1("", "Orrin") == 0.0
    assert token_f1("the", "Orrin") == 0.0  # only an article: nothing left


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "reply",
    [
        *DEFAULT_REFUSALS,
        "I'm not sure.",
        "The documents do not say.",
        "I cannot find that.",
        "I can’t find that in the documents.",
        "Sorry, I don't know.",
        "I’m afraid I don’t know.",
        "I do not have that information.",
        "I have no information about that.",
        "That information is not in the documents.",
        "The documents I was trained on do not cover that.",
        "The provided documents contain no information on that.",
        "Good question! The documents do not say who designed the logo.",
        "According to the documents I was trained on, there is no information about that.",
        "**I don't know.** The documents are silent on it.",
        "<think>The fare tables do not list this.</think>\nI don't know.",
        "I don't know, but it may be £9.",
        "No idea.",
    ],
)
def test_refusals_are_recognised(reply: str) -> None:
    assert looks_like_refusal(reply)


@pytest.mark.parametrize(
    "reply",
    [
        "Bicycles are not carried on Route 4.",
        "No, children's books carry no late fees.",
        "Breakfast is not included in the fare.",
        "The timetable information does not include Sundays.",
        "The fare is £9.40, but the documents do not say whether it includes a return.",
        "According to the documents, the fare is £9.40.",
        "I'm afraid the ferry does not run on Sundays.",
        "",
    ],
)
def test_answers_are_not_refusals(reply: str) -> None:
    assert not looks_like_refusal(reply)


def test_no_answer_of_the_dataset_reads_as_a_refusal_and_every_idk_answer_does(built_dataset: Path) -> None:
    rows = read_jsonl(built_dataset / "pairs.jsonl")
    assert {row["kind"] for row in rows} == {"grounded", "idk"}
    for row in rows:
        assert looks_like_refusal(row["answer"]) == (row["kind"] == "idk"), row["answer"]


def test_strip_reasoning() -> None:
    assert strip_reasoning("<think>\nmaybe 9\n</think>\n\nThe fare is £9.40.") == "The fare is £9.40."
    assert strip_reasoning("<think>still thinking when the tokens ran out") == ""
    assert strip_reasoning("  The fare is £9.40.  ") == "The fare is £9.40."


# --------------------------------------------------------------------------- loading


def test_load_eval_items_takes_the_valid_split_with_the_dataset_system_message(out: Path) -> None:
    items = load_eval_items(out)
    valid = [row for row in read_jsonl(out / "pairs.jsonl") if row["split"] == "valid"]
    assert [i.pair_id for i in items] == [row["id"] for row in valid]
    assert {i.kind for i in items} == {"grounded", "idk"}
    system = read_jsonl(out / "valid.jsonl")[0]["messages"][0]
    assert system["role"] == "system"
    assert {i.system for i in items} == {system["content"]}
    assert all(i.reference == row["answer"] for i, row in zip(items, valid))


def test_load_eval_items_without_a_system_message(out: Path) -> None:
    rows = read_jsonl(out / "valid.jsonl")
    (out / "valid.jsonl").write_text(
        "".join(json.dumps({"messages": r["messages"][1:]}) + "\n" for r in rows), encoding="utf-8"
    )
    assert {i.system for i in load_eval_items(out)} == {None}


def test_load_eval_items_explains_what_is_missing(tmp_path: Path, out: Path) -> None:
    with pytest.raises(OutputError, match="pairs.jsonl does not exist"):
        load_eval_items(tmp_path / "nowhere")
    rows = read_jsonl(out / "pairs.jsonl")
    (out / "pairs.jsonl").write_text("".join(json.dumps({**r, "split": "train"}) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(OutputError, match="no valid questions.*--valid-fraction"):
        load_eval_items(out)
    (out / "pairs.jsonl").write_text('{"id": "x"\n', encoding="utf-8")
    with pytest.raises(OutputError, match="line 1 is not valid JSON"):
        load_eval_items(out)


# --------------------------------------------------------------------------- evaluating against the fake server


def test_a_perfect_model(fake_openai: FakeOpenAI, out: Path) -> None:
    fake_openai.handler = answering(out, perfect)
    items = load_eval_items(out)
    report = run_eval(fake_openai, items)

    assert (report.accuracy, report.correct_refusal_rate, report.wrong_refusal_rate) == (1.0, 1.0, 0.0)
    assert (report.exact_match, report.mean_f1, report.failures, report.judge_mean) == (1.0, 1.0, 0, None)
    assert report.items == len(items) == report.answerable + report.unanswerable
    assert report.unanswerable == sum(i.kind == "idk" for i in items) >= 1
    requests = fake_openai.chat_requests()
    assert len(requests) == len(items)
    for request in requests:
        assert request.model == "ft:gpt-4o-mini:acme::eval1"
        assert [m["role"] for m in request.messages] == ["system", "user"]
        assert request.messages[0]["content"] == items[0].system
        assert (request.json["temperature"], request.json["max_tokens"]) == (0, 300)


def test_a_model_that_refuses_everything(fake_openai: FakeOpenAI, out: Path) -> None:
    fake_openai.handler = answering(out, lambda row: "I'm sorry, I don't have that information.")
    report = run_eval(fake_openai, load_eval_items(out))
    assert (report.accuracy, report.wrong_refusal_rate, report.correct_refusal_rate) == (0.0, 1.0, 1.0)
    assert (report.exact_match, report.mean_f1) == (0.0, 0.0)
    assert all(s.refused and not s.correct for s in report.scores if s.kind == "grounded")


def test_a_model_that_never_refuses(fake_openai: FakeOpenAI, out: Path) -> None:
    fake_openai.handler = answering(out, perfect, idk=lambda row: "It was designed by Ann Marlow in 1987.")
    report = run_eval(fake_openai, load_eval_items(out))
    assert (report.accuracy, report.wrong_refusal_rate, report.correct_refusal_rate) == (1.0, 0.0, 0.0)
    assert all(not s.correct for s in report.scores if s.kind == "idk")


def test_partial_answers_score_between_zero_and_one(fake_openai: FakeOpenAI, out: Path) -> None:
    def first_half(row: dict) -> str:
        words = row["answer"].split()
        return " ".join(words[: max(1, len(words) // 2)])

    fake_openai.handler = answering(out, first_half)
    items = load_eval_items(out)
    lenient = run_eval(fake_openai, items, f1_threshold=0.5)
    strict = run_eval(fake_openai, items, f1_threshold=0.95)
    assert 0.0 < lenient.mean_f1 < 1.0
    assert lenient.exact_match < 1.0
    assert strict.accuracy < lenient.accuracy
    grounded = [s for s in lenient.scores if s.kind == "grounded"]
    assert all(0.0 < s.f1 <= 1.0 for s in grounded)
    assert any(s.f1 < 1.0 for s in grounded)


def _judge_or_model(out: Path, model_answer, rate):
    """Answers for the evaluated model; ratings ``rate(item) -> score | None`` for the judge."""
    answer = answering(out, model_answer)
    batches: list[list[dict]] = []

    def handler(request: RecordedRequest) -> Reply:
        if request.model != "judge":
            return answer(request)
        text = request.last_user_text
        lines = text[text.index("Items:\n") + len("Items:\n") : text.index("\n\nRate every item")].splitlines()
        batch = [json.loads(line) for line in lines]
        batches.append(batch)
        ratings = [(item["id"], rate(item)) for item in batch]
        return chat_reply("\n".join(json.dumps({"id": i, "score": s, "reason": "ok"}) for i, s in ratings if s is not None))

    return handler, batches


def test_the_judge_decides_correctness(fake_openai: FakeOpenAI, out: Path) -> None:
    # The model paraphrases so loosely that F1 fails every answer; the judge accepts them all with a 4.
    fake_openai.handler, batches = _judge_or_model(out, lambda row: "Yes, that is right.", lambda item: 4)
    items = load_eval_items(out)
    lexical = run_eval(fake_openai, items)
    judged = run_eval(fake_openai, items, judge=True, judge_batch=5)

    assert lexical.accuracy == 0.0
    assert judged.accuracy == 1.0 and judged.judge_mean == 4.0 and judged.judge_model == "judge"
    answerable = sum(i.kind == "grounded" for i in items)
    assert len(batches) == math.ceil(answerable / 5)
    assert all(1 <= len(batch) <= 5 for batch in batches)
    assert [item["id"] for item in batches[0]] == [f"p{n}" for n in range(1, len(batches[0]) + 1)]
    references = {i.reference for i in items if i.kind == "grounded"}
    assert {item["reference"] for batch in batches for item in batch} == references
    assert {item["answer"] for batch in batches for item in batch} == {"Yes, that is right."}
    assert "judge" in render_eval(judged)


def test_a_low_judge_score_fails_an_exact_answer_and_an_unrated_one_falls_back(fake_openai: FakeOpenAI, out: Path) -> None:
    items = load_eval_items(out)
    first = next(i for i in items if i.kind == "grounded")
    # The judge rates every answer 2, except one it forgets.
    fake_openai.handler, _ = _judge_or_model(out, perfect, lambda item: None if item["question"] == first.question else 2)
    report = run_eval(fake_openai, items, judge=True)
    by_id = {s.pair_id: s for s in report.scores}
    assert by_id[first.pair_id].judge_score is None and by_id[first.pair_id].correct  # exact match decides it
    assert report.judge_unrated == 1
    others = [s for s in report.scores if s.kind == "grounded" and s.pair_id != first.pair_id]
    assert others and all(s.judge_score == 2 and s.exact and not s.correct for s in others)
    assert report.accuracy == pytest.approx(1 / report.answerable)
    assert "1 answers left unrated" in render_eval(report)


def test_a_server_error_is_retried(fake_openai: FakeOpenAI, out: Path) -> None:
    fake_openai.handler = answering(out, perfect)
    fake_openai.queue(error_reply(500, "boom", headers={"retry-after": "0"}))
    items = load_eval_items(out)
    report = run_eval(fake_openai, items)
    assert report.failures == 0 and report.accuracy == 1.0
    assert len(fake_openai.chat_requests()) == len(items) + 1


def test_a_request_failing_every_attempt_is_counted_and_left_out(fake_openai: FakeOpenAI, out: Path) -> None:
    items = load_eval_items(out)
    doomed = next(i for i in items if i.kind == "grounded")
    answer = answering(out, perfect)

    def handler(request: RecordedRequest) -> Reply:
        if request.last_user_text == doomed.question:
            return error_reply(503, "overloaded", headers={"retry-after": "0"})
        return answer(request)

    fake_openai.handler = handler
    lines: list[str] = []
    report = run_eval(fake_openai, items, say=lines.append)

    assert report.failures == 1 and report.failed_ids == (doomed.pair_id,)
    assert sum(r.last_user_text == doomed.question for r in fake_openai.chat_requests()) == 3  # max_attempts
    assert doomed.pair_id not in {s.pair_id for s in report.scores}
    assert len(report.scores) == len(items) - 1
    assert report.accuracy == 1.0  # neither right nor wrong: out of the rate
    assert report.answerable == sum(i.kind == "grounded" for i in items)
    assert "left out of every rate" in render_eval(report)
    assert any("failed after every retry" in line for line in lines)


def test_a_fatal_error_stops_the_evaluation(fake_openai: FakeOpenAI, out: Path) -> None:
    fake_openai.models = ["some-other-model"]
    with pytest.raises(ModelError, match="not found"):
        run_eval(fake_openai, load_eval_items(out))
    assert len(fake_openai.chat_requests()) == 1  # the first request goes alone


def test_concurrency_is_bounded(fake_openai: FakeOpenAI, out: Path) -> None:
    fake_openai.handler = answering(out, perfect)
    fake_openai.latency = 0.05
    report = run_eval(fake_openai, load_eval_items(out), concurrency=3)
    assert report.accuracy == 1.0
    assert 2 <= fake_openai.max_in_flight <= 3


def test_resume_dir_reuses_journaled_answers(fake_openai: FakeOpenAI, out: Path) -> None:
    fake_openai.handler = answering(out, perfect)
    items = load_eval_items(out)
    first = run_eval(fake_openai, items, resume_dir=out / "eval")
    assert len(fake_openai.chat_requests()) == len(items)
    fake_openai.handler = lambda request: error_reply(500, "must not be asked again")
    lines: list[str] = []
    again = run_eval(fake_openai, items, resume_dir=out / "eval", say=lines.append)
    assert len(fake_openai.chat_requests()) == len(items)
    assert again == first
    assert any(f"{len(items)} answers reused" in line for line in lines)


# --------------------------------------------------------------------------- output


def test_render_eval_puts_the_three_rates_first(fake_openai: FakeOpenAI, out: Path) -> None:
    fake_openai.handler = answering(out, perfect)
    text = render_eval(run_eval(fake_openai, load_eval_items(out)))
    first_three = text.splitlines()[:3]
    assert first_three[0].startswith("accuracy") and "100.0%" in first_three[0]
    assert first_three[1].startswith("correct refusals") and "100.0%" in first_three[1]
    assert first_three[2].startswith("wrong refusals") and "0.0%" in first_three[2]


def test_rates_with_nothing_to_count_are_not_zero(fake_openai: FakeOpenAI, out: Path) -> None:
    fake_openai.handler = answering(out, perfect)
    answerable_only = [i for i in load_eval_items(out) if i.kind == "grounded"]
    report = run_eval(fake_openai, answerable_only)
    assert report.correct_refusal_rate is None and report.accuracy == 1.0
    assert "n/a" in render_eval(report).splitlines()[1]


def test_write_eval(fake_openai: FakeOpenAI, out: Path) -> None:
    fake_openai.handler = answering(out, perfect)
    report = run_eval(fake_openai, load_eval_items(out))
    path = write_eval(report, out)
    assert path.parent == out / "eval" and ":" not in path.name and path.suffix == ".json"
    summary = json.loads(path.read_text(encoding="utf-8"))
    assert summary["model"] == report.model and summary["accuracy"] == 1.0 and summary["failures"] == 0
    assert "scores" not in summary
    rows = read_jsonl(path.with_suffix(".jsonl"))
    assert len(rows) == len(report.scores)
    assert {row["pair_id"] for row in rows} == {s.pair_id for s in report.scores}


def test_safe_model_names_never_collide() -> None:
    assert safe_model_name("gpt-4o-mini") == "gpt-4o-mini"
    names = {safe_model_name(n) for n in ("a/b", "a_b", "a:b", "ft:gpt-4o-mini:acme::x", "../etc")}
    assert len(names) == 5
    assert all("/" not in n and ":" not in n and not n.startswith(".") for n in names)


# --------------------------------------------------------------------------- reasoning blocks, read alike everywhere

REASONING_WRAPPERS = [
    "<think>Let me look at the passage.</think>\n{}",
    "<THINK>Let me look at the passage.</THINK>{}",
    "<reasoning>Let me look at the passage.</reasoning>\n\n{}",
    "Let me look at the passage.</think>\n{}",  # a server that drops the opening tag
]


@pytest.mark.parametrize("wrapper", REASONING_WRAPPERS)
def test_eval_reads_past_every_kind_of_reasoning_block(fake_openai: FakeOpenAI, out: Path, wrapper: str) -> None:
    fake_openai.handler = answering(out, lambda row: wrapper.format(row["answer"]), idk=lambda row: wrapper.format(REFUSAL))
    report = run_eval(fake_openai, load_eval_items(out))
    assert (report.accuracy, report.correct_refusal_rate, report.wrong_refusal_rate) == (1.0, 1.0, 0.0)


@pytest.mark.parametrize("wrapper", REASONING_WRAPPERS)
def test_generation_reads_past_the_same_reasoning_blocks(fake_openai: FakeOpenAI, tmp_path: Path, wrapper: str) -> None:
    from fake_openai import grounded_pairs_reply

    def handler(request: RecordedRequest) -> Reply:
        pairs = grounded_pairs_reply(request, 2).json["choices"][0]["message"]["content"]  # type: ignore[index]
        return chat_reply(wrapper.format(pairs))

    fake_openai.handler = handler
    out = tmp_path / "gen"
    assert main([str(CORPUS), "-o", str(out), "-q", "--base-url", fake_openai.url, "--model", "m", "--idk-ratio", "0"]) == 0
    pairs = read_jsonl(out / "pairs.jsonl")
    assert pairs
    assert not any("Let me look" in p["question"] + p["answer"] for p in pairs)
