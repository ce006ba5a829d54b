"""Grounding checks: lexical support of an answer by its chunk, and the judge's text in and out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import REPO
from qagen.errors import TemplateError
from qagen.quality.grounding import Support, is_refusal, is_supported, lexical_support
from qagen.quality.judge import render_pairs_for_judge
from qagen.replies.ratings import Rating, parse_ratings
from qagen.llm.templates import load_template
from qagen.records import Pair

# Passages in the style of the Brannoch Sound corpus (corpus/), quoted so each test reads alone.
FARES = (
    "These fares apply from 1 April 2024 to 31 March 2025. On 1 April 2024 fares rose by an average of\n"
    "4.5 percent; the adult single on Route 1, for example, went from £9.00 to £9.40.\n\n"
    "All fares are single fares. A return costs twice the single fare: the cooperative does not sell\n"
    "discounted returns. Children aged 5 to 15 pay half the adult fare, children under 5 travel free.\n\n"
    "A 10-journey carnet for adults on Route 1 costs £75.00. It is valid for 12 months from the date\n"
    "of purchase and may be shared by members of the same household."
)
NUMBERS = (
    "## The cooperative in numbers (year to 31 December 2023)\n\n"
    "- Passengers carried: 412,600 (a record; 398,100 in 2022)\n"
    "- Vehicles carried: 61,250\n"
    "- Members: 1,912\n"
    "- Staff: 62 (48 permanent, 14 seasonal)\n"
)
SHIFTS = (
    "Shore staff work 37.5 hours a week, usually in shifts of 7.5 hours over five days. Ticket office\n"
    "shifts follow the timetable: in summer the Harbour House office opens at 06:15 and closes after\n"
    "the 21:00 sailing has left."
)
HISTORY = (
    "In May 1962 the cooperative bought its first vessel, the MV Brannoch Lass, for £6,800. She had\n"
    "been built in 1949 as a harbour tender and could carry 90 passengers and 6 cars, which were\n"
    "lifted aboard by crane. Through the winter of 1961-62 Orrin was cut off entirely for nine days."
)


# --------------------------------------------------------------------------- lexical support


def test_exact_span_scores_one_despite_case_and_line_breaks() -> None:
    support = lexical_support("the adult single on route 1, for example, went from £9.00 to £9.40.", FARES)
    assert support == Support(score=1.0, missing=(), exact_span=True)
    assert is_supported(support)


def test_span_must_not_cut_a_word_or_a_number() -> None:
    # "9" occurs inside "£9.40" and "ten" inside "often": neither is the answer's figure.
    assert not lexical_support("9", "The adult single costs £9.40.").exact_span
    assert not lexical_support("ten", "Fares change often.").exact_span
    assert lexical_support("£9.40", "The adult single costs £9.40, or £4.70 for a child.").exact_span


def test_paraphrase_with_the_same_content_terms_is_supported() -> None:
    answer = "Carnets of 10 journeys for adult passengers on Route 1 cost £75 and stay valid for 12 months."
    support = lexical_support(answer, FARES)
    assert not support.exact_span
    assert is_supported(support)
    assert support.score >= 0.8
    assert "passengers" in support.missing  # the one word FARES does not use


def test_word_forms_are_joined_by_stemming() -> None:
    support = lexical_support("The fares applied from 1 April 2024; carnets are shared by households.", FARES)
    assert support.score == 1.0
    assert support.missing == ()


def test_a_number_not_in_the_chunk_sinks_an_answer_whose_words_all_match() -> None:
    support = lexical_support("The adult single on Route 1 went from £9.00 to £9.60.", FARES)
    assert support.missing == ("£9.60",)
    assert support.missing_numbers == ("£9.60",)
    assert support.score > 0.8  # every word is there...
    assert not is_supported(support)  # ...but the figure is invented
    assert not is_supported(support, threshold=0.0)


def test_a_number_word_not_in_the_chunk_is_a_missing_number() -> None:
    support = lexical_support("Orrin was cut off for eleven days in the winter of 1961-62.", HISTORY)
    assert support.missing_numbers == ("eleven",)
    assert not is_supported(support)


@pytest.mark.parametrize(
    ("answer", "chunk"),
    [
        ("The adult single costs 9.40.", FARES),  # currency sign dropped
        ("The cooperative has 1912 members.", NUMBERS),  # thousand separator dropped
        ("The cooperative has 1,912 members.", "Members: 1912"),
        ("The ticket office opens at 6:15 in summer.", SHIFTS),  # leading zero of a time
        ("A carnet costs £75.", FARES),  # £75.00 in the chunk
        ("Fares rose by an average of 4.5%.", FARES),  # percent sign for the word
        ("Orrin was cut off for 9 days.", HISTORY),  # "nine days" in the chunk
        ("Orrin was cut off for nine days.", "Orrin was cut off for 9 days."),
        ("Shore staff work 37.5 hours a week.", SHIFTS),
    ],
)
def test_numbers_match_across_spellings(answer: str, chunk: str) -> None:
    support = lexical_support(answer, chunk)
    assert support.missing_numbers == ()
    assert is_supported(support)


@pytest.mark.parametrize(
    ("answer", "chunk", "missing"),
    [
        ("The adult single costs £9.4.", "The adult single costs £9.45.", "£9.4"),
        ("The cooperative has 1,921 members.", NUMBERS, "1,921"),
        ("The ticket office opens at 06:45 in summer.", SHIFTS, "06:45"),
        ("The Brannoch Lass was bought in 1963.", HISTORY, "1963"),
        ("The 2nd sailing leaves at 09:00.", "The second sailing leaves at 09:00.", "2nd"),
        # Money keeps its currency: a bare figure or another currency is not the same amount.
        ("Dogs travel for £3.00 on Route 3.", "Route 3: dogs travel free, bicycles cost £2.00.", "£3.00"),
        ("Route 2 costs £4.10.", "Route 2: adult single 4.10 dollars.", "£4.10"),
        ("The Heather Bell cost £9.8 million.", "Notes: cost 9.8 million pounds.", None),
        ("The Heather Bell cost 9.8 million pounds.", "She cost £9.8 million.", None),
        ("The adult single costs 9.40.", "The adult single costs £9.40.", None),
        ("The adult single costs £9.40.", "| Ticket | Fare (£) |\n|---|---|\n| Adult | 9.40 |", None),
        ("The adult single costs £9.40.", "| Ticket | Fare (€) |\n|---|---|\n| Adult | 9.40 |", "£9.40"),
        ("The adult single costs £9.", "| Ticket | Fare (£) |\n|---|---|\n| Adult | 9 |", "£9"),
    ],
)
def test_numbers_are_compared_by_value(answer: str, chunk: str, missing: str | None) -> None:
    support = lexical_support(answer, chunk)
    assert support.missing_numbers == ((missing,) if missing else ())


def test_an_answer_about_something_else_is_unsupported() -> None:
    support = lexical_support("The Heather Bell charges her battery from the shore supply at Scarth Pier.", FARES)
    assert support.score == 0.0
    assert not is_supported(support)
    assert {"Heather", "Bell", "battery", "Scarth", "Pier"} <= set(support.missing)


@pytest.mark.parametrize(
    "answer",
    [
        "",
        "   \n",
        "I don't know.",
        "I do not know the answer to that.",
        "The passage does not mention the price of a carnet.",
        "This is not stated in the text.",
        "N/A",
        "There is no information about carnets.",
        "It cannot be determined from the passage.",
    ],
)
def test_empty_and_refusal_answers_score_zero(answer: str) -> None:
    support = lexical_support(answer, FARES + "\nN/A")
    assert support.score == 0.0
    assert not support.exact_span or not answer.strip() or answer == "N/A"
    assert not is_supported(support, threshold=0.0)


def test_refusal_detection_leaves_negative_statements_alone() -> None:
    assert is_refusal("I don't know.")
    assert not is_refusal("No, the cooperative does not sell discounted returns.")
    assert not is_refusal("Children under 5 travel free; they do not need a ticket.")
    support = lexical_support("No, the cooperative does not sell discounted returns.", FARES)
    assert is_supported(support)


def test_an_answer_without_content_scores_zero_even_as_a_span() -> None:
    support = lexical_support("It is.", FARES)
    assert support.exact_span  # "It is valid for 12 months"
    assert support.score == 0.0
    assert not is_supported(support)


def test_threshold_decides_partial_support() -> None:
    # Four content terms, two of them in the chunk: score 0.5.
    support = lexical_support("Carnets suit commuters and tourists.", "A carnet suits a household.")
    assert support.score == pytest.approx(0.5)
    assert sorted(support.missing) == ["commuters", "tourists"]
    assert is_supported(support)  # default threshold 0.5 is inclusive
    assert is_supported(support, threshold=0.5)
    assert not is_supported(support, threshold=0.51)
    assert is_supported(support, threshold=0.25)
    with pytest.raises(ValueError):
        is_supported(support, threshold=1.5)


def test_chunk_cache_does_not_mix_chunks() -> None:
    answer = "A carnet costs £75."
    assert is_supported(lexical_support(answer, FARES))
    assert not is_supported(lexical_support(answer, NUMBERS))
    assert is_supported(lexical_support(answer, FARES))


def test_checks_the_real_corpus() -> None:
    # The time per check is printed by benchmarks/speed.py.
    text = (REPO / "corpus" / "fares-and-tickets.md").read_text(encoding="utf-8")
    chunks = [text[i : i + 1500] for i in range(0, len(text), 1500)]
    answers = [
        "The adult single on Route 1 costs £9.40.",
        "An Islander card costs £5.00 and is valid for three years.",
        "Changing a vehicle booking less than 48 hours before departure costs £5.00.",
        "The Gullwing carries no more than four bicycles.",
        "Dogs travel for £3.00 on Route 1.",
    ]
    supported = [any(is_supported(lexical_support(a, c)) for c in chunks) for a in answers]
    assert supported == [True, True, True, True, False]


# --------------------------------------------------------------------------- judge: render


def make_pairs(n: int, chunk_id: str = "3fa9c1d2e4b5a6f7") -> list[Pair]:
    return [
        Pair(
            id=f"{chunk_id}-{i}",
            question=f"Question {i} about \"Route 1\"?",
            answer=f"Answer {i}: £9.40.",
            source="fares-and-tickets.md",
            chunk_id=chunk_id,
        )
        for i in range(n)
    ]


def test_render_pairs_as_json_lines_with_short_ids() -> None:
    pairs = make_pairs(3)
    lines = render_pairs_for_judge(pairs).splitlines()
    assert [json.loads(line) for line in lines] == [
        {"id": f"p{i + 1}", "question": p.question, "answer": p.answer} for i, p in enumerate(pairs)
    ]
    assert "£9.40" in lines[0]  # readable text, not \u escapes
    assert render_pairs_for_judge([]) == ""


def test_render_then_parse_round_trip() -> None:
    pairs = make_pairs(4)
    rendered = render_pairs_for_judge(pairs)
    # A judge that rates each rendered line, reusing its id.
    reply = "\n".join(
        json.dumps({"id": json.loads(line)["id"], "score": 5 - i, "reason": f"reason {i}"})
        for i, line in enumerate(rendered.splitlines())
    )
    ratings, problems = parse_ratings(reply, [p.id for p in pairs])
    assert problems == []
    assert ratings == {p.id: Rating(p.id, 5 - i, f"reason {i}") for i, p in enumerate(pairs)}


# --------------------------------------------------------------------------- judge: parse

IDS = ["3fa9c1d2e4b5a6f7-0", "3fa9c1d2e4b5a6f7-1"]
EXPECTED = {
    IDS[0]: Rating(IDS[0], 5, "Supported."),
    IDS[1]: Rating(IDS[1], 1, "Wrong fare."),
}


@pytest.mark.parametrize(
    "reply",
    [
        '{"id": "p1", "score": 5, "reason": "Supported."}\n{"id": "p2", "score": 1, "reason": "Wrong fare."}',
        '```json\n{"id": "p1", "score": 5, "reason": "Supported."}\n{"id": "p2", "score": 1, "reason": "Wrong fare."}\n```',
        'Here are my ratings:\n\n{"id": "p1", "score": 5, "reason": "Supported."}\n'
        '{"id": "p2", "score": 1, "reason": "Wrong fare."}\n\nLet me know if you need more.',
        '[{"id": "p1", "score": 5, "reason": "Supported."}, {"id": "p2", "score": 1, "reason": "Wrong fare."}]',
        '[\n  {"id": "p1", "score": 5, "reason": "Supported."},\n  {"id": "p2", "score": 1, "reason": "Wrong fare."},\n]',
        '{"ratings": [{"id": "p1", "score": 5, "reason": "Supported."}, {"id": "p2", "score": 1, "reason": "Wrong fare."}]}',
        '{"id": "p1", "score": "5", "reason": "Supported."}\n{"id": "p2", "score": 1.0, "reason": "Wrong fare."}',
        '{"pair_id": "p1", "rating": 5, "reason": "Supported."}\n{"Pair_ID": "P2", "Rating": "1/5", "Reason": "Wrong fare."}',
        f'{{"id": "{IDS[0]}", "score": 5, "reason": "Supported."}}\n{{"id": "{IDS[1]}", "score": 1, "reason": "Wrong fare."}}',
        '{"id": 1, "score": 5, "reason": "Supported."}\n{"id": "2", "score": 1, "reason": "Wrong fare."}',
        '1. {"id": "p1", "score": 5, "reason": "Supported.",}\n2. {"id": "p2", "score": 1, "reason": "Wrong fare."}',
        '<think>p2 says {"id": "p2", "score": 5} maybe?</think>\n'
        '{"id": "p1", "score": 5, "reason": "Supported."}\n{"id": "p2", "score": 1, "reason": "Wrong fare."}',
    ],
    ids=[
        "jsonl",
        "fenced",
        "prose-around",
        "array",
        "array-trailing-comma",
        "wrapped",
        "string-and-float-scores",
        "alternative-keys",
        "real-ids",
        "bare-numbers-as-ids",
        "numbered-trailing-comma",
        "reasoning-block",
    ],
)
def test_parse_ratings_tolerated_shapes(reply: str) -> None:
    ratings, problems = parse_ratings(reply, IDS)
    assert problems == []
    assert ratings == EXPECTED


def test_echoed_pair_text_is_ignored() -> None:
    reply = (
        '{"id": "p1", "question": "What is the adult fare?", "answer": "£12.00, altered by the judge", '
        '"score": 4, "reason": "Mostly right."}\n'
        '{"id": "p2", "answer": "A different answer entirely", "score": 2, "reason": "Vague."}'
    )
    ratings, problems = parse_ratings(reply, IDS)
    assert problems == []
    assert ratings == {IDS[0]: Rating(IDS[0], 4, "Mostly right."), IDS[1]: Rating(IDS[1], 2, "Vague.")}
    assert not any("altered" in r.reason or "different" in r.reason for r in ratings.values())


def test_unknown_and_missing_ids_are_problems() -> None:
    reply = '{"id": "p1", "score": 5, "reason": "ok"}\n{"id": "p7", "score": 4, "reason": "?"}'
    ratings, problems = parse_ratings(reply, IDS)
    assert list(ratings) == [IDS[0]]
    assert len(problems) == 2
    assert "unknown" in problems[0] and "p7" in problems[0]
    assert "no rating" in problems[1] and IDS[1] in problems[1]


@pytest.mark.parametrize("score", ["0", "6", "-1", "3.5", '"great"', "true", "null", "[4]"])
def test_out_of_range_or_odd_scores_are_problems(score: str) -> None:
    reply = f'{{"id": "p1", "score": {score}, "reason": "x"}}\n{{"id": "p2", "score": 3, "reason": "y"}}'
    ratings, problems = parse_ratings(reply, IDS)
    assert list(ratings) == [IDS[1]]
    assert len(problems) == 1  # the bad score only; p1 is not reported missing as well
    assert IDS[0] in problems[0] and "1 to 5" in problems[0]


def test_duplicate_ids_keep_the_first_rating() -> None:
    reply = (
        '{"id": "p1", "score": 2, "reason": "first"}\n'
        '{"id": "p2", "score": 5, "reason": "ok"}\n'
        f'{{"id": "{IDS[0]}", "score": 5, "reason": "second"}}'
    )
    ratings, problems = parse_ratings(reply, IDS)
    assert ratings[IDS[0]] == Rating(IDS[0], 2, "first")
    assert len(problems) == 1 and "more than once" in problems[0] and IDS[0] in problems[0]


def test_malformed_and_truncated_lines_are_problems() -> None:
    reply = '{"id": "p1", "score": 4, "reason": "ok"}\n{"id": "p2", "score": 3, "reas'
    ratings, problems = parse_ratings(reply, IDS)
    assert list(ratings) == [IDS[0]]
    assert any("not valid JSON" in p for p in problems)
    assert any("no rating" in p and IDS[1] in p for p in problems)


def test_rating_without_score_and_empty_reply() -> None:
    ratings, problems = parse_ratings('{"id": "p1", "reason": "fine"}', IDS[:1])
    assert ratings == {}
    assert problems == [f"The judge's rating for pair {IDS[0]} has no score."]

    ratings, problems = parse_ratings('{"score": 4, "reason": "fine"}', IDS[:1])
    assert ratings == {}
    assert problems[0] == 'A rating has no pair id: {"score": 4, "reason": "fine"}'
    assert "no rating" in problems[1]

    ratings, problems = parse_ratings("  ", IDS)
    assert ratings == {}
    assert problems[0] == "The judge's reply is empty."
    assert len(problems) == 3


def test_a_reply_cut_off_in_its_reasoning_rates_nothing() -> None:
    ratings, problems = parse_ratings('<think>p1 looks right: {"id": "p1", "score": 5}', IDS)
    assert ratings == {}
    assert "reasoning" in problems[0]
    assert len(problems) == 3  # and both pairs unrated


def test_braces_in_prose_are_not_problems() -> None:
    reply = 'Scores use the scale {1..5} as in [1]:\n{"id": "p1", "score": 5, "reason": "ok"}\n{"id": "p2", "score": 4}'
    ratings, problems = parse_ratings(reply, IDS)
    assert problems == []
    assert ratings[IDS[1]] == Rating(IDS[1], 4, "")


def test_expected_ids_must_be_distinct() -> None:
    with pytest.raises(ValueError):
        parse_ratings("", [IDS[0], IDS[0]])


# --------------------------------------------------------------------------- judge template


def test_judge_template_loads_and_renders_document_text_literally(tmp_path: Path) -> None:
    template = load_template(REPO / "templates" / "judge.json", required=frozenset({"passage", "pairs"}))
    assert template.variables == {"passage", "pairs"}
    assert template.params["temperature"] <= 0.2
    assert 200 <= template.params["max_tokens"] <= 4000
    assert [m.role for m in template.messages] == ["system", "user", "assistant", "user", "assistant", "user"]

    passage = "The fare is {{ x }} and {% raw %} stays as written."
    pairs = render_pairs_for_judge(make_pairs(2))
    messages = template.render(passage=passage, pairs=pairs)
    assert passage in messages[-1].content
    assert pairs in messages[-1].content

    # The worked answers must themselves be replies parse_ratings accepts, with a 1, a 3 and a 5 among them.
    scores = set()
    for message in messages:
        if message.role == "assistant":
            ratings, problems = parse_ratings(message.content, ["a", "b", "c"])
            assert problems == []
            scores |= {r.score for r in ratings.values()}
    assert {1, 3, 5} <= scores

    # A copy missing {{ pairs }} is refused, so the check above is not vacuous.
    broken = json.loads((REPO / "templates" / "judge.json").read_text(encoding="utf-8"))
    broken["messages"][-1]["content"] = broken["messages"][-1]["content"].replace("{{ pairs }}", "")
    copy = tmp_path / "judge.json"
    copy.write_text(json.dumps(broken), encoding="utf-8")
    with pytest.raises(TemplateError):
        load_template(copy, required=frozenset({"passage", "pairs"}))


# --------------------------------------------------------------------------- the pair, in context

from qagen.quality.grounding import check_grounding, corpus_terms, example_text, names  # noqa: E402

FARES_CHUNK = (REPO / "corpus" / "fares-and-tickets.md").read_text(encoding="utf-8").split("## Booking")[0]
FLEET_CHUNK = (REPO / "corpus" / "fleet.txt").read_text(encoding="utf-8")
QA_EXAMPLE = example_text(load_template(REPO / "templates" / "qa.json", required=frozenset({"info", "n"})).messages)


def test_the_small_models_senior_fare_is_not_grounded() -> None:
    # The chunk says "10-journey" and that both fares are half the adult fare; "10%" is nowhere.
    verdict = check_grounding(
        "What is the difference between a senior and a child fare?",
        "A senior fare is 10% more than a child fare, but it does not include any other fares.",
        FARES_CHUNK,
    )
    assert verdict is not None and verdict.reason == "not_grounded"
    assert "10%" in verdict.detail


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        # Every figure and name is in the chunk, each attached to another fact.
        ("What does the Islander card cost?", "The Islander card costs £75.00 and is valid for 12 months."),
        ("What does a carnet cost on Route 4?", "A 10-journey carnet on Route 4 costs £75.00."),
        ("How many passengers can the MV Heather Bell carry?", "The MV Heather Bell carries 220 passengers."),
        ("Who built the MV Gullwing?", "The MV Gullwing was built by Malden & Rusk in Greyhaven."),
    ],
)
def test_a_right_figure_on_the_wrong_fact_is_rejected(question: str, answer: str) -> None:
    chunk = FLEET_CHUNK if "MV" in question else FARES_CHUNK
    assert lexical_support(answer, chunk).missing_numbers == ()  # the old check found them all
    verdict = check_grounding(question, answer, chunk)
    assert verdict is not None and verdict.reason in ("facts_apart", "not_grounded"), verdict


@pytest.mark.parametrize(
    ("question", "answer", "chunk"),
    [
        ("How much is a child single on Route 2?", "A child single on Route 2 costs £2.05.", FARES_CHUNK),  # table row + heading
        ("What does a passenger aged 65 or over pay?", "Passengers aged 65 or over pay the senior fare, half the adult fare.", FARES_CHUNK),
        ("How long is the MV Heather Bell?", "The MV Heather Bell is 42.0 m long.", FLEET_CHUNK),  # record line + title
        ("What discount does the Islander card give?", "It gives 40 percent off adult fares and car fares.", FARES_CHUNK),
        ("When was the Heather Bell built?", "She was built in 2021 by Ostrand Marine, Kalvik.", FLEET_CHUNK),
    ],
)
def test_facts_stated_together_are_kept(question: str, answer: str, chunk: str) -> None:
    assert check_grounding(question, answer, chunk) is None


def test_a_sentence_with_nothing_to_check_does_not_sink_the_answer() -> None:
    assert check_grounding("Does the Islander card cost £5.00?", "Yes. The card costs £5.00 and is valid for three years.", FARES_CHUNK) is None


def test_a_percent_needs_a_percent() -> None:
    assert lexical_support("The carnet gives 10% off.", FARES_CHUNK).missing_numbers == ("10%",)
    assert lexical_support("Fares rose by 4.5%.", FARES_CHUNK).missing_numbers == ()  # "4.5 percent"
    assert lexical_support("A 10-journey carnet costs £75.", "A 10% carnet costs £75.").missing_numbers == ()


def test_the_question_is_checked_too() -> None:
    answer = "Children aged 5 to 15 pay half the adult fare."
    verdict = check_grounding("What do children pay on the Tollan ferry?", answer, FARES_CHUNK)
    assert verdict is not None and verdict.reason == "question_not_grounded" and "Tollan" in verdict.detail
    verdict = check_grounding("What do children pay on Route 77?", answer, FARES_CHUNK)
    assert verdict is not None and verdict.reason == "question_not_grounded" and "77" in verdict.detail
    # A name the chunk lacks but another chunk of the corpus holds is the documents' subject, not an invention.
    known = corpus_terms([FARES_CHUNK, "The Brannoch Sound Ferry Cooperative runs four routes."])
    assert check_grounding("What do children pay on the Brannoch Sound ferries?", answer, FARES_CHUNK, corpus_terms=known) is None
    # The answer must be stated where the question's subject is: Route 4 has no £9.40 fare.
    verdict = check_grounding("What is the adult fare on Route 4?", "The adult fare is £9.40.", FARES_CHUNK)
    assert verdict is not None and verdict.reason == "facts_apart"
    assert check_grounding("What is the adult fare on Route 4?", "The adult fare is £3.60.", FARES_CHUNK) is None


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("What is the current fleet of Brindle Point?", "MV Brannoch Lass"),  # the small model's real pair
        ("When was the tide gauge installed?", "The Brindle Point tide gauge was installed in 1964."),
        ("Where does Route 1 leave from?", "Route 1 leaves from Brindle Point."),
    ],
)
def test_names_from_the_templates_example_never_pass(question: str, answer: str) -> None:
    assert "Brindle Point" in QA_EXAMPLE and "Rules" not in names(QA_EXAMPLE)  # the system message is not the example
    verdict = check_grounding(question, answer, FLEET_CHUNK + "\nBrannoch Lass", example=QA_EXAMPLE)
    assert verdict is not None and verdict.reason == "example_leak"
    assert "Brindle Point" in verdict.detail
    # The same name is fine where the chunk itself has it.
    chunk = "The Brindle Point tide gauge was installed in 1964 and serves Route 1. The MV Brannoch Lass was retired."
    assert check_grounding(question, answer, chunk, example=QA_EXAMPLE) is None or verdict.reason != "example_leak"


def test_names_are_runs_of_capitalised_words() -> None:
    assert names("The MV Heather Bell was built by Malden & Rusk. When did Morag Innesley chair it?") == [
        "MV Heather Bell", "Malden & Rusk", "Morag Innesley"
    ]


def test_labelled_set_false_accepts_and_rejects() -> None:
    # benchmarks/grounding_bench.py prints these by kind; the answer-only check kept 96 of the 106 wrong pairs.
    rows = [json.loads(line) for line in (REPO / "benchmarks" / "data" / "grounding_set.jsonl").read_text(encoding="utf-8").splitlines()]
    known = corpus_terms({row["chunk"] for row in rows})
    kept = {row["id"]: check_grounding(row["question"], row["answer"], row["chunk"], example=QA_EXAMPLE, corpus_terms=known) is None for row in rows}
    wrong = [row for row in rows if row["label"] == "wrong"]
    right = [row for row in rows if row["label"] == "right"]
    false_accepts = sum(kept[row["id"]] for row in wrong) / len(wrong)
    false_rejects = sum(not kept[row["id"]] for row in right) / len(right)
    assert false_accepts <= 0.30, false_accepts
    assert false_rejects <= 0.05, false_rejects
    assert not any(kept[row["id"]] for row in rows if row["kind"] == "example_leak")
