"""The lenient readers against 30 real replies of a small model (SmolLM2-135M behind llama.cpp's server).

``tests/data/smollm2-replies.jsonl`` holds the replies as the server sent them, without
structured output, to qagen's own templates. Each test pins what qagen now reads from a reply:
the pairs it keeps, and why it rejects the rest. The counts the parser had before it learned
these formats are in the data file's ``qagen_pairs`` field, kept for comparison.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qagen.replies.pairs import EMPTY_LIST, RUNAWAY_REPLY, parse_reply
from qagen.replies.questions import parse_check, parse_questions
from qagen.replies.ratings import parse_ratings

REPLIES = [json.loads(line) for line in (Path(__file__).parent / "data" / "smollm2-replies.jsonl").read_text("utf-8").splitlines()]

# Reply number -> (pairs read, reasons every failure must be among, or None for any), for the generation replies.
PAIRS_READ = {
    0: (1, ()),  # one clean line when three were asked
    1: (3, ()),
    2: (3, ()),  # the same pair twice: dedupe's business, not the parser's
    3: (1, ()),  # trailing comma before }, then prose
    4: (1, ("missing_field",)),  # an "explanation" object is not a pair
    5: (1, ()),  # one object spread over two lines
    6: (0, ("not_text",)),  # capitalised keys read; the answer is an object
    7: (0, None),  # the passage rewritten
    8: (0, ("no_pairs_found",)),
    9: (0, ("no_pairs_found",)),
    10: (0, ("no_pairs_found",)),
    11: (3, ()),  # "1. Question?" then an indented "Answer: ..."
    12: (5, ("missing_field",)),  # "### 1. Question?" headings, "A:" or a paragraph under each; the last has none
    13: (1, ()),  # a string broken over raw newlines, and a trailing comma
    14: (0, None),  # a code fence holding the passage, cut at max_tokens
    15: (4, (RUNAWAY_REPLY, "truncated_item")),  # a repetition loop: 21 pairs when 5 were asked, only 4 distinct
    16: (0, ("missing_field", "no_pairs_found")),  # numbered questions without answers
    17: (1, ("malformed_json",)),
    18: (0, ("missing_field", "no_pairs_found")),
    19: (2, ()),  # the second answer is under "response"; trailing commas, a stray closing brace
    20: (0, None),
    28: (0, (EMPTY_LIST,)),  # {"pairs": []}: a schema without minItems
    29: (3, ()),
}


def test_every_generation_reply_has_an_expectation() -> None:
    assert sorted(i for i, reply in enumerate(REPLIES) if reply["kind"] == "qa") == sorted(PAIRS_READ)


@pytest.mark.parametrize("number", sorted(PAIRS_READ))
def test_generation_reply(number: int) -> None:
    reply = REPLIES[number]
    expected, reasons = PAIRS_READ[number]
    result = parse_reply(reply["raw"], truncated=reply["finish_reason"] == "length", asked=reply["pairs_asked"])
    assert len(result.items) == expected, [item.question for item in result.items]
    if reasons is not None:
        assert {f.reason for f in result.failures} <= set(reasons), result.failures
        if expected == 0:
            assert result.failures  # nothing is dropped silently


def test_answers_are_read_from_the_labelled_lines() -> None:
    result = parse_reply(REPLIES[11]["raw"], asked=3)
    assert [item.question for item in result.items] == [
        "What happened to the ferry?", "How did the ferry get built in 1964?", "What is the ferry's size?",
    ]
    assert result.items[2].answer.startswith("The ferry is a small, fast passenger vessel")
    headings = parse_reply(REPLIES[12]["raw"], asked=3)
    assert headings.items[0].question == "What is the difference between a living and a work-life balance?"
    assert headings.items[0].answer.startswith("The difference lies in how you spend your time")
    assert headings.items[1].answer.startswith("Work-life balance refers to how you manage your personal life")


def test_a_runaway_reply_keeps_the_asked_number_of_distinct_pairs() -> None:
    reply = REPLIES[15]
    result = parse_reply(reply["raw"], truncated=True, asked=5)
    questions = [item.question for item in result.items]
    assert len(questions) == len(set(questions)) <= 5
    runaway = [f for f in result.failures if f.reason == RUNAWAY_REPLY]
    assert len(questions) + len(runaway) == 21  # every pair read is kept or rejected, none dropped silently
    assert "repeat" in runaway[0].detail


def test_a_reply_cut_off_with_more_pairs_than_asked_is_a_runaway() -> None:
    lines = "\n".join(json.dumps({"question": f"Question {i}?", "answer": f"Answer {i}."}) for i in range(7))
    result = parse_reply(lines, truncated=True, asked=5)
    assert [item.question for item in result.items] == [f"Question {i}?" for i in range(5)]
    assert [f.reason for f in result.failures] == [RUNAWAY_REPLY, RUNAWAY_REPLY]
    # A reply that ended by itself is not a runaway, whatever its length: the later stages judge its pairs.
    assert len(parse_reply(lines, truncated=False, asked=5).items) == 7


def test_an_empty_list_of_pairs_is_a_reject_with_its_reason() -> None:
    result = parse_reply('{"pairs":[]}', asked=3)
    assert result.items == ()
    assert [(f.reason, f.raw) for f in result.failures] == [(EMPTY_LIST, '{"pairs":[]}')]
    assert "empty" in result.failures[0].detail


def test_idk_replies() -> None:
    assert len(parse_questions(REPLIES[21]["raw"])[0]) == 5  # numbered plain questions, then chatter
    # A JSON object whose question lacks its "?", then the same question as a plain "Question:" line.
    assert parse_questions(REPLIES[22]["raw"])[0] == ["What is the total number of ships carried by the Brannoch Sound Ferry Co.?"]
    questions, problems = parse_questions(REPLIES[23]["raw"])
    assert questions == [] and problems


def test_check_and_judge_replies() -> None:
    assert parse_check(REPLIES[24]["raw"]) is False
    assert parse_check(REPLIES[25]["raw"]) in (True, None)  # None counts as answered
    ratings, problems = parse_ratings(REPLIES[26]["raw"], ["a", "b", "c"])
    assert sorted(ratings) == ["a", "b", "c"] and any("unknown pair id" in p for p in problems)
    ratings, problems = parse_ratings(REPLIES[27]["raw"], ["a"])
    assert list(ratings) == ["a"] and any("remy_thompson" in p for p in problems)
