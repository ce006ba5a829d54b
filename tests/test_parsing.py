"""Tests for qagen.parsing: reply text in, question/answer pairs and failures out."""

from __future__ import annotations

import json
import random

import pytest

from qagen.replies.pairs import (
    FAILURE_REASONS,
    ParsedItem,
    ParseFailure,
    ParseResult,
    parse_reply,
)

PAIRS = [
    ("What colour is the sky?", "Blue."),
    ("How many legs does a spider have?", "Eight."),
    ("Who wrote the handbook?", "The platform team."),
]


def jsonl(pairs: list[tuple[str, str]]) -> str:
    return "\n".join(json.dumps({"question": q, "answer": a}) for q, a in pairs)


def got(result: ParseResult) -> list[tuple[str, str]]:
    return [(item.question, item.answer) for item in result.items]


def reasons(result: ParseResult) -> list[str]:
    return [failure.reason for failure in result.failures]


def assert_clean(result: ParseResult, expected: list[tuple[str, str]]) -> None:
    assert got(result) == expected
    assert result.failures == ()
    assert result.truncated is False


# --------------------------------------------------------------------------- accepted shapes


def test_jsonl_one_object_per_line() -> None:
    result = parse_reply(jsonl(PAIRS))
    assert_clean(result, PAIRS)
    assert [json.loads(item.raw) for item in result.items] == [{"question": q, "answer": a} for q, a in PAIRS]


def test_jsonl_with_blank_lines_and_trailing_commas() -> None:
    lines = [json.dumps({"question": q, "answer": a}) + "," for q, a in PAIRS]
    text = "\n\n".join(lines) + "\n\n"
    result = parse_reply(text)
    assert_clean(result, PAIRS)
    assert all(item.raw.startswith("{") and item.raw.endswith("}") for item in result.items)


def test_json_array() -> None:
    text = json.dumps([{"question": q, "answer": a} for q, a in PAIRS], indent=2)
    assert_clean(parse_reply(text), PAIRS)


@pytest.mark.parametrize("key", ["pairs", "questions", "data", "items", "qa_pairs"])
def test_object_wrapping_a_list_under_any_key(key: str) -> None:
    text = json.dumps({key: [{"question": q, "answer": a} for q, a in PAIRS]})
    result = parse_reply(text)
    assert_clean(result, PAIRS)
    # Each item keeps its own span of the source, not the whole wrapper.
    assert json.loads(result.items[1].raw) == {"question": PAIRS[1][0], "answer": PAIRS[1][1]}


def test_wrapper_with_metadata_and_nesting() -> None:
    text = json.dumps(
        {
            "topic": "nature",
            "count": 3,
            "meta": {"source": "chunk-1"},
            "result": {"pairs": [{"question": q, "answer": a} for q, a in PAIRS]},
        }
    )
    assert_clean(parse_reply(text), PAIRS)


def test_object_of_pair_objects() -> None:
    text = json.dumps({f"pair{i}": {"question": q, "answer": a} for i, (q, a) in enumerate(PAIRS)})
    assert_clean(parse_reply(text), PAIRS)


def test_single_object_is_one_pair() -> None:
    text = '{"question": "What is qagen?", "answer": "A dataset generator."}'
    result = parse_reply(text)
    assert_clean(result, [("What is qagen?", "A dataset generator.")])
    assert result.items[0].raw == text


@pytest.mark.parametrize("fence", ["```json", "```", "```JSON", "```jsonl"])
def test_markdown_code_fence(fence: str) -> None:
    text = f"{fence}\n{jsonl(PAIRS)}\n```"
    assert_clean(parse_reply(text), PAIRS)


def test_several_fences_with_prose_between() -> None:
    first = json.dumps([{"question": q, "answer": a} for q, a in PAIRS[:2]], indent=2)
    text = (
        "Here are the first pairs:\n```json\n" + first + "\n```\n\n"
        "And one more:\n```\n" + jsonl(PAIRS[2:]) + "\n```\n"
    )
    assert_clean(parse_reply(text), PAIRS)


def test_prose_around_json_is_not_a_failure() -> None:
    text = (
        "Sure! Here are 3 question/answer pairs (as {question, answer} objects) [see below]:\n\n"
        + jsonl(PAIRS)
        + "\n\nLet me know if you'd like more {or fewer} pairs!"
    )
    assert_clean(parse_reply(text), PAIRS)


@pytest.mark.parametrize(
    ("question_key", "answer_key"),
    [
        ("question", "answer"),
        ("prompt", "completion"),
        ("q", "a"),
        ("Question", "Answer"),
        ("QUESTION", "ANSWER"),
        ("Q", "A"),
        ("input", "output"),
        ("Prompt", "answer"),
    ],
)
def test_key_aliases(question_key: str, answer_key: str) -> None:
    text = json.dumps({question_key: "What is X?", answer_key: "X is Y.", "difficulty": "easy"})
    assert_clean(parse_reply(text), [("What is X?", "X is Y.")])


def test_numbered_and_bulleted_lines() -> None:
    objects = [json.dumps({"question": q, "answer": a}) for q, a in PAIRS]
    text = f"1. {objects[0]}\n2) {objects[1]}\n- {objects[2]}\n* {objects[0]}\n\u2022 {objects[1]}"
    assert_clean(parse_reply(text), [*PAIRS, PAIRS[0], PAIRS[1]])


def test_trailing_commas_inside_array_and_object() -> None:
    text = '[\n  {"question": "a?", "answer": "b",},\n  {"question": "c?", "answer": "d"},\n]'
    assert_clean(parse_reply(text), [("a?", "b"), ("c?", "d")])


def test_objects_back_to_back_on_one_line() -> None:
    text = '{"question": "a?", "answer": "b"}{"question": "c?", "answer": "d"}'
    assert_clean(parse_reply(text), [("a?", "b"), ("c?", "d")])


def test_raw_newline_inside_a_string_is_tolerated() -> None:
    text = '{"question": "Why?", "answer": "First line.\nSecond\tline."}'
    assert_clean(parse_reply(text), [("Why?", "First line.\nSecond\tline.")])


def test_reasoning_block_is_skipped() -> None:
    text = (
        '<think>\nDraft: {"question": "draft?", "answer": "no"}\n</think>\n\n'
        + jsonl(PAIRS)
    )
    assert_clean(parse_reply(text), PAIRS)


def test_reply_that_is_only_reasoning() -> None:
    text = '<think>\nI should write {"question": "x?", "answer": "y"} lines'
    result = parse_reply(text, truncated=True)
    assert result.items == ()
    assert reasons(result) == ["no_pairs_found"]
    assert result.failures[0].raw == text
    assert result.truncated is True


# --------------------------------------------------------------------------- plain-text fallback


def test_plain_text_q_and_a() -> None:
    text = (
        "Here are some pairs:\n\n"
        "Q: What colour is the sky?\nA: Blue.\n\n"
        "Q2: How many legs does a spider have?\nA2: Eight.\n"
    )
    assert_clean(parse_reply(text), PAIRS[:2])


def test_plain_text_question_answer_with_multiline_answer_and_markdown() -> None:
    text = (
        "1. **Question:** What is qagen?\n"
        "**Answer:** A tool that turns documents\n"
        "into a question/answer dataset.\n"
        "\n"
        "## Question 2: Does it need a GPU?\n"
        "Answer 2: No.\n"
        "\n"
        "Hope this helps!"
    )
    result = parse_reply(text)
    assert_clean(
        result,
        [
            ("What is qagen?", "A tool that turns documents\ninto a question/answer dataset."),
            ("Does it need a GPU?", "No."),
        ],
    )
    assert result.items[0].raw.startswith("1. **Question:**")
    assert result.items[0].raw.endswith("dataset.")


def test_plain_text_answer_on_the_next_line() -> None:
    text = "Question: What is X?\nAnswer:\nX is Y.\nIt is also Z."
    assert_clean(parse_reply(text), [("What is X?", "X is Y.\nIt is also Z.")])


def test_plain_text_incomplete_blocks_are_failures() -> None:
    text = "A: an answer without a question\n\nQ: first?\nA: one\n\nQ: no answer here\n\nQ: empty?\nA:\n"
    result = parse_reply(text)
    assert got(result) == [("first?", "one")]
    assert reasons(result) == ["missing_field", "missing_field", "empty_field"]
    assert result.failures[0].raw == "A: an answer without a question"
    assert result.failures[1].raw == "Q: no answer here"


def test_plain_text_cut_off_marks_last_block() -> None:
    text = "Q: first?\nA: one\n\nQ: second?\nA: the answer was still being wri"
    result = parse_reply(text, truncated=True)
    assert got(result) == [("first?", "one")]
    assert reasons(result) == ["truncated_item"]
    assert result.failures[0].raw == "Q: second?\nA: the answer was still being wri"
    assert result.truncated is True


def test_json_wins_over_plain_text() -> None:
    text = "Q: ignored?\nA: yes\n" + jsonl(PAIRS[:1])
    assert_clean(parse_reply(text), PAIRS[:1])


# --------------------------------------------------------------------------- truncation


def test_truncated_mid_string_keeps_complete_items() -> None:
    text = jsonl(PAIRS) + '\n{"question": "What is the fourth'
    result = parse_reply(text)
    assert got(result) == PAIRS
    assert reasons(result) == ["truncated_item"]
    assert result.failures[0].raw == '{"question": "What is the fourth'
    assert result.truncated is True


def test_truncated_mid_object_after_a_key() -> None:
    text = jsonl(PAIRS[:1]) + '\n{"question": "Second?", "answer"'
    result = parse_reply(text)
    assert got(result) == PAIRS[:1]
    assert reasons(result) == ["truncated_item"]
    assert result.failures[0].raw == '{"question": "Second?", "answer"'
    assert result.truncated is True


@pytest.mark.parametrize("tail", ['{"question": "c?", "answer": 4', '{"question": "c?", "answer": 4.', '{"question": "c?", "answer": tr'])
def test_truncated_mid_scalar(tail: str) -> None:
    text = '[{"question": "a?", "answer": "b"}, ' + tail
    result = parse_reply(text)
    assert got(result) == [("a?", "b")]
    assert reasons(result) == ["truncated_item"]
    assert result.failures[0].raw == tail
    assert result.truncated is True


def test_truncated_mid_array_between_items() -> None:
    text = "```json\n[\n" + ",\n".join(json.dumps({"question": q, "answer": a}) for q, a in PAIRS) + ",\n  "
    result = parse_reply(text)
    assert got(result) == PAIRS
    # Nothing of a next item was written, so nothing is rejected, but the reply is still cut off.
    assert result.failures == ()
    assert result.truncated is True


def test_truncated_inside_a_wrapper() -> None:
    text = '{"pairs": [\n  {"question": "a?", "answer": "b"},\n  {"question": "c?", "answer": "half an ans'
    result = parse_reply(text)
    assert got(result) == [("a?", "b")]
    assert reasons(result) == ["truncated_item"]
    assert result.failures[0].raw == '{"question": "c?", "answer": "half an ans'
    assert result.truncated is True


def test_truncated_pretty_printed_array_mid_object() -> None:
    items = [{"question": q, "answer": a} for q, a in PAIRS]
    full = json.dumps(items, indent=2)
    cut_at = full.index('"answer": "The platform team."') + len('"answer": "The plat')
    result = parse_reply(full[:cut_at])
    assert got(result) == PAIRS[:2]
    assert reasons(result) == ["truncated_item"]
    assert result.failures[0].raw.startswith("{")
    assert result.failures[0].raw.endswith('"The plat')


def test_caller_truncation_flag_is_kept() -> None:
    result = parse_reply(jsonl(PAIRS), truncated=True)
    assert got(result) == PAIRS
    assert result.failures == ()
    assert result.truncated is True


def test_truncated_single_item_reply_is_reported_once() -> None:
    text = '{"question": "Only one?", "answer": "cut'
    result = parse_reply(text, truncated=True)
    assert result.items == ()
    assert reasons(result) == ["truncated_item"]  # it already holds the whole reply
    assert result.failures[0].raw == text


# --------------------------------------------------------------------------- strictness


def test_malformed_lines_mixed_with_good_ones() -> None:
    bad = [
        '{"question": "a?" "answer": "b"}',  # missing comma
        "{question: 'c?', answer: 'd'}",  # not JSON
        '{"question": "e?", "answer": "f"',  # missing closing brace, next line is fine
    ]
    text = "\n".join(
        [
            json.dumps({"question": "one?", "answer": "1"}),
            bad[0],
            json.dumps({"question": "two?", "answer": "2"}),
            bad[1],
            bad[2],
            json.dumps({"question": "three?", "answer": "3"}),
        ]
    )
    result = parse_reply(text)
    assert got(result) == [("one?", "1"), ("two?", "2"), ("three?", "3")]
    assert reasons(result) == ["malformed_json"] * 3
    assert [failure.raw for failure in result.failures] == bad
    assert result.truncated is False


def test_malformed_entry_inside_a_one_line_array() -> None:
    text = '[{"question": "a?", "answer": "b"}, {"question": "c?" "answer": "d"}, {"question": "e?", "answer": "f"}]'
    result = parse_reply(text)
    assert got(result) == [("a?", "b"), ("e?", "f")]
    assert reasons(result) == ["malformed_json"]
    assert result.failures[0].raw == '{"question": "c?" "answer": "d"}'


def test_malformed_object_in_pretty_printed_array() -> None:
    text = (
        "[\n"
        '  {\n    "question": "a?",\n    "answer": "b"\n  },\n'
        '  {\n    "question": "c?"\n    "answer": "d"\n  },\n'
        '  {\n    "question": "e?",\n    "answer": "f"\n  }\n'
        "]"
    )
    result = parse_reply(text)
    assert got(result) == [("a?", "b"), ("e?", "f")]
    assert reasons(result) == ["malformed_json"]
    assert '"question": "c?"' in result.failures[0].raw


@pytest.mark.parametrize(
    ("obj", "missing"),
    [
        ({"question": "Where?"}, "answer"),
        ({"answer": "Here."}, "question"),
        ({"query": "Where?", "response": "Here."}, "question and answer"),
    ],
)
def test_missing_field(obj: dict, missing: str) -> None:
    line = json.dumps(obj)
    text = jsonl(PAIRS[:1]) + "\n" + line
    result = parse_reply(text)
    assert got(result) == PAIRS[:1]
    assert reasons(result) == ["missing_field"]
    assert result.failures[0].raw == line
    assert missing in result.failures[0].detail


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        ({"question": "Q?", "answer": ["a", "b"]}, "not_text"),
        ({"question": "Q?", "answer": {"text": "a"}}, "not_text"),
        ({"question": ["Q?"], "answer": "a"}, "not_text"),
        ({"question": "Q?", "answer": True}, "not_text"),
        ({"question": 12, "answer": "a"}, "not_text"),
        ({"question": "Q?", "answer": None}, "empty_field"),
        ({"question": "   ", "answer": "a"}, "empty_field"),
        ({"question": "Q?", "answer": "\n\t "}, "empty_field"),
    ],
)
def test_unusable_fields(obj: dict, reason: str) -> None:
    line = json.dumps(obj)
    result = parse_reply(jsonl(PAIRS[:1]) + "\n" + line)
    assert got(result) == PAIRS[:1]
    assert reasons(result) == [reason]
    assert result.failures[0].raw == line


def test_non_finite_number_answer_is_not_text() -> None:
    result = parse_reply(jsonl(PAIRS[:1]) + '\n{"question": "Q?", "answer": NaN}')
    assert reasons(result) == ["not_text"]


@pytest.mark.parametrize(("answer", "text"), [("42", "42"), ("-3.5", "-3.5"), ("1e3", "1000.0")])
def test_number_answers_become_text(answer: str, text: str) -> None:
    result = parse_reply('{"question": "How many?", "answer": ' + answer + "}")
    assert_clean(result, [("How many?", text)])


def test_fields_are_stripped() -> None:
    result = parse_reply('{"question": "  What?\\n", "answer": "\\tThat.  "}')
    assert_clean(result, [("What?", "That.")])


def test_entries_that_are_not_objects() -> None:
    text = '[{"question": "a?", "answer": "b"}, "a stray string", 7]'
    result = parse_reply(text)
    assert got(result) == [("a?", "b")]
    assert reasons(result) == ["not_an_object", "not_an_object"]
    assert [failure.raw for failure in result.failures] == ['"a stray string"', "7"]


def test_empty_reply() -> None:
    for text in ("", "   \n\t\n"):
        result = parse_reply(text)
        assert result.items == ()
        assert reasons(result) == ["empty_reply"]
        assert result.failures[0].raw == text


def test_prose_only_reply() -> None:
    text = "I'm sorry, but the passage does not contain enough information [1] to write {questions}."
    result = parse_reply(text)
    assert result.items == ()
    assert reasons(result) == ["no_pairs_found"]
    assert result.failures[0].raw == text


def test_no_items_always_reports_the_whole_reply() -> None:
    text = "Here you go:\n{question: 'a?', answer: 'b'}\n{\"question\": \"c?\"}\n"
    result = parse_reply(text)
    assert result.items == ()
    assert reasons(result) == ["malformed_json", "missing_field", "no_pairs_found"]
    assert result.failures[-1].raw == text


def test_json_of_other_shapes_finds_no_pairs() -> None:
    result = parse_reply('{"questions": ["What?", "Why?"]}')
    assert reasons(result) == ["no_pairs_found"]


def test_unicode_escaped_quotes_and_brackets_inside_strings() -> None:
    pairs = [
        ('What does "{x}" mean in a \\"template\\"?', "It is a placeholder: {x} or [y], then }] or {{."),
        ("Qu'est-ce que l'été ? 日本語は？", "Ünïcødé ✓ 🙂 \u05e9\u05dc\u05d5\u05dd and a \u2028 line separator."),
        ("Line\nbreaks?", "Yes\\nreally: \\u0041 stays literal, \u0041 is A."),
    ]
    for text in (jsonl(pairs), json.dumps([{"question": q, "answer": a} for q, a in pairs], ensure_ascii=False)):
        assert_clean(parse_reply(text), pairs)


def test_deep_nesting_does_not_crash() -> None:
    text = "[" * 5000 + jsonl(PAIRS[:1])
    result = parse_reply(text)
    assert got(result) == []
    assert reasons(result)[-1] == "no_pairs_found"
    result = parse_reply("[" * 5000 + "\n" + jsonl(PAIRS[:1]))
    assert got(result) == PAIRS[:1]


def test_every_failure_names_a_known_reason_and_keeps_text() -> None:
    texts = [
        "",
        "prose only",
        jsonl(PAIRS) + '\n{"question": "cut',
        '{"question": 1, "answer": 2}\n{"answer": "x"}\n{"q": "y", "a": []}\n{broken',
        '[{"question": "a", "answer": "b"}, 3]',
        "Q: orphan question\n\nA: orphan answer",
    ]
    for text in texts:
        result = parse_reply(text)
        assert isinstance(result, ParseResult)
        assert result.failures or result.items
        for failure in result.failures:
            assert isinstance(failure, ParseFailure)
            assert failure.reason in FAILURE_REASONS
            assert failure.detail.endswith(".")
            assert failure.raw or failure.reason == "empty_reply"
        for item in result.items:
            assert isinstance(item, ParsedItem)
            assert item.question and item.answer and item.raw


# --------------------------------------------------------------------------- size


def test_large_reply_parses_cleanly() -> None:
    # How long each shape takes is printed by benchmarks/speed.py.
    pairs = [(f"What does section {i} say about {{braces}} and \"quotes\"?", "It says " + "word " * 30 + str(i)) for i in range(5000)]
    pairs = [(q, a.strip()) for q, a in pairs]
    shapes = {
        "jsonl": jsonl(pairs),
        "array": json.dumps([{"question": q, "answer": a} for q, a in pairs], indent=2),
        "wrapper": json.dumps({"pairs": [{"question": q, "answer": a} for q, a in pairs]}),
    }
    for name, text in shapes.items():
        assert len(text) > 1_000_000, name
        assert_clean(parse_reply(text), pairs)


def test_long_fields() -> None:
    long_answer = "A long answer with {braces}, [brackets] and \"quotes\". " * 400  # ~22,000 characters
    pairs = [("Short?", long_answer.strip()), ("x" * 9_000 + "?", "y" * 9_000), ("Last?", "12345678901234567890" * 300)]
    for text in (jsonl(pairs), json.dumps([{"question": q, "answer": a} for q, a in pairs])):
        assert_clean(parse_reply(text), pairs)
    for closing in ("}", ",}"):  # the trailing comma makes the object be read member by member
        big_number = '{"question": "How many?", "answer": ' + "7" * 3000 + closing
        assert_clean(parse_reply(big_number), [("How many?", "7" * 3000)])
    cut = jsonl(pairs[:1]) + '\n{"question": "Cut?", "answer": "' + "z" * 20_000
    result = parse_reply(cut)
    assert got(result) == pairs[:1]
    assert reasons(result) == ["truncated_item"]
    assert result.failures[0].raw.endswith("z" * 100)


@pytest.mark.parametrize(
    "text",
    [
        '{"question": "a?" "answer": "b"}\n' * 30_000,  # many malformed lines
        "[" + '{"question": "a?" "answer": "b"}, ' * 30_000 + "]",  # many malformed entries on one line
        '{"question": "' + "{[" * 500_000,  # an unterminated string full of brackets
        "prose {x} [y] " * 80_000,  # brackets in prose
        "{" * 1_000_000,
        '{"a": ' * 200_000,
    ],
    ids=["malformed-lines", "malformed-inline", "unterminated", "prose", "braces", "deep-object"],
)
def test_hostile_megabyte_replies_give_failures_and_no_items(text: str) -> None:
    # That they stay linear is a figure of benchmarks/speed.py (a quadratic slip shows there).
    result = parse_reply(text)
    assert result.items == ()
    assert result.failures


# --------------------------------------------------------------------------- property-style round trips

# Words chosen to stress the reader: quotes, backslashes, brackets, unicode, line breaks.
_JSON_WORDS = [
    "alpha", "beta", "Gamma", "42", "3.14", '"quoted"', "back\\slash", "{brace}", "[bracket]", "}]",
    "{\"k\": 1}", "été", "日本", "🙂", "naïve", "line\nbreak", "tab\there", "Q:", "A:", "```", ",", "null",
    "</t>", "\u2028", "-", "1.",
]
# Plain-text replies cannot escape anything, so their words avoid labels, brackets and blank lines.
_PLAIN_WORDS = ["alpha", "beta", "Gamma", "42", "3.14", '"quoted"', "été", "日本", "🙂", "naïve", "x-y", "(see)", "it's"]
_ALIASES = [("question", "answer"), ("prompt", "completion"), ("q", "a"), ("Question", "Answer"), ("input", "output")]


def _phrase(rng: random.Random, words: list[str], low: int = 1, high: int = 8) -> str:
    return " ".join(rng.choice(words) for _ in range(rng.randint(low, high))).strip() or "word"


def _random_pairs(rng: random.Random, words: list[str]) -> list[tuple[str, str]]:
    return [(_phrase(rng, words), _phrase(rng, words)) for _ in range(rng.randint(1, 8))]


def _objects(rng: random.Random, pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    objects = []
    for q, a in pairs:
        question_key, answer_key = rng.choice(_ALIASES)
        objects.append({question_key: q, answer_key: a})
    return objects


def _dump(rng: random.Random, value: object) -> str:
    return json.dumps(value, ensure_ascii=rng.random() < 0.5)


def _as_jsonl(rng: random.Random, objects: list[dict[str, str]]) -> str:
    return "\n".join(_dump(rng, obj) for obj in objects)


def _as_loose_jsonl(rng: random.Random, objects: list[dict[str, str]]) -> str:
    lines = []
    for number, obj in enumerate(objects, 1):
        prefix = rng.choice(["", f"{number}. ", "- ", "* ", "  "])
        suffix = rng.choice(["", ",", " ", "\n"])
        lines.append(prefix + _dump(rng, obj) + suffix)
    return "\n".join(lines)


def _as_array(rng: random.Random, objects: list[dict[str, str]]) -> str:
    return json.dumps(objects, indent=rng.choice([None, 2, 4]), ensure_ascii=rng.random() < 0.5)


def _as_wrapper(rng: random.Random, objects: list[dict[str, str]]) -> str:
    key = rng.choice(["pairs", "questions", "data", "items", "results"])
    return json.dumps({key: objects}, indent=rng.choice([None, 2]), ensure_ascii=rng.random() < 0.5)


def _as_fenced_with_prose(rng: random.Random, objects: list[dict[str, str]]) -> str:
    body = rng.choice([_as_jsonl, _as_array])(rng, objects)
    return (
        f"Here are {len(objects)} question/answer pairs:\n\n```{rng.choice(['json', ''])}\n{body}\n```\n\n"
        "Let me know if you need more!"
    )


def _as_several_fences(rng: random.Random, objects: list[dict[str, str]]) -> str:
    split = rng.randint(0, len(objects))
    parts = [objects[:split], objects[split:]]
    return "\n\nMore:\n\n".join(f"```json\n{_as_array(rng, part)}\n```" for part in parts if part)


SHAPES = [_as_jsonl, _as_loose_jsonl, _as_array, _as_wrapper, _as_fenced_with_prose, _as_several_fences]


@pytest.mark.parametrize("shape", SHAPES, ids=[shape.__name__ for shape in SHAPES])
def test_round_trip_of_random_pairs(shape) -> None:
    rng = random.Random(f"qagen-parsing-{shape.__name__}")
    for _ in range(150):
        pairs = _random_pairs(rng, _JSON_WORDS)
        objects = _objects(rng, pairs)
        text = shape(rng, objects)
        result = parse_reply(text)
        assert got(result) == pairs, text
        assert result.failures == (), text
        assert result.truncated is False
        assert [json.loads(item.raw) for item in result.items] == objects


def test_round_trip_of_a_single_object() -> None:
    rng = random.Random("qagen-parsing-single")
    for _ in range(150):
        pairs = _random_pairs(rng, _JSON_WORDS)[:1]
        text = _dump(rng, _objects(rng, pairs)[0])
        assert_clean(parse_reply(text), pairs)


def test_round_trip_of_plain_text() -> None:
    rng = random.Random("qagen-parsing-plain")
    for _ in range(150):
        pairs = []
        blocks = []
        for number in range(1, rng.randint(1, 6) + 1):
            question = _phrase(rng, _PLAIN_WORDS)
            answer_lines = [_phrase(rng, _PLAIN_WORDS) for _ in range(rng.randint(1, 3))]
            pairs.append((question, "\n".join(answer_lines)))
            q_label, a_label = rng.choice([("Q:", "A:"), ("Question:", "Answer:"), (f"Q{number}:", f"A{number}:"), ("**Q:**", "**A:**")])
            blocks.append(f"{q_label} {question}\n{a_label} " + "\n".join(answer_lines))
        text = "Here you go:\n\n" + "\n\n".join(blocks) + "\n\nHope this helps."
        assert_clean(parse_reply(text), pairs)


@pytest.mark.parametrize("layout", ["jsonl", "array", "wrapper"])
def test_cut_anywhere_in_the_last_item_keeps_the_others(layout: str) -> None:
    rng = random.Random(f"qagen-parsing-cut-{layout}")
    head = {"jsonl": "", "array": "```json\n[\n  ", "wrapper": '{"pairs": [\n  '}[layout]
    separator = "\n" if layout == "jsonl" else ",\n  "
    for _ in range(300):
        pairs = _random_pairs(rng, _JSON_WORDS)
        dumped = [_dump(rng, obj) for obj in _objects(rng, pairs)]
        before = head + "".join(line + separator for line in dumped[:-1])
        tail = dumped[-1][: rng.randint(1, len(dumped[-1]) - 1)]
        text = before + tail
        result = parse_reply(text)
        assert got(result) == pairs[:-1], text
        # With nothing kept, the whole reply is reported too, unless the cut item is the whole reply.
        whole_reported = len(pairs) == 1 and tail.strip() != text.strip()
        assert reasons(result) == ["truncated_item"] + ["no_pairs_found"] * whole_reported, text
        assert result.failures[0].raw == tail.strip()
        assert result.truncated is True
