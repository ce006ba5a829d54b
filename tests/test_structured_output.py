"""Structured output: the built-in templates ask for a JSON schema, and a run falls back once where it is refused.

Against the scripted server of ``tests/fake_openai.py``, through ``qagen.cli.main``: what each
request carries in ``response_format``, what a refusal costs (one request, not one per chunk),
the one line that says so, and ``--no-structured-output``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from fake_openai import chat_reply, error_reply
from helpers import CORPUS, read_jsonl

from qagen.cli import main
from qagen.llm.offline.model import OfflineModel
from qagen.llm.templates import builtin_template_path, load_template
from qagen.records import Message, Request

BUILTIN = ("qa", "idk", "idk_check", "judge", "eval_judge")


def _run(fake_openai, out: Path, *extra: str, corpus: Path = CORPUS) -> int:
    return main([str(corpus), "--base-url", fake_openai.url, "--model", "m", "--idk-ratio", "0", "-o", str(out), *extra])


def _formats(fake_openai) -> list[str | None]:
    return [(r.json.get("response_format") or {}).get("type") for r in fake_openai.chat_requests()]


# --------------------------------------------------------------------------- the built-in templates


def _strict_problems(schema: dict, where: str = "schema") -> list[str]:
    """Where a schema leaves OpenAI's strict subset: every object lists all its properties as required, and no others."""
    problems = []
    if schema.get("type") == "object":
        if schema.get("additionalProperties") is not False:
            problems.append(f"{where} allows additional properties")
        if sorted(schema.get("required", [])) != sorted(schema.get("properties", {})):
            problems.append(f"{where} does not require every property")
    for name, child in schema.get("properties", {}).items():
        problems += _strict_problems(child, f"{where}.{name}")
    if isinstance(schema.get("items"), dict):
        problems += _strict_problems(schema["items"], f"{where}[]")
    return problems


def _fits(value: object, schema: dict) -> bool:
    """Whether ``value`` fits the few schema keywords the built-in templates use."""
    kind = schema.get("type")
    if "enum" in schema and value not in schema["enum"]:
        return False
    if kind == "object":
        return (isinstance(value, dict) and set(value) == set(schema["properties"])
                and all(_fits(value[k], s) for k, s in schema["properties"].items()))
    if kind == "array":
        return (isinstance(value, list) and schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", len(value))
                and all(_fits(item, schema["items"]) for item in value))
    return {"string": str, "boolean": bool, "integer": int}[kind] is type(value)


@pytest.mark.parametrize("name", BUILTIN)
def test_every_builtin_template_asks_for_a_strict_json_schema_its_examples_fit(name: str) -> None:
    template = load_template(builtin_template_path(name))
    response_format = template.params["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["strict"] is True
    schema = response_format["json_schema"]["schema"]
    assert _strict_problems(schema) == []
    examples = [m.content for m in template.messages if m.role == "assistant"]
    assert examples
    for example in examples:
        reply = json.loads(example)
        lists = [v for v in reply.values() if isinstance(v, list)]
        count = len(lists[0]) if lists else None
        assert _fits(reply, template.request_params(count)["response_format"]["json_schema"]["schema"]), example


def test_the_count_asked_pins_the_list_of_a_schema_unless_the_template_pins_it() -> None:
    template = load_template(builtin_template_path("qa"))
    pinned = template.request_params(4)["response_format"]["json_schema"]["schema"]["properties"]["pairs"]
    assert (pinned["minItems"], pinned["maxItems"]) == (4, 4)
    assert "minItems" not in template.params["response_format"]["json_schema"]["schema"]["properties"]["pairs"]  # the template is not changed


# --------------------------------------------------------------------------- against a server


def test_generation_requests_ask_for_the_schema_with_the_pair_count(tmp_path: Path, fake_openai) -> None:
    fake_openai.honour_response_format = True
    assert _run(fake_openai, tmp_path / "o", "-n", "3") == 0
    requests = fake_openai.chat_requests()
    assert requests
    for request in requests:
        response_format = request.json["response_format"]
        assert response_format["type"] == "json_schema" and response_format["json_schema"]["strict"] is True
        pairs = response_format["json_schema"]["schema"]["properties"]["pairs"]
        assert (pairs["minItems"], pairs["maxItems"]) == (3, 3)
    assert read_jsonl(tmp_path / "o" / "pairs.jsonl")  # the {"pairs": [...]} replies are read


def test_a_refused_schema_falls_back_to_json_object_once_for_the_run(tmp_path: Path, fake_openai, capsys) -> None:
    fake_openai.response_formats = ("json_object", "text")
    assert _run(fake_openai, tmp_path / "o", "--concurrency", "4") == 0
    formats = _formats(fake_openai)
    assert formats[0] == "json_schema"  # refused: the only request that is
    assert formats[1:] and set(formats[1:]) == {"json_object"}
    assert len(formats) == len({json.loads(r.body)["messages"][-1]["content"] for r in fake_openai.chat_requests()}) + 1
    lines = [line for line in capsys.readouterr().err.splitlines() if "refused response_format" in line]
    assert len(lines) == 1 and "json_object" in lines[0] and "rest of the run" in lines[0]
    report = json.loads((tmp_path / "o" / "report.json").read_text("utf-8"))
    assert any("json_schema" in warning for warning in report["warnings"])


def test_a_server_refusing_both_json_formats_gets_plain_text(tmp_path: Path, fake_openai, capsys) -> None:
    fake_openai.response_formats = ()
    assert _run(fake_openai, tmp_path / "o", "--concurrency", "4") == 0
    formats = _formats(fake_openai)
    assert formats[:2] == ["json_schema", "json_object"]  # two refusals, of the first request
    assert formats[2:] and set(formats[2:]) == {None}  # no response_format at all from then on
    lines = [line for line in capsys.readouterr().err.splitlines() if "refused response_format" in line]
    assert len(lines) == 2 and "plain text" in lines[1]
    assert read_jsonl(tmp_path / "o" / "pairs.jsonl")


def test_no_structured_output_sends_no_response_format(tmp_path: Path, fake_openai, monkeypatch) -> None:
    monkeypatch.setenv("QAGEN_CACHE", "false")  # each run must reach the server to show what it sends
    assert _run(fake_openai, tmp_path / "flag", "--no-structured-output") == 0
    assert set(_formats(fake_openai)) == {None}
    fake_openai.requests.clear()
    monkeypatch.setenv("QAGEN_STRUCTURED_OUTPUT", "false")
    assert _run(fake_openai, tmp_path / "env") == 0
    assert set(_formats(fake_openai)) == {None}
    fake_openai.requests.clear()
    monkeypatch.delenv("QAGEN_STRUCTURED_OUTPUT")
    config = tmp_path / "qagen.toml"
    config.write_text("structured_output = false\n", "utf-8")
    assert _run(fake_openai, tmp_path / "config", "--config", str(config)) == 0
    assert set(_formats(fake_openai)) == {None}


def test_an_error_about_another_parameter_is_no_fallback(tmp_path: Path, fake_openai, capsys) -> None:
    fake_openai.queue(error_reply(400, "Invalid value for 'seed'", param="seed"))
    assert _run(fake_openai, tmp_path / "o") == 1
    assert len(fake_openai.chat_requests()) == 1
    assert "response_format" not in capsys.readouterr().err


def test_a_template_sets_its_own_response_format_or_none(tmp_path: Path, fake_openai) -> None:
    data = json.loads(builtin_template_path("qa").read_text("utf-8"))
    data["params"]["response_format"] = {"type": "json_object"}
    own = tmp_path / "own.json"
    own.write_text(json.dumps(data), "utf-8")
    assert _run(fake_openai, tmp_path / "a", "--template", str(own)) == 0
    assert set(_formats(fake_openai)) == {"json_object"}
    fake_openai.requests.clear()
    del data["params"]["response_format"]
    own.write_text(json.dumps(data), "utf-8")
    assert _run(fake_openai, tmp_path / "b", "--template", str(own)) == 0
    assert set(_formats(fake_openai)) == {None}


def test_an_empty_list_of_pairs_is_rejected_with_its_reason(tmp_path: Path, fake_openai) -> None:
    fake_openai.handler = lambda request: chat_reply('{"pairs":[]}')
    assert _run(fake_openai, tmp_path / "o", corpus=CORPUS / "fleet.txt") == 4  # nothing written
    rejects = read_jsonl(tmp_path / "o" / "rejects.jsonl")
    assert rejects and {r["reason"] for r in rejects} == {"empty_list"}


def test_a_runaway_reply_is_cut_to_the_pairs_asked_and_counted(tmp_path: Path, fake_openai) -> None:
    loop = [{"question": "How many crossings a day does the ferry make?", "answer": "Two."}] * 9
    fake_openai.handler = lambda request: chat_reply("\n".join(json.dumps(p) for p in loop), finish_reason="length")
    _run(fake_openai, tmp_path / "o", "-n", "3", corpus=CORPUS / "fleet.txt")
    report = json.loads((tmp_path / "o" / "report.json").read_text("utf-8"))
    chunks = len(fake_openai.chat_requests())
    assert report["stages"]["generate"]["dropped"]["runaway_reply"] == 8 * chunks


def test_the_offline_generator_writes_the_same_reply_whatever_format_is_asked() -> None:
    model = OfflineModel(lambda text: len(text.split()))
    passage = "The Tollan Ferry Company runs two crossings a day between Ardmoor and Fenwick Island, at 8 am and 4 pm."
    messages = (Message("user", passage),)
    template = load_template(builtin_template_path("qa"))
    plain = asyncio.run(model.complete(Request(key="k", messages=messages, n=2, passage=passage)))
    structured = asyncio.run(model.complete(Request(key="k", messages=messages, params=template.request_params(2), n=2, passage=passage)))
    assert plain == structured and plain.text


# --------------------------------------------------------------------------- the run's state, unit by unit


def _status_error(status: int, message: str, param: str | None = None):
    import httpx
    import openai

    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    body = {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}}
    response = httpx.Response(status, request=request, json=body)
    error = {400: openai.BadRequestError, 422: openai.UnprocessableEntityError, 500: openai.InternalServerError}[status]
    return error(message, response=response, body=body["error"])


def test_requests_refused_while_in_flight_step_the_run_down_once() -> None:
    from qagen.llm.structured import StructuredOutput

    notices: list[str] = []
    state = StructuredOutput(on_notice=notices.append)
    params = load_template(builtin_template_path("qa")).request_params(3)
    sent = [state.params_for(params) for _ in range(3)]  # three requests in flight, all with the schema
    assert {p["response_format"]["type"] for p, _ in sent} == {"json_schema"}
    refusal = _status_error(400, "'response_format.type' must be 'json_object' or 'text'", param="response_format")
    assert all(state.refused(step, refusal, "refused", "the server") for _, step in sent)
    assert len(notices) == 1 and state.level == "json_object"
    again, step = state.params_for(params)
    assert again["response_format"] == {"type": "json_object"} and again["max_tokens"] == params["max_tokens"]
    assert state.refused(step, _status_error(422, "json_object is not supported"), "json_object is not supported", "the server")
    assert state.level == "text" and "response_format" not in state.params_for(params)[0]
    assert len(notices) == 2 and "plain text" in notices[1]
    # Nothing is left to step down to: a later error is the request's own.
    assert not state.refused(state.params_for(params)[1], refusal, "refused", "the server")


def test_only_an_error_about_the_response_format_is_a_refusal_of_it() -> None:
    from qagen.llm.structured import refuses_response_format

    assert refuses_response_format(_status_error(400, "bad", param="response_format.json_schema"), "bad")
    assert refuses_response_format(_status_error(400, "Unsupported parameter: response_format"), "Unsupported parameter: response_format")
    assert not refuses_response_format(_status_error(400, "Invalid value for 'seed'", param="seed"), "Invalid value for 'seed'")
    assert not refuses_response_format(_status_error(500, "json_schema engine crashed"), "json_schema engine crashed")
    llama_cpp = "1 validation error for CreateChatCompletionRequest\nresponse_format\n  Input should be a valid dictionary"
    assert refuses_response_format(_status_error(500, llama_cpp), llama_cpp)


def test_a_template_asking_for_text_or_nothing_is_sent_as_it_is() -> None:
    from qagen.llm.structured import StructuredOutput

    off = StructuredOutput(enabled=False)
    assert off.params_for({"temperature": 0, "response_format": {"type": "text"}}) == ({"temperature": 0, "response_format": {"type": "text"}}, None)
    assert off.params_for({"temperature": 0}) == ({"temperature": 0}, None)
    assert off.params_for({"response_format": {"type": "json_object"}}) == ({}, None)


def test_idk_check_and_judge_requests_ask_for_their_schemas_and_share_the_runs_fallback(tmp_path: Path, fake_openai) -> None:
    import re

    def reply(request):
        text = request.last_user_text
        if "Rate every pair above" in text:
            ids = re.findall(r'"id": "(p\d+)"', text.split("Pairs:")[-1])
            return chat_reply(json.dumps({"ratings": [{"id": i, "score": 5, "reason": "Supported."} for i in ids]}))
        if "do not answer" in text:
            return chat_reply(json.dumps({"questions": ["Who repaints the ferries each winter?", "How old is the oldest captain?"]}))
        if "Copy the sentence that answers it" in text:
            return chat_reply('{"quote": "", "answered": false}')
        return fake_openai.default_handler(request)

    fake_openai.handler = reply
    assert main([str(CORPUS / "fleet.txt"), "--base-url", fake_openai.url, "--model", "m", "-o", str(tmp_path / "o"),
                 "--judge", "--idk-ratio", "0.5", "-n", "2"]) == 0
    kinds = set()
    for request in fake_openai.chat_requests():
        response_format = request.json["response_format"]
        schema = response_format["json_schema"]["schema"]
        text = request.last_user_text
        if "Rate every pair above" in text:
            kinds.add("judge")
            shown = len(re.findall(r'"id": "p\d+"', text.split("Pairs:")[-1]))
            assert schema["properties"]["ratings"]["maxItems"] == schema["properties"]["ratings"]["minItems"] == shown
        elif "do not answer" in text:
            kinds.add("idk")
            asked = int(re.search(r"Write (\d+) questions", text).group(1))
            assert schema["properties"]["questions"]["maxItems"] == asked
        elif "Copy the sentence that answers it" in text:
            kinds.add("idk_check")
            assert list(schema["properties"]) == ["quote", "answered"]  # the quote first: look before deciding
    assert kinds == {"judge", "idk", "idk_check"}
    pairs = read_jsonl(tmp_path / "o" / "pairs.jsonl")
    assert {p["kind"] for p in pairs} == {"grounded", "idk"}

    # A server refusing the schema: the first request is refused once, and every later request of every
    # kind, generation, judge and I-don't-know alike, asks for json_object.
    fake_openai.requests.clear()
    fake_openai.response_formats = ("json_object",)
    assert main([str(CORPUS / "fleet.txt"), "--base-url", fake_openai.url, "--model", "m", "-o", str(tmp_path / "p"),
                 "--judge", "--idk-ratio", "0.5", "-n", "2", "--no-cache"]) == 0
    formats = _formats(fake_openai)
    assert formats[0] == "json_schema" and len(formats) > 4 and set(formats[1:]) == {"json_object"}


def test_a_server_error_that_names_response_format_is_a_refusal_not_an_outage(tmp_path: Path, fake_openai) -> None:
    # llama-cpp-python's server 0.3.x answers a json_schema it cannot take with a 500 naming response_format:
    # retrying it only repeats the refusal, so it steps the run down like a 400 does, after one request.
    fake_openai.response_formats = ("json_object",)
    fake_openai.response_format_refusal_status = 500
    assert _run(fake_openai, tmp_path / "o", "--concurrency", "1") == 0
    formats = _formats(fake_openai)
    assert formats[0] == "json_schema" and formats[1:] and set(formats[1:]) == {"json_object"}


def test_a_server_error_about_something_else_is_still_retried(tmp_path: Path, fake_openai) -> None:
    fake_openai.queue(error_reply(500, "the model crashed"))
    assert _run(fake_openai, tmp_path / "o", "--concurrency", "1") == 0
    formats = _formats(fake_openai)
    assert formats[:2] == ["json_schema", "json_schema"]  # the same request again, the format unchanged
