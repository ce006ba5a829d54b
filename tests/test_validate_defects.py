"""``qagen validate`` on chat data with tools, function calls and several turns: valid shapes pass, broken ones are named."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from qagen.cli import main
from qagen.dataset.checks import SEVERITY, WARNING
from test_validate import GOOD_EXAMPLES, PLANTED_LINE, count_words, planted, validate, where, write_jsonl

LOOKUP = {
    "type": "function",
    "function": {
        "name": "lookup_gauge",
        "description": "Look up when a gauge was installed.",
        "parameters": {"type": "object", "properties": {"gauge": {"type": "integer"}}, "required": ["gauge"]},
    },
}


def tool_example(i: int) -> dict:
    """A question answered after one tool call, as the chat fine-tuning format writes it."""
    call_id = f"call_{i}"
    return {
        "messages": [
            {"role": "system", "content": "You answer questions about gauges."},
            {"role": "user", "content": f"When was gauge {i} installed?"},
            {"role": "assistant", "tool_calls": [
                {"id": call_id, "type": "function", "function": {"name": "lookup_gauge", "arguments": json.dumps({"gauge": i})}},
            ]},
            {"role": "tool", "tool_call_id": call_id, "content": json.dumps({"installed": 1950 + i})},
            {"role": "assistant", "content": f"Gauge {i} was installed in {1950 + i}.", "weight": 1},
        ],
        "tools": [LOOKUP],
        "parallel_tool_calls": False,
    }


def function_example(i: int) -> dict:
    """The older shape of the same: ``function_call``, a ``function`` message and a top-level ``functions`` list."""
    return {
        "messages": [
            {"role": "system", "content": "You answer questions about gauges."},
            {"role": "user", "content": f"When was gauge {i} installed?"},
            {"role": "assistant", "function_call": {"name": "lookup_gauge", "arguments": json.dumps({"gauge": i})}},
            {"role": "function", "name": "lookup_gauge", "content": json.dumps({"installed": 1950 + i})},
            {"role": "assistant", "content": f"Gauge {i} was installed in {1950 + i}."},
        ],
        "functions": [LOOKUP["function"]],
    }


def multi_turn_example(i: int) -> dict:
    return {
        "messages": [
            {"role": "system", "content": "You answer questions about gauges."},
            {"role": "user", "content": f"I am looking at gauge {i} on the east wall."},
            {"role": "assistant", "content": "Happy to help with it. What would you like to know?"},
            {"role": "user", "content": "The year it went in, please."},
            {"role": "assistant", "content": f"Gauge {i} was installed in {1950 + i}.", "weight": 0},
            {"role": "user", "content": "Thanks, that settles it."},
            {"role": "assistant", "content": "You are welcome."},
        ]
    }


# ---------------------------------------------------------------- valid data passes


@pytest.mark.parametrize("make", [tool_example, function_example, multi_turn_example])
def test_valid_chat_data_has_no_findings(tmp_path, make: Callable[[int], dict]) -> None:
    report = validate(write_jsonl(tmp_path, [make(i) for i in range(GOOD_EXAMPLES)]))
    assert report.format == "chat" and report.findings == () and report.ok


def test_a_tool_call_with_null_or_empty_content_is_valid(tmp_path) -> None:
    def content(value: object) -> Callable[[dict], dict]:
        def change(row: dict) -> dict:
            row["messages"][2]["content"] = value
            return row
        return change

    for value in (None, ""):
        report = validate(write_jsonl(tmp_path, planted(tool_example, content(value))))
        assert report.findings == (), value


def test_tool_calls_and_tool_definitions_count_as_tokens(tmp_path) -> None:
    plain = tool_example(1)
    plain.pop("tools")
    with_tools = validate(write_jsonl(tmp_path, [tool_example(1)] * GOOD_EXAMPLES, "a.jsonl")).tokens
    without_tools = validate(write_jsonl(tmp_path, [plain] * GOOD_EXAMPLES, "b.jsonl")).tokens
    assert with_tools.max - without_tools.max == count_words(json.dumps([LOOKUP], ensure_ascii=False))
    calling, answer = plain["messages"][2], plain["messages"][3]
    no_call = dict(plain, messages=[m for m in plain["messages"] if m not in (calling, answer)])
    shorter = validate(write_jsonl(tmp_path, [no_call] * GOOD_EXAMPLES, "c.jsonl")).tokens
    # each message: 3 of framing and its role (one word here), then the call as JSON text, or the content
    call_tokens = 3 + 1 + count_words(json.dumps(calling["tool_calls"], ensure_ascii=False))
    assert without_tools.max - shorter.max == call_tokens + 3 + 1 + count_words(answer["content"])


def test_the_validate_command_accepts_tool_data(tmp_path, capsys) -> None:
    path = write_jsonl(tmp_path, [tool_example(i) for i in range(GOOD_EXAMPLES)])
    assert main(["validate", str(path)]) == 0
    assert "verdict: OK" in capsys.readouterr().out


# ---------------------------------------------------------------- the question warning in conversations


def test_in_a_conversation_no_user_turn_is_warned_as_not_a_question(tmp_path) -> None:
    report = validate(write_jsonl(tmp_path, [multi_turn_example(i) for i in range(GOOD_EXAMPLES)]))
    assert "not_a_question" not in {f.code for f in report.findings}


def test_an_example_that_uses_tools_is_not_warned_as_not_a_question(tmp_path) -> None:
    def request(row: dict) -> dict:
        row["messages"][1]["content"] = "Look up gauge four for me."
        return row

    assert validate(write_jsonl(tmp_path, planted(tool_example, request))).findings == ()


def test_a_single_question_and_answer_still_gets_the_warning(tmp_path) -> None:
    from test_validate import chat_example, with_message

    report = validate(write_jsonl(tmp_path, planted(chat_example, with_message(1, content="Gauge four installation"))))
    assert where(report) == {(PLANTED_LINE, "not_a_question")}


def test_conversation_turns_are_still_checked_for_leftovers_and_empty_text(tmp_path) -> None:
    def spoil(row: dict) -> dict:
        row["messages"][3]["content"] = "{{ follow_up }}"
        row["messages"][5]["content"] = " "
        return row

    report = validate(write_jsonl(tmp_path, planted(multi_turn_example, spoil)))
    assert where(report) == {(PLANTED_LINE, "template_leftover"), (PLANTED_LINE, "empty_text")}


# ---------------------------------------------------------------- broken shapes are named


def message(index: int, **fields) -> Callable[[dict], dict]:
    def change(row: dict) -> dict:
        for key, value in fields.items():
            if value is DELETE:
                del row["messages"][index][key]
            else:
                row["messages"][index][key] = value
        return row

    return change


def call(**fields) -> Callable[[dict], dict]:
    def change(row: dict) -> dict:
        made = row["messages"][2]["tool_calls"][0]
        for key, value in fields.items():
            target = made["function"] if key in ("name", "arguments") else made
            if value is DELETE:
                del target[key]
            else:
                target[key] = value
        return row

    return change


def example(**fields) -> Callable[[dict], dict]:
    return lambda row: {**row, **fields}


DELETE = object()

TOOL_DEFECTS = {
    # the tool message then answers a call that was not made
    "tool_calls_not_a_list": (message(2, tool_calls={"id": "call_4"}), {"invalid_tool_calls", "unknown_tool_call_id"}),
    "tool_calls_empty": (message(2, tool_calls=[]), {"invalid_tool_calls", "unknown_tool_call_id"}),
    "call_without_id": (call(id=DELETE), {"invalid_tool_calls", "unknown_tool_call_id"}),
    "call_of_another_type": (call(type="retrieval"), {"invalid_tool_calls"}),
    "call_arguments_not_text": (call(arguments={"gauge": 4}), {"invalid_tool_calls"}),
    "call_arguments_not_json": (call(arguments="gauge=4"), {"invalid_tool_calls"}),
    "call_without_name": (call(name=DELETE), {"invalid_tool_calls"}),
    "call_of_an_undeclared_tool": (call(name="read_meter"), {"unknown_tool"}),
    "tool_message_without_call_id": (message(3, tool_call_id=DELETE), {"message_missing_key"}),
    "tool_message_answering_no_call": (message(3, tool_call_id="call_other"), {"unknown_tool_call_id"}),
    "tool_message_without_content": (message(3, content=DELETE), {"message_missing_key", "missing_content"}),
    "assistant_without_content_or_call": (message(2, tool_calls=DELETE), {"message_missing_key", "missing_content", "unknown_tool_call_id"}),
    "tool_call_id_on_a_user_message": (message(1, tool_call_id="call_4"), {"message_unrecognized_key"}),
    "tool_calls_on_a_user_message": (message(1, tool_calls=[]), {"message_unrecognized_key"}),
    "tools_not_a_list": (example(tools=LOOKUP), {"invalid_tools"}),
    "tool_of_another_type": (example(tools=[{"type": "retrieval"}]), {"invalid_tools", "unknown_tool"}),
    "tool_without_a_name": (example(tools=[{"type": "function", "function": {"description": "x"}}]), {"invalid_tools", "unknown_tool"}),
    "tool_parameters_not_an_object": (example(tools=[{"type": "function", "function": {"name": "lookup_gauge", "parameters": "gauge"}}]), {"invalid_tools"}),
    "parallel_tool_calls_not_a_boolean": (example(parallel_tool_calls="no"), {"invalid_parallel_tool_calls"}),
    "weight_on_a_tool_call": (message(2, weight=0.5), {"invalid_weight"}),
}


@pytest.mark.parametrize("change, codes", TOOL_DEFECTS.values(), ids=TOOL_DEFECTS.keys())
def test_planted_tool_defect_is_reported_on_its_line(tmp_path, change, codes) -> None:
    report = validate(write_jsonl(tmp_path, planted(tool_example, change)))
    assert where(report) == {(PLANTED_LINE, code) for code in codes}


FUNCTION_DEFECTS = {
    "function_call_not_an_object": (message(2, function_call="lookup_gauge"), {"invalid_function_call"}),
    "function_call_without_name": (message(2, function_call={"arguments": "{}"}), {"invalid_function_call"}),
    "function_message_without_name": (message(3, name=DELETE), {"message_missing_key"}),
    "functions_not_a_list": (example(functions={"name": "lookup_gauge"}), {"invalid_tools"}),
    "call_of_an_undeclared_function": (message(2, function_call={"name": "read_meter", "arguments": "{}"}), {"unknown_tool"}),
}


@pytest.mark.parametrize("change, codes", FUNCTION_DEFECTS.values(), ids=FUNCTION_DEFECTS.keys())
def test_planted_function_defect_is_reported_on_its_line(tmp_path, change, codes) -> None:
    report = validate(write_jsonl(tmp_path, planted(function_example, change)))
    assert where(report) == {(PLANTED_LINE, code) for code in codes}


def test_an_undeclared_tool_is_a_warning_and_a_broken_shape_an_error() -> None:
    assert SEVERITY["unknown_tool"] == WARNING
    assert all(SEVERITY[code] == "error" for code in (
        "invalid_tool_calls", "invalid_function_call", "invalid_tools", "invalid_parallel_tool_calls", "unknown_tool_call_id",
    ))
