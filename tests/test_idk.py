"""\"I don't know\" examples: names, offline candidates, verification, refusals, and the model side
(templates, reply readers, excerpt choice)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qagen.quality.idk.candidates import (
    IdkVerdict,
    choose_excerpt_chunks,
    likely_answered,
    pick_refusal,
    render_excerpts,
)
from qagen.quality.idk.names import Entity, find_entities
from qagen.quality.idk.offline import offline_idk_questions
from qagen.replies.questions import parse_check, parse_questions
from qagen.llm.templates import builtin_template_path, load_template
from qagen.records import Chunk
from qagen.options import DEFAULT_REFUSALS
from qagen.quality.retrieval import BM25Index
from qagen.documents.tokens import counter_for

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


def test_offline_questions_refusals_and_excerpts_do_not_depend_on_string_hash_salt(tmp_path: Path) -> None:
    script = (
        "import json, sys\n"
        "from qagen.quality.idk.candidates import pick_refusal\nfrom qagen.options import DEFAULT_REFUSALS\n"
        "from qagen.quality.idk.offline import offline_idk_questions\n"
        "from qagen.records import Chunk\n"
        "text = sys.stdin.read()\n"
        "parts = [p.strip() for p in text.split('\\n\\n') if p.strip()]\n"
        "chunks = [Chunk(id=str(i), source='h.md', index=i, text=p, tokens=1) for i, p in enumerate(parts)]\n"
        "questions = offline_idk_questions(chunks, 40, seed=1)\n"
        "from qagen.quality.idk.candidates import choose_excerpt_chunks\n"
        "more = [Chunk(id=f'{s}{i}', source=s, index=i, text='x', tokens=1) for s in 'abcdef' for i in range(4)]\n"
        "excerpts = [[c.id for c in choose_excerpt_chunks(more, 3, seed=1, round=r)] for r in range(5)]\n"
        "print(json.dumps([questions, [pick_refusal(q, DEFAULT_REFUSALS) for q in questions], excerpts]))\n"
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


# --------------------------------------------------------------------------- names


def test_find_entities_gives_frozen_names_with_kinds_and_mentions(chunks: list[Chunk]) -> None:
    entities = {entity.name: entity for entity in find_entities(chunks)}
    assert set(entities) == set(NAMES)
    expected_kinds = {
        "Northwind Logistics": "organisation",
        "Amara Okafor": "person",
        "Jonas Whitfield": "person",
        "Harbor Street": "place",
        "Kestrel Bay": "area",
        "Kestrel Bay Regatta": "event",
    }
    assert {name: entities[name].kind for name in expected_kinds} == expected_kinds
    assert entities["Harbor Street"].display == "the Harbor Street depot"
    # "Kestrel Bay" is also mentioned wherever "Kestrel Bay Station" and "Kestrel Bay Regatta" are.
    assert entities["Kestrel Bay"].chunks >= entities["Kestrel Bay Station"].chunks | entities["Kestrel Bay Regatta"].chunks
    assert all(isinstance(entity, Entity) for entity in entities.values())
    with pytest.raises(dataclasses.FrozenInstanceError):
        entities["Amara Okafor"].name = "someone else"  # type: ignore[misc]


# --------------------------------------------------------------------------- templates

LITERAL = "Pay is {{ salary }} and {% raw %}{{ not a tag }}{% endraw %} {# no comment #}"


def test_idk_template_loads_renders_data_literally_and_shows_avoid_only_when_given() -> None:
    template = load_template(builtin_template_path("idk"), required=frozenset({"excerpts", "n", "avoid"}))
    assert 0.7 <= template.params["temperature"] <= 1.0
    assert template.params["max_tokens"] >= 500
    assert template.messages[0].role == "system"

    messages = template.render(excerpts=LITERAL, n=7, avoid="")
    last = messages[-1].content
    assert LITERAL in last
    assert "7" in last
    assert "Already asked" not in last

    avoid = "Who designed the {{ logo }}?\nWhat is the motto?"
    last = template.render(excerpts="Some text.", n=2, avoid=avoid)[-1].content
    assert "Already asked" in last and avoid in last


def test_idk_template_example_reply_is_what_parse_questions_reads() -> None:
    template = load_template(builtin_template_path("idk"), required=frozenset({"excerpts", "n"}))
    (example,) = [message.content for message in template.messages if message.role == "assistant"]
    questions, problems = parse_questions(example)
    assert problems == []
    assert len(questions) == 4
    asked = [message.content for message in template.messages if message.role == "user"][0]
    assert "Write 4 questions" in asked  # the example answers with exactly what it was asked for


def test_idk_check_template_loads_renders_data_literally_and_its_examples_read_both_ways() -> None:
    template = load_template(builtin_template_path("idk_check"), required=frozenset({"question", "passages"}))
    assert template.params["temperature"] == 0
    question = "What is {{ secret }}?"
    last = template.render(question=question, passages=LITERAL)[-1].content
    assert question in last and LITERAL in last
    examples = [parse_check(message.content) for message in template.messages if message.role == "assistant"]
    assert examples == [True, False]


# --------------------------------------------------------------------------- parse_questions

A, B, C = "What is the annual budget of the Harbor Museum?", "Who designed the Northwind Logistics logo?", "Is there a staff canteen?"


@pytest.mark.parametrize(
    "reply",
    [
        f'{{"question": "{A}"}}\n{{"question": "{B}"}}\n{{"question": "{C}"}}\n',
        f'{{"question": "{A}"}},\n\n1. {{"Question": "{B}"}}\n- {{"q": "{C}"}}',
        f'[{{"question": "{A}"}}, {{"question": "{B}"}}, {{"question": "{C}", "why": "not covered"}}]',
        f'["{A}", "{B}", "{C}"]',
        f'{{"questions": ["{A}", "{B}", "{C}"], "note": "all invented"}}',
        f'{{"data": {{"items": [{{"question": "{A}"}}, {{"question": "{B}"}}]}}, "more": [{{"question": "{C}"}}]}}',
        f'Here are three questions:\n```json\n{{"question": "{A}"}}\n{{"question": "{B}"}}\n```\n```\n{{"question": "{C}"}}\n```\nHope this helps!',
        f'<think>Maybe {{"question": "Not this one?"}}</think>\n{{"question": "{A}"}}\n{{"question": "{B}"}}\n{{"question": "{C}"}}',
        f"Sure! Here they are:\n\n1. {A}\n2) **{B}**\n- \"{C}\"\n\nLet me know if you need more.",
        f"Q1: {A}\nQuestion 2: {B}\n* Q: {C}",
        f"{A}\n{B}\n{C}\n",
        f'{{"question": "  {A}  "}}\n{{"question": "{B.replace(" ", chr(10), 1)}"}}\n{{"question": "{C}"}}',
    ],
    ids=[
        "jsonl",
        "jsonl-markers-keys",
        "array-of-objects",
        "array-of-strings",
        "wrapped-strings",
        "nested-wrappers",
        "fences-and-prose",
        "reasoning-block",
        "numbered-bulleted",
        "q-labels",
        "bare-lines",
        "whitespace",
    ],
)
def test_parse_questions_reads_each_tolerated_shape(reply: str) -> None:
    questions, problems = parse_questions(reply)
    assert questions == [A, B, C]
    assert problems == []


def test_parse_questions_drops_non_questions_and_repeats_with_a_sentence_each() -> None:
    reply = (
        f'{{"question": "{A}"}}\n{{"question": "Tell me about the depots."}}\n'
        f'{{"question": "{A.upper()}"}}\n{{"question": 42}}\n{{"question": ""}}\n{{"question": "{B}"}}'
    )
    questions, problems = parse_questions(reply)
    assert questions == [A, B]
    assert len(problems) == 4
    assert any("Tell me about the depots." in problem and "question mark" in problem for problem in problems)
    assert any("repeats" in problem for problem in problems)
    assert any("not text" in problem for problem in problems)
    assert any("empty" in problem for problem in problems)


def test_parse_questions_in_a_list_reports_items_that_are_not_questions_but_not_prose() -> None:
    questions, problems = parse_questions(f"Some questions:\n1. {A}\n2. The logo of Northwind\n\nThat is all.")
    assert questions == [A]
    assert len(problems) == 1 and "The logo of Northwind" in problems[0]


def test_parse_questions_keeps_what_precedes_damage_and_reports_the_damage() -> None:
    cut = f'{{"question": "{A}"}}\n{{"question": "{B}"}}\n{{"question": "Who wrote the'
    questions, problems = parse_questions(cut)
    assert questions == [A, B]
    assert len(problems) == 1 and "cut off" in problems[0] and "Who wrote the" in problems[0]

    broken = f'[\n  {{"question": "{A}"}},\n  {{"question": "{B}"}}\n  {{"question": "{C}"}}\n]'  # a comma is missing
    questions, problems = parse_questions(broken)
    assert questions == [A, B, C]
    assert len(problems) == 1

    malformed = f'{{"question": "{A}" "extra"}}\n{{"question": "{B}"}}'
    questions, problems = parse_questions(malformed)
    assert questions == [B]
    assert len(problems) == 1 and "as JSON" in problems[0]


@pytest.mark.parametrize(
    "reply",
    ["", "   \n", "<think>I should write some questions", "I cannot help with that.", "{}", "[1, 2, 3]", '{"answer": "Yes"}', "```\n```"],
)
def test_parse_questions_on_garbage_keeps_nothing_and_says_why(reply: str) -> None:
    questions, problems = parse_questions(reply)
    assert questions == []
    assert problems and all(isinstance(problem, str) and problem.endswith(".") for problem in problems)


def test_parse_questions_ignores_brackets_in_prose() -> None:
    reply = f"As shown in [1], the {{name}} placeholder is not JSON.\n1. {A}\n2. {B}"
    assert parse_questions(reply) == ([A, B], [])


# --------------------------------------------------------------------------- parse_check


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('{"answered": true, "reason": "The second passage states the budget."}', True),
        ('{"answered": false, "reason": "No passage gives the budget."}', False),
        ('{"Answered": "yes", "reason": "..."}', True),
        ('{"answered": "no"}', False),
        ('{"answered": "Not answered."}', False),
        ('{"answerable": "TRUE"}', True),
        ('Verdict follows.\n```json\n{"answered": false, "reason": "Only the name is mentioned."}\n```', False),
        ('{"result": {"answered": true}}', True),
        ('<think>{"answered": false}</think>{"answered": true}', True),
        ("ANSWERED", True),
        ("NOT ANSWERED: nothing states the designer.", False),
        ("not answered", False),
        ("Unanswered.", False),
        ("**Answered** - passage 2.", True),
        ("Verdict: NOT ANSWERED", False),
        ("answered: no", False),
        ("Answered: false, the passages only name her.", False),
        ("**Yes**", True),
        ("True.", True),
        ("Yes, the second passage gives it.", True),
        ("No. The passages only mention the museum.", False),
        ("\n\nyes", True),
        # unreadable or contradictory: None, which the caller treats as answered
        ("", None),
        ("   ", None),
        ("<think>No.", None),
        ("Maybe; it is hard to say.", None),
        ("The passages do not answer it.", None),
        ("Nope", None),
        ("No doubt the second passage answers it.", None),  # "No" not as a whole answer
        ("answered: see above", None),
        ("None of the passages mention it.", None),
        ('{"answered": null}', None),
        ('{"answered": "partly"}', None),
        ('{"answered": 1}', None),
        ('{"reason": "no verdict here"}', None),
        ('{"answered": true}\n{"answered": false}', None),
        ('{"answered": tru', None),
    ],
)
def test_parse_check(reply: str, expected: bool | None) -> None:
    assert parse_check(reply) is expected


# --------------------------------------------------------------------------- excerpts


def words(text: str) -> int:
    return len(text.split())


def corpus_of(sources: dict[str, int], words_per_chunk: int = 12) -> list[Chunk]:
    chunks = []
    for source, count in sources.items():
        for i in range(count):
            text = " ".join(f"{source}-{i}-w{j}" for j in range(words_per_chunk))
            chunks.append(Chunk(id=f"{source}#{i}", source=source, index=i, text=text, tokens=words_per_chunk))
    return chunks


def test_render_excerpts_numbers_names_and_fits_the_budget() -> None:
    chunks = corpus_of({"a.md": 1, "b.md": 2})
    text = render_excerpts(chunks, max_tokens=1000, count_tokens=words)
    assert text.count("Excerpt ") == 3
    assert "Excerpt 1 (from a.md):" in text and "Excerpt 3 (from b.md):" in text
    assert all(chunk.text in text for chunk in chunks)
    assert text.index(chunks[0].text) < text.index(chunks[1].text) < text.index(chunks[2].text)

    for budget in (10, 20, 30, 40, 55):
        fitted = render_excerpts(chunks, max_tokens=budget, count_tokens=words)
        assert fitted and words(fitted) <= budget


def test_render_excerpts_skips_a_chunk_too_long_for_what_is_left_and_takes_a_later_one() -> None:
    short, long_one, short_too = corpus_of({"a.md": 1}, 5) + corpus_of({"b.md": 1}, 50) + corpus_of({"c.md": 1}, 5)
    text = render_excerpts([short, long_one, short_too], max_tokens=30, count_tokens=words)
    assert short.text in text and short_too.text in text and long_one.text not in text
    assert "Excerpt 2 (from c.md):" in text  # numbered as shown


def test_render_excerpts_cuts_the_first_chunk_when_it_alone_is_too_long() -> None:
    (chunk,) = corpus_of({"a.md": 1}, 200)
    text = render_excerpts([chunk], max_tokens=50, count_tokens=words)
    assert 40 <= words(text) <= 50
    assert "[...]" in text and chunk.text.startswith(text.split('"""\n')[1].split(" [...]")[0])
    assert render_excerpts([chunk], max_tokens=3, count_tokens=words) == ""  # not even the heading fits
    with pytest.raises(ValueError):
        render_excerpts([chunk], max_tokens=0, count_tokens=words)


def test_render_excerpts_keeps_template_syntax_as_data_and_holds_a_real_token_budget() -> None:
    chunk = Chunk(id="t#0", source="t.md", index=0, text=LITERAL, tokens=20)
    filler = corpus_of({"u.md": 60}, 6)
    count = counter_for("gpt-4o-mini")
    text = render_excerpts([chunk, *filler], max_tokens=600, count_tokens=count)
    assert LITERAL in text
    # Full up to the size of one more excerpt: a filler one is about 45 tokens.
    assert 600 - 2 * count(render_excerpts(filler[:1], max_tokens=600, count_tokens=count)) < count(text) <= 600


def test_choose_excerpt_chunks_is_deterministic_and_depends_on_seed() -> None:
    chunks = corpus_of({"a.md": 6, "b.md": 3, "c.md": 4, "d.md": 2, "e.md": 5})
    picks = [choose_excerpt_chunks(chunks, 3, seed=7, round=r) for r in range(6)]
    assert picks == [choose_excerpt_chunks(chunks, 3, seed=7, round=r) for r in range(6)]
    assert picks == [choose_excerpt_chunks(list(reversed(chunks)), 3, seed=7, round=r) for r in range(6)]  # order-free
    other = [choose_excerpt_chunks(chunks, 3, seed=8, round=r) for r in range(6)]
    assert other != picks


def test_choose_excerpt_chunks_spreads_over_files_and_varies_by_round() -> None:
    chunks = corpus_of({"a.md": 6, "b.md": 3, "c.md": 4, "d.md": 2, "e.md": 5})
    rounds = [choose_excerpt_chunks(chunks, 3, seed=0, round=r) for r in range(12)]
    for picked in rounds:
        assert len(picked) == 3
        assert len({chunk.source for chunk in picked}) == 3  # three different files
    ids = [frozenset(chunk.id for chunk in picked) for picked in rounds]
    assert all(ids[r] != ids[r + 1] for r in range(len(ids) - 1))
    assert all(not ids[r] & ids[r + 1] for r in range(len(ids) - 1))  # consecutive rounds share nothing
    # Six files' worth of rounds show every file twice and most of the corpus.
    shown = set().union(*ids)
    assert {chunk.source for chunk in chunks} == {chunk_id.split("#")[0] for chunk_id in shown}
    assert len(shown) >= 14


def test_choose_excerpt_chunks_with_one_file_walks_through_its_chunks() -> None:
    chunks = corpus_of({"only.md": 7})
    rounds = [[chunk.id for chunk in choose_excerpt_chunks(chunks, 2, seed=1, round=r)] for r in range(3)]
    assert all(len(set(picked)) == 2 for picked in rounds)
    assert len({chunk_id for picked in rounds for chunk_id in picked}) == 6  # no repeats before the file is used up


def test_choose_excerpt_chunks_edge_cases() -> None:
    chunks = corpus_of({"a.md": 2, "b.md": 1})
    every = choose_excerpt_chunks(chunks, 10, seed=0, round=3)
    assert sorted(chunk.id for chunk in every) == sorted(chunk.id for chunk in chunks)
    assert choose_excerpt_chunks(chunks, 0, seed=0, round=0) == []
    assert choose_excerpt_chunks([], 3, seed=0, round=0) == []
    with pytest.raises(ValueError):
        choose_excerpt_chunks(chunks, -1, seed=0, round=0)
    with pytest.raises(ValueError):
        choose_excerpt_chunks(chunks, 1, seed=0, round=-1)
