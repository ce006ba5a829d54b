"""Dataset validation: every defect planted in an otherwise good file is reported, on its line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from qagen.dataset.formats import ExampleFormat
from qagen.errors import QagenError
from qagen.records import Pair
from qagen.dataset.checks import check_chat_example, check_completion_examples, infer_common_suffix, pair_text_findings
from qagen.dataset.estimate import TokenStats, estimate_finetune
from qagen.dataset.validate import DatasetFileError, render_report, validate_file
from qagen.documents.tokens import count_chat_tokens

GOOD_EXAMPLES = 12
PLANTED_LINE = 5


def count_words(text: str) -> int:
    return len(text.split())


def chat_example(i: int) -> dict:
    return {
        "messages": [
            {"role": "system", "content": "You answer questions."},
            {"role": "user", "content": f"When was gauge {i} installed?"},
            {"role": "assistant", "content": f"Gauge {i} was installed in {1950 + i}."},
        ]
    }


def legacy_example(i: int, separator: str = "\n\n###\n\n", stop: str = " END") -> dict:
    return {
        "prompt": f"When was gauge {i} installed?{separator}",
        "completion": f" Gauge {i} was installed in {1950 + i}.{stop}",
    }


def write_jsonl(tmp_path: Path, rows: list[object], name: str = "train.jsonl") -> Path:
    path = tmp_path / name
    lines = [row if isinstance(row, str) else json.dumps(row) for row in rows]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def planted(make: Callable[[int], dict], change: Callable[[dict], object]) -> list[object]:
    """GOOD_EXAMPLES good rows with the one on PLANTED_LINE replaced by ``change(row)``."""
    rows: list[object] = [make(i) for i in range(GOOD_EXAMPLES)]
    rows[PLANTED_LINE - 1] = change(rows[PLANTED_LINE - 1])
    return rows


def where(report) -> set[tuple[int | None, str]]:
    return {(f.line, f.code) for f in report.findings}


def with_message(index: int, **fields) -> Callable[[dict], dict]:
    def change(row: dict) -> dict:
        row["messages"][index].update(fields)
        return row

    return change


def without(index: int, key: str | None = None) -> Callable[[dict], dict]:
    def change(row: dict) -> dict:
        if key is None:
            del row["messages"][index]
        else:
            del row["messages"][index][key]
        return row

    return change


def validate(path: Path, **options):
    return validate_file(path, count_tokens=count_words, **options)


# ---------------------------------------------------------------- clean files


def test_clean_chat_file_has_no_findings_and_counts_tokens(tmp_path):
    report = validate(write_jsonl(tmp_path, [chat_example(i) for i in range(GOOD_EXAMPLES)]))

    assert report.format == "chat"
    assert report.examples == GOOD_EXAMPLES
    assert report.findings == ()
    assert report.ok
    # 3 priming + system (3 + role 1 + 3 words) + user (3 + 1 + 5) + assistant (3 + 1 + 6) = 29
    assert (report.tokens.min, report.tokens.max, report.tokens.total) == (29, 29, 29 * GOOD_EXAMPLES)
    # 12 examples * 3 < 100, so 100 // 12 = 8 epochs
    assert (report.estimate.n_epochs, report.estimate.billed_tokens) == (8, 8 * 29 * GOOD_EXAMPLES)


@pytest.mark.parametrize("separator, stop", [("\n\n###\n\n", " END"), ("\n\n###\n\n", "\n"), (" ->", "###")])
def test_clean_legacy_file_has_no_findings_and_infers_separator_and_stop(tmp_path, separator, stop):
    path = write_jsonl(tmp_path, [legacy_example(i, separator, stop) for i in range(GOOD_EXAMPLES)])

    report = validate(path)

    assert report.format == "completion"
    assert report.findings == ()
    assert (report.separator, report.stop) == (separator, stop)


# ---------------------------------------------------------------- planted chat defects

CHAT_DEFECTS = {
    "data_type": (lambda row: [1, 2], {"data_type"}),
    "missing_messages_list": (lambda row: {"prompt": "a?", "completion": " b"}, {"missing_messages_list"}),
    "empty_messages_list": (lambda row: {"messages": []}, {"missing_messages_list"}),
    "message_not_an_object": (lambda row: {"messages": row["messages"] + ["hello"]}, {"data_type"}),
    "no_content": (without(1, "content"), {"message_missing_key", "missing_content"}),
    "no_role": (without(2, "role"), {"message_missing_key", "unrecognized_role", "example_missing_assistant_message"}),
    "unrecognized_key": (with_message(2, mood="calm"), {"message_unrecognized_key"}),
    "unrecognized_role": (
        lambda row: {"messages": row["messages"] + [{"role": "narrator", "content": "The end."}]},
        {"unrecognized_role"},
    ),
    "content_not_a_string": (with_message(1, content=42), {"missing_content"}),
    "no_assistant": (without(2), {"example_missing_assistant_message"}),
    "no_user": (without(1), {"example_missing_user_message"}),
    "no_system": (without(0), {"example_missing_system_message"}),
    "invalid_weight": (with_message(2, weight=2), {"invalid_weight"}),
    "unrecognized_example_key": (lambda row: {**row, "metadata": {}}, {"example_unrecognized_key"}),
    "too_many_tokens": (with_message(2, content="word " * 17_000), {"too_many_tokens"}),
    "empty_question": (with_message(1, content="  \n"), {"empty_text"}),
    "not_a_question": (with_message(1, content="Gauge four installation"), {"not_a_question"}),
    "empty_answer": (with_message(2, content=""), {"empty_answer"}),
    "answer_repeats_question": (with_message(2, content="when was gauge 4 installed"), {"answer_repeats_question"}),
    "jinja_leftover": (with_message(2, content="Gauge 4 was installed in {{ year }}."), {"template_leftover"}),
    "special_token_leftover": (with_message(2, content="In 1954.<|im_end|>"), {"template_leftover"}),
    "inst_leftover": (with_message(1, content="[INST] When was gauge 4 installed?"), {"template_leftover"}),
    "system_template_leftover": (
        with_message(0, content="You answer questions about {{ source }}."),
        {"template_leftover"},
    ),
    "json_reply_leftover": (
        with_message(2, content='{"question": "When?", "answer": "In 1954."}'),
        {"json_leftover"},
    ),
    "json_tail_leftover": (with_message(2, content='Gauge 4 was installed in 1954.",'), {"json_leftover"}),
    "json_key_leftover": (with_message(1, content='"question": "When was gauge 4 installed?"'), {"json_leftover"}),
}


@pytest.mark.parametrize("change, codes", CHAT_DEFECTS.values(), ids=CHAT_DEFECTS.keys())
def test_planted_chat_defect_is_reported_on_its_line(tmp_path, change, codes):
    report = validate(write_jsonl(tmp_path, planted(chat_example, change)))

    assert where(report) == {(PLANTED_LINE, code) for code in codes}


@pytest.mark.parametrize(
    "raw",
    ['{"messages": [', '{"messages": NaN}', "{'messages': []}", '{"messages": ' + "[" * 100_000 + "]" * 100_000 + "}"],
    ids=["truncated", "nan", "single_quotes", "too_deep"],
)
def test_invalid_json_is_reported_on_its_line(tmp_path, raw):
    report = validate(write_jsonl(tmp_path, planted(chat_example, lambda row: raw)))

    assert where(report) == {(PLANTED_LINE, "invalid_json")}
    assert not report.ok


def test_duplicate_chat_example_is_a_warning_pointing_at_the_first(tmp_path):
    rows = planted(chat_example, lambda row: chat_example(1))

    report = validate(write_jsonl(tmp_path, rows))

    assert where(report) == {(PLANTED_LINE, "duplicate_example")}
    assert "line 2" in report.findings[0].message
    assert report.ok


def test_warnings_alone_keep_the_file_ok(tmp_path):
    report = validate(write_jsonl(tmp_path, [without(0)(chat_example(i)) for i in range(GOOD_EXAMPLES)]))

    assert report.ok
    assert report.warnings == GOOD_EXAMPLES and report.errors == 0


def test_lower_token_limit_is_applied(tmp_path):
    report = validate(write_jsonl(tmp_path, [chat_example(i) for i in range(GOOD_EXAMPLES)]), max_tokens=28)

    assert where(report) == {(line, "too_many_tokens") for line in range(1, GOOD_EXAMPLES + 1)}
    assert report.estimate.truncated_examples == GOOD_EXAMPLES


# ---------------------------------------------------------------- file-level problems


def test_blank_line_is_a_warning_with_its_line_number(tmp_path):
    rows: list[object] = [chat_example(i) for i in range(GOOD_EXAMPLES)]
    rows.insert(3, "")

    report = validate(write_jsonl(tmp_path, rows))

    assert where(report) == {(4, "blank_line")}
    assert report.examples == GOOD_EXAMPLES
    assert report.ok


def test_file_that_is_not_utf8_gives_one_error(tmp_path):
    path = write_jsonl(tmp_path, [chat_example(i) for i in range(GOOD_EXAMPLES)])
    lines = path.read_bytes().splitlines(keepends=True)
    lines[PLANTED_LINE - 1] = lines[PLANTED_LINE - 1].replace(b"installed", "install\u00e9".encode("latin-1"))
    path.write_bytes(b"".join(lines))

    report = validate(path)

    assert where(report) == {(PLANTED_LINE, "not_utf8")}


def test_byte_order_mark_is_reported_and_the_line_still_checked(tmp_path):
    path = write_jsonl(tmp_path, planted(chat_example, with_message(2, content="")))
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())

    report = validate(path)

    assert where(report) == {(1, "utf8_bom"), (PLANTED_LINE, "empty_answer")}


@pytest.mark.parametrize("count, too_few", [(0, True), (9, True), (10, False)])
def test_fewer_than_ten_examples_is_a_file_error(tmp_path, count, too_few):
    report = validate(write_jsonl(tmp_path, [chat_example(i) for i in range(count)]))

    assert where(report) == ({(None, "too_few_examples")} if too_few else set())


def test_file_of_other_objects_has_unknown_format(tmp_path):
    report = validate(write_jsonl(tmp_path, [{"text": f"line {i}"} for i in range(GOOD_EXAMPLES)]))

    assert report.format == "unknown"
    assert where(report) == {(None, "unknown_format")}


def test_preference_data_is_named_as_such(tmp_path):
    row = {"input": {"messages": []}, "preferred_output": [], "non_preferred_output": []}

    report = validate(write_jsonl(tmp_path, [row] * GOOD_EXAMPLES))

    assert where(report) == {(None, "unknown_format")}
    assert "preference" in report.findings[0].message


def test_format_comes_from_the_first_recognisable_line(tmp_path):
    rows: list[object] = ["not json", [1], *[legacy_example(i) for i in range(GOOD_EXAMPLES)]]

    report = validate(write_jsonl(tmp_path, rows))

    assert report.format == "completion"
    assert where(report) == {(1, "invalid_json"), (2, "data_type")}


@pytest.mark.parametrize("make", [lambda tmp: tmp / "missing.jsonl", lambda tmp: tmp])
def test_missing_file_raises_a_qagen_error(tmp_path, make):
    path = make(tmp_path)

    with pytest.raises(DatasetFileError) as caught:
        validate(path)

    assert isinstance(caught.value, QagenError)
    assert str(path) in str(caught.value)


# ---------------------------------------------------------------- planted legacy defects


def with_fields(**fields) -> Callable[[dict], dict]:
    return lambda row: {**row, **fields}


LEGACY_DEFECTS = {
    "data_type": (lambda row: '"just text"', {"data_type"}),
    "missing_completion": (lambda row: {"prompt": row["prompt"]}, {"legacy_missing_key"}),
    "completion_not_text": (with_fields(completion=7), {"legacy_not_a_string"}),
    "extra_key": (with_fields(source="notes.md"), {"legacy_extra_key"}),
    "missing_separator": (with_fields(prompt="When was gauge 4 installed?"), {"legacy_missing_separator"}),
    "separator_in_prompt": (
        with_fields(prompt="When was\n\n###\n\ngauge 4 installed?\n\n###\n\n"),
        {"legacy_separator_in_prompt"},
    ),
    "no_leading_space": (with_fields(completion="Gauge 4 was installed in 1954. END"), {"legacy_no_leading_space"}),
    "missing_stop": (with_fields(completion=" Gauge 4 was installed in 1954."), {"legacy_inconsistent_stop"}),
    "stop_inside": (with_fields(completion=" Gauge 4 END was installed in 1954. END"), {"legacy_stop_in_completion"}),
    "long_example": (with_fields(completion=" " + "word " * 2100 + "in 1954. END"), {"long_example"}),
    "empty_completion": (with_fields(completion="  END"), {"empty_answer"}),
    "not_a_question": (with_fields(prompt="Gauge four installation\n\n###\n\n"), {"not_a_question"}),
    "answer_repeats_question": (
        with_fields(completion=" When was gauge 4 installed? END"),
        {"answer_repeats_question"},
    ),
    "template_leftover": (with_fields(completion=" Installed in 1954.<|endoftext|> END"), {"template_leftover"}),
    "json_leftover": (with_fields(completion=' "answer": "In 1954." END'), {"json_leftover"}),
    "duplicate": (lambda row: legacy_example(1), {"duplicate_example"}),
    "invalid_json": (lambda row: '{"prompt": "When?', {"invalid_json"}),
}


@pytest.mark.parametrize("change, codes", LEGACY_DEFECTS.values(), ids=LEGACY_DEFECTS.keys())
def test_planted_legacy_defect_is_reported_on_its_line(tmp_path, change, codes):
    report = validate(write_jsonl(tmp_path, planted(legacy_example, change)))

    assert where(report) == {(PLANTED_LINE, code) for code in codes}
    assert (report.separator, report.stop) == ("\n\n###\n\n", " END")


def test_legacy_file_without_any_separator_is_a_file_error(tmp_path):
    report = validate(write_jsonl(tmp_path, [legacy_example(i, separator="") for i in range(GOOD_EXAMPLES)]))

    assert where(report) == {(None, "legacy_missing_separator")}
    assert report.separator is None


def test_legacy_file_without_any_stop_sequence_is_a_file_error(tmp_path):
    report = validate(write_jsonl(tmp_path, [legacy_example(i, stop="") for i in range(GOOD_EXAMPLES)]))

    assert where(report) == {(None, "legacy_inconsistent_stop")}


def test_given_separator_and_stop_are_enforced_on_every_line(tmp_path):
    path = write_jsonl(tmp_path, [legacy_example(i) for i in range(GOOD_EXAMPLES)])

    report = validate(path, separator="\n\n---\n\n", stop="\n")

    lines = range(1, GOOD_EXAMPLES + 1)
    expected = {(n, "legacy_missing_separator") for n in lines} | {(n, "legacy_inconsistent_stop") for n in lines}
    assert where(report) == expected


def test_leading_space_can_be_turned_off(tmp_path):
    rows = [{**legacy_example(i), "completion": legacy_example(i)["completion"].lstrip()} for i in range(GOOD_EXAMPLES)]
    path = write_jsonl(tmp_path, rows)

    assert where(validate(path)) == {(n, "legacy_no_leading_space") for n in range(1, GOOD_EXAMPLES + 1)}
    assert validate(path, leading_space=False).findings == ()


@pytest.mark.parametrize(
    "texts, expected",
    [
        (["a?\n\n###\n\n", "b.\n\n###\n\n", "cc\n\n###\n\n"], "\n\n###\n\n"),
        ([f"q {i} installed?\n\n###\n\n" for i in range(10)], "\n\n###\n\n"),  # common words are not separator
        ([f"q {i}?\n\n###\n\n" for i in range(9)] + ["q 9?"], "\n\n###\n\n"),  # one outlier in ten
        ([f"q {i}?\n\n###\n\n" for i in range(8)] + ["q 8?", "q 9?"], ""),  # two are too many
        ([f"q {i}?" for i in range(10)], ""),  # a question mark is not a separator
        ([], ""),
    ],
)
def test_infer_common_suffix(texts, expected):
    assert infer_common_suffix(texts) == expected


# ---------------------------------------------------------------- the pipeline's entry points


@pytest.mark.parametrize(
    "question, answer",
    [
        ("What is the flood threshold?", "4.2 metres."),
        ("Explain how the gauge is read.", "It is read every six hours."),
        ("list the closures", "The lower quay closes to vehicles."),
        ("¿Cuándo se instaló el mareógrafo?", "En 1964."),
        ("Is the gauge automatic", "No, it is read by hand."),
    ],
)
def test_usable_pairs_pass(question, answer):
    assert [finding.code for finding in pair_text_findings(question, answer)] == []


@pytest.mark.parametrize(
    "question, answer, reasons",
    [
        (" ", "In 1964.", ["empty_text"]),
        ("The tide gauge.", "In 1964.", ["not_a_question"]),
        ("When was it installed?", " \n", ["empty_answer"]),
        ("When was it installed?", "When was it installed", ["answer_repeats_question"]),
        ("When was {{ name }} installed?", "In 1964.", ["template_leftover"]),
        ("When was it installed?", '{"answer": "In 1964."}', ["json_leftover"]),
        ("When was it installed?", "```json\nIn 1964.", ["json_leftover"]),
        ("Describe {passage}", "In 1964.", ["template_leftover"]),
    ],
)
def test_unusable_pairs_give_their_reasons(question, answer, reasons):
    assert [finding.code for finding in pair_text_findings(question, answer)] == reasons


def test_examples_written_by_dataset_formats_pass():
    pairs = [
        Pair(id=str(i), question=f"When was gauge {i} installed?", answer=f"In {1950 + i}.", source="a.md", chunk_id="c")
        for i in range(GOOD_EXAMPLES)
    ]
    chat = ExampleFormat(kind="chat", system_message="You answer questions.")
    legacy = ExampleFormat(kind="completion")

    assert [check_chat_example(chat.example(p), count_tokens=count_words) for p in pairs] == [[]] * GOOD_EXAMPLES
    rows = [legacy.example(p) for p in pairs]
    assert check_completion_examples(rows, separator=legacy.separator, stop=legacy.stop) == []


def test_check_chat_example_carries_the_given_line():
    findings = check_chat_example({"messages": "no"}, count_tokens=count_words, line=7)

    assert [(f.line, f.code, f.severity) for f in findings] == [(7, "missing_messages_list", "error")]


def test_check_completion_examples_counts_examples_and_numbers_lines():
    rows = [legacy_example(i) for i in range(3)]
    rows[1] = {**rows[1], "completion": "no space END"}

    findings = check_completion_examples(rows, separator="\n\n###\n\n", stop=" END", line_numbers=[10, 20, 30])

    assert [(f.line, f.code) for f in findings] == [(None, "too_few_examples"), (20, "legacy_no_leading_space")]


def test_chat_tokens_add_framing_to_role_content_and_name():
    messages = [{"role": "user", "name": "ana", "content": "q?"}, {"role": "assistant", "content": "a b c"}]

    # priming 3 + user (3 + role 1 + content 1 + name 1 + name framing 1) + assistant (3 + 1 + 3)
    assert count_chat_tokens(messages, count_words) == 3 + 7 + 7


# ---------------------------------------------------------------- statistics and estimate


def test_token_stats_use_interpolated_percentiles():
    stats = TokenStats.of([10, 1, 2, 3, 4, 5, 6, 7, 8, 9])

    assert (stats.min, stats.max, stats.total) == (1, 10, 55)
    assert stats.mean == pytest.approx(5.5)
    assert stats.p50 == pytest.approx(5.5)
    assert stats.p90 == pytest.approx(9.1)
    assert TokenStats.of([]) is None


@pytest.mark.parametrize(
    "examples, epochs",
    [
        (1, 25),  # 100 // 1 capped at 25
        (4, 25),
        (5, 20),
        (20, 5),
        (25, 4),
        (33, 3),  # 99 < 100: 100 // 33
        (34, 3),  # 102 >= 100: the default
        (50, 3),
        (8333, 3),  # 24999 <= 25000: the default
        (8334, 2),  # 25002 > 25000: 25000 // 8334
        (12500, 2),
        (25000, 1),
        (30000, 1),  # floor of 1
    ],
)
def test_default_epochs(examples, epochs):
    assert estimate_finetune([10] * examples).n_epochs == epochs


def test_billed_tokens_count_each_example_up_to_the_limit():
    estimate = estimate_finetune([100, 20_000], limit=16_385)

    assert estimate.n_epochs == 25
    assert estimate.tokens_per_epoch == 100 + 16_385
    assert estimate.billed_tokens == 25 * (100 + 16_385)
    assert estimate.truncated_examples == 1


def test_no_examples_means_no_training():
    assert estimate_finetune([]).billed_tokens == 0


# ---------------------------------------------------------------- the text summary


def test_render_lists_codes_line_numbers_and_verdict(tmp_path):
    rows: list[object] = [chat_example(i) for i in range(GOOD_EXAMPLES)]
    rows[2] = rows[3] = rows[6] = "{broken"
    rows[8] = without(0)(chat_example(8))

    text = render_report(validate(write_jsonl(tmp_path, rows)))

    assert "invalid_json: 3 (lines 3-4, 7)" in text
    assert "example_missing_system_message: 1 (line 9)" in text
    assert "line 7: error: the line is not valid JSON" in text
    assert "tokens per example: min " in text
    assert text.splitlines()[-1] == "verdict: NOT READY, fix 3 errors before uploading (1 warning)."


def test_render_of_a_clean_legacy_file_shows_separator_and_ok(tmp_path):
    text = render_report(validate(write_jsonl(tmp_path, [legacy_example(i) for i in range(GOOD_EXAMPLES)])))

    assert 'separator "\\n\\n###\\n\\n", stop sequence " END"' in text
    assert "fine-tuning estimate: 8 epochs" in text
    assert text.splitlines()[-1] == f"verdict: OK, ready to upload ({GOOD_EXAMPLES} examples, no errors)."


def test_render_caps_the_problems_listed(tmp_path):
    rows: list[object] = [chat_example(i) if i % 2 else "{broken" for i in range(60)]

    text = render_report(validate(write_jsonl(tmp_path, rows)), max_lines=5)

    assert "invalid_json: 30 (lines 1, 3, 5, 7, 9, 11, 13, 15 and 22 more)" in text
    assert sum(line.startswith("  line ") for line in text.splitlines()) == 5
    assert "  ... and 25 more" in text
    assert "file: error" not in text
