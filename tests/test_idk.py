"""Offline "I don't know" candidates, their verification against the corpus, refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qagen.idk import DEFAULT_REFUSALS, IdkVerdict, likely_answered, offline_idk_questions, pick_refusal
from qagen.records import Chunk
from qagen.retrieval import BM25Index

# An invented staff handbook: a few organisations, people and places, and facts about them.
HANDBOOK = """\
# Northwind Logistics staff handbook

Northwind Logistics was founded in 1987 by Dr. Amara Okafor in the port town of Kestrel Bay.
The company moves refrigerated freight along the coast and runs three depots.
Amara Okafor said the first depot had only two lorries and a borrowed forklift.

## Depots

The Harbor Street depot handles all refrigerated containers. It opens at 6 am on weekdays
and closes at 10 pm. Drivers collect their keys from the night desk at the Harbor Street depot.
The Millbrook depot stores dry goods and spare parts. Millbrook is a forty minute drive inland.
The third depot, at Kestrel Bay Station, opened in 2004 and serves the rail link.

## Leave and Pay

Full-time staff receive 25 days of annual leave, plus public holidays. Annual Leave requests go
through the Rota Office at least two weeks ahead. Overtime is paid at one and a half times the
usual hourly rate. Payslips are sent by post on the last Friday of each month.

## Safety

Every driver completes the Cold Chain Safety course before their first shift. The course is run
by the Coastal Freight Association twice a year, in March and October. Helmets and high-visibility
vests are mandatory in every yard. Incidents are reported to Jonas Whitfield, who keeps the safety log.
Jonas Whitfield said that reported near misses fell by a third after the course began.

## Community

Northwind Logistics sponsors the Kestrel Bay Regatta each summer. Staff volunteer at the
Harbor Museum, which holds a collection of old ship lanterns. The Harbor Museum is free on Sundays.
"""

NAMES = (
    "Northwind Logistics",
    "Amara Okafor",
    "Kestrel Bay",
    "Harbor Street",
    "Kestrel Bay Station",
    "Rota Office",
    "Cold Chain Safety",
    "Coastal Freight Association",
    "Jonas Whitfield",
    "Kestrel Bay Regatta",
    "Harbor Museum",
)


def paragraphs_as_chunks(text: str, source: str = "handbook.md") -> list[Chunk]:
    parts = [part.strip() for part in text.split("\n\n") if part.strip()]
    return [
        Chunk(id=f"{source}#{i}", source=source, index=i, text=part, tokens=len(part.split())) for i, part in enumerate(parts)
    ]


def chunk_holding(chunks: list[Chunk], phrase: str) -> str:
    (found,) = [chunk.id for chunk in chunks if phrase in chunk.text]
    return found


@pytest.fixture
def chunks() -> list[Chunk]:
    return paragraphs_as_chunks(HANDBOOK)


@pytest.fixture
def index(chunks: list[Chunk]) -> BM25Index:
    return BM25Index(chunks)


# --------------------------------------------------------------------------- likely_answered


@pytest.mark.parametrize(
    ("question", "phrase"),
    [
        ("When was Northwind Logistics founded?", "founded in 1987"),
        ("Who founded Northwind Logistics?", "founded in 1987"),
        ("When does the Harbor Street depot open on weekdays?", "opens at 6 am"),
        # word forms differ from the text: store/stores, log/logs, open/opened, depot/depots...
        ("What does the Millbrook depot store?", "stores dry goods"),
        ("Who keeps the safety logs?", "keeps the safety log"),
        ("In what year did the depot at Kestrel Bay Station open?", "opened in 2004"),
        ("Which depots handle refrigerated container?", "handles all refrigerated containers"),
        ("On which day is the Harbor Museum free?", "free on Sundays"),
        ("How are payslips sent?", "Payslips are sent by post"),
    ],
)
def test_questions_the_corpus_answers_are_answerable(
    index: BM25Index, chunks: list[Chunk], question: str, phrase: str
) -> None:
    verdict = likely_answered(index, question)
    assert verdict.answerable, verdict.reason
    assert verdict.best_chunk_id == chunk_holding(chunks, phrase)
    assert verdict.coverage >= 0.75
    assert verdict.score > 0


@pytest.mark.parametrize(
    "question",
    [
        "What is the annual budget of the Harbor Museum?",
        "Who designed the logo of Northwind Logistics?",
        "What is Jonas Whitfield's middle name?",
        "Which university did Amara Okafor graduate from?",
    ],
)
def test_unrelated_attributes_of_known_entities_are_not_answerable(index: BM25Index, question: str) -> None:
    verdict = likely_answered(index, question)
    assert not verdict.answerable, verdict.reason
    assert verdict.coverage < 0.75
    assert verdict.best_chunk_id is not None  # the entity itself is found; the attribute is not


def test_verdict_carries_the_question_and_a_reason(index: BM25Index) -> None:
    verdict = likely_answered(index, "Who designed the logo of Northwind Logistics?")
    assert isinstance(verdict, IdkVerdict)
    assert verdict.question == "Who designed the logo of Northwind Logistics?"
    assert "logo" in verdict.reason


def test_a_fact_stated_by_pronoun_in_the_next_chunk_counts_as_answered() -> None:
    chunks = paragraphs_as_chunks(
        "Brindle Foods runs a bakery in Millport and supplies the harbour cafes.\n\n"
        "Its second bakery opened in 2011 on the quay, next to the fish market.\n\n"
        "Deliveries leave at five every morning."
    )
    verdict = likely_answered(BM25Index(chunks), "When did Brindle Foods open its second bakery?")
    assert verdict.answerable, verdict.reason


def test_a_fact_split_over_neighbouring_chunks_counts_as_answered() -> None:
    first = "Brindle Foods runs a bakery in Millport."
    second = "A second one opened in 2011 on the quay."
    question = "When did Brindle Foods open its second bakery?"
    same_document = paragraphs_as_chunks(f"{first}\n\n{second}")
    assert likely_answered(BM25Index(same_document), question).answerable
    apart = paragraphs_as_chunks(first, source="a.md") + paragraphs_as_chunks(second, source="b.md")
    assert not likely_answered(BM25Index(apart), question).answerable


def test_the_asked_attribute_stated_without_the_name_counts_as_answered() -> None:
    # The logo is described in another document, which calls Brindle Foods "the company".
    chunks = paragraphs_as_chunks("Brindle Foods was started by two sisters in Millport.", source="a.md")
    chunks += paragraphs_as_chunks("The company logo, a wheat sheaf, was designed by Ada Pell.", source="b.md")
    verdict = likely_answered(BM25Index(chunks), "Who designed the logo of Brindle Foods?")
    assert verdict.answerable, verdict.reason
    assert verdict.best_chunk_id == "b.md#0"


def test_entity_missing_from_every_passage_is_not_answerable_without_the_attribute(index: BM25Index) -> None:
    verdict = likely_answered(index, "What is the tax number of Zorblax Industries?")
    assert not verdict.answerable


def test_question_without_known_words_is_not_answerable(index: BM25Index) -> None:
    verdict = likely_answered(index, "What is a zorblax quotient?")
    assert not verdict.answerable
    assert verdict.best_chunk_id is None


def test_question_without_content_words_is_kept_as_answerable(index: BM25Index) -> None:
    assert likely_answered(index, "What is it?").answerable


def test_min_coverage_sets_how_much_of_the_question_must_be_found(index: BM25Index) -> None:
    question = "How many days of annual leave do full-time staff get?"  # "get" is not in the text
    assert likely_answered(index, question).answerable
    assert not likely_answered(index, question, min_coverage=1.0).answerable
    with pytest.raises(ValueError):
        likely_answered(index, question, min_coverage=0)


# --------------------------------------------------------------------------- offline candidates


def test_offline_questions_are_distinct_questions_about_corpus_names(chunks: list[Chunk]) -> None:
    questions = offline_idk_questions(chunks, 30, seed=0)
    assert 20 <= len(questions) <= 30
    assert len({question.lower() for question in questions}) == len(questions)
    for question in questions:
        assert question.endswith("?")
        assert question[0].isupper()
        assert any(name in question for name in NAMES), question
    mentioned = {name for name in NAMES if any(name in question for question in questions)}
    assert len(mentioned) >= 6


def test_offline_questions_are_deterministic_and_use_the_seed(chunks: list[Chunk]) -> None:
    first = offline_idk_questions(chunks, 25, seed=3)
    assert offline_idk_questions(chunks, 25, seed=3) == first
    assert offline_idk_questions(chunks, 25, seed=4) != first
    assert offline_idk_questions(chunks, 10, seed=3) == first[:10]


def test_offline_questions_do_not_depend_on_string_hash_salt(tmp_path: Path) -> None:
    script = (
        "import json, sys\n"
        "from qagen.idk import offline_idk_questions, pick_refusal, DEFAULT_REFUSALS\n"
        "from qagen.records import Chunk\n"
        "text = sys.stdin.read()\n"
        "parts = [p.strip() for p in text.split('\\n\\n') if p.strip()]\n"
        "chunks = [Chunk(id=str(i), source='h.md', index=i, text=p, tokens=1) for i, p in enumerate(parts)]\n"
        "questions = offline_idk_questions(chunks, 40, seed=1)\n"
        "print(json.dumps([questions, [pick_refusal(q, DEFAULT_REFUSALS) for q in questions]]))\n"
    )
    outputs = []
    for salt in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": salt}
        result = subprocess.run(
            [sys.executable, "-c", script], input=HANDBOOK, capture_output=True, text=True, env=env, cwd=tmp_path, check=True
        )
        outputs.append(json.loads(result.stdout))
    assert outputs[0] == outputs[1]
    assert len(outputs[0][0]) >= 20


def test_most_offline_questions_survive_verification(chunks: list[Chunk], index: BM25Index) -> None:
    questions = offline_idk_questions(chunks, 40, seed=0)
    unanswerable = [question for question in questions if not likely_answered(index, question).answerable]
    assert len(unanswerable) >= 10
    assert len(unanswerable) >= len(questions) // 2


def test_frames_whose_key_word_appears_near_the_name_are_skipped() -> None:
    text = HANDBOOK + (
        "\nThe Harbor Museum logo, a brass lantern, was drawn by a local sign painter. "
        "The Harbor Museum has an annual budget set by the town council.\n"
    )
    questions = offline_idk_questions(paragraphs_as_chunks(text), 500, seed=0)
    about_museum = [question for question in questions if "Harbor Museum" in question]
    assert about_museum  # still asked about, just not about its logo or budget
    assert not [question for question in about_museum if "logo" in question or "budget" in question]
    # the same frames remain available for names whose chunks never mention a logo or budget
    assert any("logo" in question or "budget" in question for question in questions if "Harbor Museum" not in question)


def test_headings_and_title_cased_common_words_are_not_taken_as_names(chunks: list[Chunk]) -> None:
    questions = offline_idk_questions(chunks, 500, seed=0)
    assert questions
    for phrase in ("Leave and Pay", "Annual Leave", "Depots", "Safety", "Community", "Full-time"):
        assert not [question for question in questions if phrase in question.replace("Cold Chain Safety", "")], phrase


def test_field_lists_give_names_but_not_their_labels() -> None:
    register = (
        "FLEET REGISTER\n\n"
        "MV Corrie Dawn\n  Built: 1998, Malden & Rusk, Greyhaven\n  Entered service: 11 May 1998\n"
        "  Usual route: Port Essary - Kellimore, the longest crossing of the whole network\n"
        "  Notes: oldest car ferry in the fleet.\n\n"
        "MV Heather Bell\n  Built: 2021, Ostrand Marine, Kalvik, the newest yard on the whole coast\n"
        "  Notes: the Heather Bell can cross on battery power alone.\n"
    )
    questions = offline_idk_questions(paragraphs_as_chunks(register, source="fleet.txt"), 500, seed=0)
    text = " ".join(questions)
    for name in ("Corrie Dawn", "Heather Bell", "Malden & Rusk", "Ostrand Marine", "Port Essary"):
        assert name in text, name
    for label in ("Built", "Entered", "Usual", "Notes", "FLEET", "REGISTER", "MV ", "Kellimore Notes"):
        assert label not in text, label


def test_people_get_questions_suited_to_people(chunks: list[Chunk]) -> None:
    questions = offline_idk_questions(chunks, 500, seed=0)
    about_okafor = [question for question in questions if "Amara Okafor" in question]
    assert about_okafor
    for question in about_okafor:
        assert not any(word in question for word in ("logo", "budget", "headquarters", "payroll", "postcode")), question


def test_offline_questions_edge_cases(chunks: list[Chunk]) -> None:
    assert offline_idk_questions(chunks, 0) == []
    assert offline_idk_questions([], 10) == []
    assert len(offline_idk_questions(chunks, 3)) == 3
    with pytest.raises(ValueError):
        offline_idk_questions(chunks, -1)


# --------------------------------------------------------------------------- refusals


def test_default_refusals_say_i_dont_know() -> None:
    assert 3 <= len(DEFAULT_REFUSALS) <= 5
    assert len(set(DEFAULT_REFUSALS)) == len(DEFAULT_REFUSALS)
    assert all("don't know" in refusal for refusal in DEFAULT_REFUSALS)


def test_pick_refusal_is_deterministic_per_question_and_uses_the_given_phrasings() -> None:
    refusals = ("No idea, sorry.", "Not covered here.", "I cannot say.")
    questions = [f"What is the budget of department {i}?" for i in range(60)]
    picked = [pick_refusal(question, refusals) for question in questions]
    assert picked == [pick_refusal(question, refusals) for question in questions]
    assert set(picked) == set(refusals)  # 60 questions use every phrasing
    assert [pick_refusal(question, refusals, seed=9) for question in questions] != picked
    assert pick_refusal("Anything?", ("Only one.",)) == "Only one."
    with pytest.raises(ValueError):
        pick_refusal("Anything?", ())
