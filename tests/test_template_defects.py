"""Chat templates that fail at run time, their request parameters, include/import, the
template-leftover check on documents about templating, and blank system/refusal settings."""

from __future__ import annotations

import json
from pathlib import Path

import jinja2
import pytest

import qagen
from fake_openai import chat_reply
from helpers import CORPUS, read_jsonl
from qagen.cli import main
from qagen.dataset.checks import check_chat_example, check_completion_examples, pair_text_findings
from qagen.errors import ConfigError, TemplateError
from qagen.llm.templates import MAX_RENDERED_CHARS, load_template
from qagen.settings import Settings

GOOD_USER = "Passage: {{ info }}\nWrite {{ n }} pairs."


def write_template(folder: Path, content: str = GOOD_USER, *, params: dict | None = None, name: str = "mine.json") -> Path:
    path = folder / name
    body: dict = {"messages": [{"role": "user", "content": content}]}
    if params is not None:
        body["params"] = params
    path.write_text(json.dumps(body), encoding="utf-8")
    return path


def run_with_server(tmp_path: Path, fake_openai, *extra: str) -> int:
    return main([str(CORPUS / "fleet.txt"), "--base-url", fake_openai.url, "--model", "m", "-o", str(tmp_path / "o"), "-q", *extra])


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "Traceback" not in err
    return lines[0]


# --------------------------------------------------------------------------- 7: errors while rendering


@pytest.mark.parametrize(
    "body, problem",
    [
        ("{{ 1/0 }}", "division by zero"),
        ('{{ n + "a" }}', "unsupported operand"),
        ("{% for i in range(10**9) %}x{% endfor %}", "range"),
        ("{{ 2 ** 1000000 }}", "power"),
        ('{{ "ab" * 100000000 }}', "characters"),
        ("{{ info.startswith(1) }}", "startswith"),
    ],
)
def test_a_template_that_fails_to_render_is_one_sentence_and_spends_no_request(
    tmp_path: Path, fake_openai, capsys, body: str, problem: str
) -> None:
    template = write_template(tmp_path, GOOD_USER + body)
    assert run_with_server(tmp_path, fake_openai, "--template", str(template)) == 1
    line = one_error_line(capsys.readouterr().err)
    assert str(template) in line and problem in line
    assert fake_openai.chat_requests() == []


def test_a_judge_template_that_fails_on_the_first_chunk_stops_the_run_before_any_request(tmp_path: Path, fake_openai, capsys) -> None:
    judge = write_template(tmp_path, "{{ passage }} {{ pairs }} {{ 1/0 }}", name="judge.json")
    assert run_with_server(tmp_path, fake_openai, "--judge", "--judge-template", str(judge), "--idk-ratio", "0") == 1
    line = one_error_line(capsys.readouterr().err)
    assert str(judge) in line and "division by zero" in line
    assert fake_openai.chat_requests() == []


def test_an_idk_template_that_fails_on_the_first_chunk_stops_the_run_before_any_request(tmp_path: Path, fake_openai, capsys) -> None:
    idk = write_template(tmp_path, "{{ excerpts }} {{ n }} {{ avoid.nope() }}", name="idk.json")
    assert run_with_server(tmp_path, fake_openai, "--idk-template", str(idk)) == 1
    line = one_error_line(capsys.readouterr().err)
    assert str(idk) in line and "nope" in line
    assert fake_openai.chat_requests() == []


def test_the_sandbox_limits_are_hit_at_once_and_named(tmp_path: Path) -> None:
    template = load_template(write_template(tmp_path, GOOD_USER + "{{ 'x' * limit }}"))
    assert len(template.render(info="a", n=1, limit=100)[0].content) > 100  # small repeats are fine
    with pytest.raises(TemplateError, match="characters"):
        template.render(info="a", n=1, limit=MAX_RENDERED_CHARS + 1)
    looping = load_template(write_template(tmp_path, GOOD_USER + "{% for i in range(99999) %}{{ info }}{% endfor %}"))
    with pytest.raises(TemplateError, match="characters"):
        looping.render(info="y" * 1000, n=1)  # 100 MB of output: stopped once past the limit


def test_a_render_error_names_the_message_and_line(tmp_path: Path) -> None:
    template = load_template(write_template(tmp_path, "Passage: {{ info }}\n\nWrite {{ n }} pairs.\n{{ 1/0 }}"))
    with pytest.raises(TemplateError) as caught:
        template.render(info="a", n=1)
    assert "message 1" in str(caught.value) and "line 4" in str(caught.value)


@pytest.mark.parametrize(
    "params, words",
    [
        ({"temperature": "hot"}, ["temperature", "number from 0 to 2", '(got "hot")']),
        ({"temperature": 2.5}, ["temperature", "number from 0 to 2"]),
        ({"temperature": True}, ["temperature", "number"]),
        ({"top_p": 1.5}, ["top_p", "number from 0 to 1"]),
        ({"max_tokens": 0}, ["max_tokens", "whole number of at least 1"]),
        ({"max_tokens": 1.5}, ["max_tokens", "whole number"]),
        ({"max_tokens": True}, ["max_tokens", "whole number"]),
        ({"max_completion_tokens": "100"}, ["max_completion_tokens", "whole number"]),
        ({"presence_penalty": -3}, ["presence_penalty", "number from -2 to 2"]),
        ({"frequency_penalty": "x"}, ["frequency_penalty", "number from -2 to 2"]),
        ({"seed": 1.5}, ["seed", "whole number"]),
        ({"stop": 5}, ["stop", "text or a list of up to 4 texts"]),
        ({"stop": ["a", 1]}, ["stop", "text or a list"]),
        ({"stop": ["a", "b", "c", "d", "e"]}, ["stop", "up to 4"]),
        ({"response_format": "json"}, ["response_format", "object"]),
        ({"response_format": {"type": "yaml"}}, ["response_format", "json_object"]),
        ({"response_format": {"type": "json_schema"}}, ["response_format", "json_schema"]),
    ],
)
def test_template_params_of_the_wrong_type_or_range_are_refused(tmp_path: Path, fake_openai, capsys, params: dict, words: list[str]) -> None:
    template = write_template(tmp_path, params=params)
    assert run_with_server(tmp_path, fake_openai, "--template", str(template)) == 1
    line = one_error_line(capsys.readouterr().err)
    assert str(template) in line
    for word in words:
        assert word in line
    assert fake_openai.chat_requests() == []


def test_json_nan_is_not_a_temperature(tmp_path: Path) -> None:
    path = tmp_path / "nan.json"
    path.write_text('{"params": {"temperature": NaN}, "messages": [{"role": "user", "content": "{{ info }} {{ n }}"}]}')
    with pytest.raises(TemplateError, match="temperature"):
        load_template(path)


def test_valid_template_params_are_sent_as_written(tmp_path: Path, fake_openai) -> None:
    params = {
        "temperature": 0, "top_p": 1, "max_tokens": 300, "presence_penalty": -2, "frequency_penalty": 1.5, "seed": -7,
        "stop": ["\n\n\n", "END"], "response_format": {"type": "json_object"},
    }
    template = write_template(tmp_path, params=params)
    assert run_with_server(tmp_path, fake_openai, "--template", str(template), "--idk-ratio", "0") == 0
    body = fake_openai.chat_requests()[0].json
    assert {key: body[key] for key in params} == params


# --------------------------------------------------------------------------- 26: include, import, extends


@pytest.mark.parametrize(
    "tag, word",
    [
        ('{% include "other.txt" %}', "include"),
        ('{% import "macros.txt" as m %}', "import"),
        ('{% from "macros.txt" import box %}', "import"),
        ('{% extends "base.txt" %}', "extends"),
    ],
)
def test_include_import_and_extends_are_refused_when_the_template_loads(
    tmp_path: Path, fake_openai, capsys, tag: str, word: str
) -> None:
    (tmp_path / "other.txt").write_text("more")
    template = write_template(tmp_path, GOOD_USER + tag)
    assert run_with_server(tmp_path, fake_openai, "--template", str(template)) == 1
    line = one_error_line(capsys.readouterr().err)
    assert str(template) in line and word in line and "one file" in line
    assert fake_openai.chat_requests() == []
    with pytest.raises(TemplateError, match=word):
        load_template(template)


# --------------------------------------------------------------------------- 8: template syntax quoted from the chunk

JINJA_DOC = (
    "Jinja prints a variable with double braces, as in {{ user.name }}, and runs statements such as "
    "{% for item in items %} between brace-percent marks. The harbour office uses it for its notices."
)


def test_quoting_template_syntax_that_the_chunk_holds_is_not_a_leftover() -> None:
    answer = "Write {{ user.name }} to print the user's name."
    assert pair_text_findings("How does Jinja print a variable?", answer, source=JINJA_DOC) == []
    assert pair_text_findings("What does {% for item in items %} do?", "It loops over items.", source=JINJA_DOC) == []
    assert pair_text_findings("How is it written?", "With {{user.name}}, spaces aside.", source=JINJA_DOC) == []


def test_template_syntax_the_chunk_does_not_hold_is_still_a_leftover() -> None:
    codes = [f.code for f in pair_text_findings("When was it installed?", "In {{ year }}.", source=JINJA_DOC)]
    assert codes == ["template_leftover"]
    assert [f.code for f in pair_text_findings("When was it installed?", "In {{ year }}.")] == ["template_leftover"]
    assert [f.code for f in pair_text_findings("What is it?", "It is <|im_end|>", source=JINJA_DOC)] == ["template_leftover"]


def test_example_checks_accept_syntax_from_the_source_but_not_in_the_system_message() -> None:
    example = {"messages": [
        {"role": "system", "content": "Answer {{ user.name }}."},
        {"role": "user", "content": "How does Jinja print a variable?"},
        {"role": "assistant", "content": "Write {{ user.name }} to print it."},
    ]}
    codes = [f.code for f in check_chat_example(example, count_tokens=len, source=JINJA_DOC)]
    assert codes.count("template_leftover") == 1  # the system message's, which no document explains
    completions = [{"prompt": "How does Jinja print a variable?\n\n###\n\n", "completion": " Write {{ user.name }}. END"}] * 10
    found = check_completion_examples(completions, separator="\n\n###\n\n", stop=" END", sources=[JINJA_DOC] * 10)
    assert [f.code for f in found] == ["duplicate_example"] * 9
    assert "template_leftover" in [f.code for f in check_completion_examples(completions, separator="\n\n###\n\n", stop=" END")]


def test_a_pair_quoting_the_template_syntax_of_its_chunk_is_kept(tmp_path: Path, fake_openai) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "jinja.md").write_text(JINJA_DOC, encoding="utf-8")
    line = {"question": "How does Jinja print a variable such as the user's name?",
            "answer": "Jinja prints a variable with double braces, as in {{ user.name }}."}
    fake_openai.queue(chat_reply(json.dumps(line)))
    code = main([str(docs), "--base-url", fake_openai.url, "--model", "m", "--idk-ratio", "0", "-o", str(tmp_path / "o"), "-q"])
    assert code == 0
    assert [p["answer"] for p in read_jsonl(tmp_path / "o" / "pairs.jsonl")] == [line["answer"]]
    assert read_jsonl(tmp_path / "o" / "rejects.jsonl") == []


# --------------------------------------------------------------------------- 14: blank system message and refusals


@pytest.mark.parametrize("value", ["", "   ", "\n\t"])
def test_a_blank_system_message_flag_is_refused_with_the_way_to_have_none(tmp_path: Path, capsys, value: str) -> None:
    assert main([str(CORPUS), "-o", str(tmp_path / "o"), "-q", "--system", value]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "--system" in line and "--no-system" in line
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("values", [[""], ["  "], ["I don't know.", ""], ["I don't know.", " \t "]])
def test_a_blank_refusal_flag_is_refused_with_the_way_to_have_no_idk_examples(tmp_path: Path, capsys, values: list[str]) -> None:
    flags = [part for value in values for part in ("--refusal", value)]
    assert main([str(CORPUS), "-o", str(tmp_path / "o"), "-q", *flags]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "--refusal" in line and "--idk-ratio 0" in line


@pytest.mark.parametrize(
    "name, value, words",
    [
        ("QAGEN_SYSTEM", "", ["QAGEN_SYSTEM", "no_system"]),
        ("QAGEN_SYSTEM", "  ", ["QAGEN_SYSTEM", "no_system"]),
        ("QAGEN_REFUSAL", "I don't know.||Not covered.", ["QAGEN_REFUSAL", "idk_ratio"]),
        ("QAGEN_REFUSAL", " | ", ["QAGEN_REFUSAL", "idk_ratio"]),
        ("QAGEN_REFUSAL", "", ["QAGEN_REFUSAL", "idk_ratio"]),
    ],
)
def test_blank_values_in_the_environment_are_refused(tmp_path: Path, capsys, monkeypatch, name: str, value: str, words: list[str]) -> None:
    monkeypatch.setenv(name, value)
    assert main([str(CORPUS), "-o", str(tmp_path / "o"), "-q"]) == 2
    line = one_error_line(capsys.readouterr().err)
    for word in words:
        assert word in line


@pytest.mark.parametrize("text", ['system = ""', 'system = "  "', 'refusal = ["Not covered.", ""]', 'refusal = " "'])
def test_blank_values_in_a_config_file_are_refused(tmp_path: Path, capsys, text: str) -> None:
    config = tmp_path / "qagen.toml"
    config.write_text(text + "\n")
    assert main([str(CORPUS), "-o", str(tmp_path / "o"), "-q", "--config", str(config)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert str(config) in line and ("no_system" in line or "idk_ratio" in line)


def test_blank_values_given_to_the_library_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no_system"):
        qagen.generate(CORPUS, out=tmp_path / "o", system="")
    with pytest.raises(ConfigError, match="idk_ratio"):
        qagen.generate(CORPUS, out=tmp_path / "o", refusal=["Not covered.", ""])
    with pytest.raises(ConfigError, match="refusals"):
        Settings(corpus=CORPUS, refusals=("Not covered.", " "))
    with pytest.raises(ConfigError, match="system"):
        Settings(corpus=CORPUS, system_message=" ")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("how", ["flag", "environment", "config", "library"])
def test_no_system_is_the_way_to_write_examples_without_a_system_message(tmp_path: Path, monkeypatch, how: str) -> None:
    out = tmp_path / "o"
    argv = [str(CORPUS), "-o", str(out), "-q"]
    if how == "flag":
        assert main(argv + ["--no-system"]) == 0
    elif how == "environment":
        monkeypatch.setenv("QAGEN_NO_SYSTEM", "1")
        assert main(argv) == 0
    elif how == "config":
        (tmp_path / "qagen.toml").write_text("no_system = true\n")
        assert main(argv + ["--config", str(tmp_path / "qagen.toml")]) == 0
    else:
        qagen.generate(CORPUS, out=out, no_system=True)
    rows = read_jsonl(out / "train.jsonl")
    assert rows and all([m["role"] for m in row["messages"]] == ["user", "assistant"] for row in rows)
    assert json.loads((out / "report.json").read_text())["settings"]["no_system"] is True


def test_messages_without_tags_are_rendered_once_exactly_as_jinja_renders_them(tmp_path: Path) -> None:
    # The fixed messages are rendered when the template loads; each must read as a fresh render would,
    # line endings rewritten and JSON braces kept, while a message with a tag still varies per call.
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"messages": [
        {"role": "system", "content": "Rules.\r\nKeep {braces} and } alone.\r\n"},
        {"role": "assistant", "content": '{"question": "Q?", "answer": "A."}'},
        {"role": "user", "content": "{# note #}{{ info }} ({{ n }})"},
    ]}), encoding="utf-8")
    template = load_template(path)
    first = template.render(info="one", n=1)
    second = template.render(info="two", n=2)
    fresh = load_template(path).messages
    reference = [jinja2.Environment(keep_trailing_newline=True).from_string(m.content).render(info="two", n=2) for m in fresh]
    assert [m.content for m in second] == reference
    assert first[0].content == "Rules.\nKeep {braces} and } alone.\n" and first[2].content == "one (1)"
