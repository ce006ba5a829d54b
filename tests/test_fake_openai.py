"""The fake OpenAI server speaks the API well enough for the real SDK, and its faults surface as documented.

What each fault becomes in the SDK (``openai`` 3.52, ``max_retries=0``) is pinned here because
qagen's retry logic depends on it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time

import openai
import pytest

from fake_openai import FakeOpenAI, RecordedRequest, Reply, chat_reply, error_reply

PASSAGE = (
    "The Orbiter handbook covers night shifts. Night shifts start at ten in the evening. "
    "Each operator logs the reactor temperature every hour. Coffee is free after midnight."
)
PROMPT = f"Write question and answer pairs about the passage below.\n```\n{PASSAGE}\n```\nAnswer in JSON lines."
MESSAGES = [
    {"role": "system", "content": "You write training data."},
    {"role": "user", "content": PROMPT},
]


def sync_client(server: FakeOpenAI, *, api_key: str = "test-key", timeout: float = 5.0) -> openai.OpenAI:
    return openai.OpenAI(api_key=api_key, base_url=server.url, max_retries=0, timeout=timeout)


def ask(server: FakeOpenAI, *, model: str = "gpt-4o-mini", **client_options: object):
    with sync_client(server, **client_options) as client:  # type: ignore[arg-type]
        return client.chat.completions.create(model=model, messages=MESSAGES)


def test_default_reply_is_grounded_pairs_with_usage(fake_openai: FakeOpenAI) -> None:
    fake_openai.default_pairs = 2

    completion = ask(fake_openai, model="gpt-4o-mini")

    lines = completion.choices[0].message.content.splitlines()
    pairs = [json.loads(line) for line in lines]
    assert len(pairs) == 2
    for pair in pairs:
        assert pair["question"].endswith("?")
        assert pair["answer"] in PASSAGE  # copied verbatim, so grounded by construction
    assert "Write question" not in completion.choices[0].message.content  # instructions are not quoted
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "gpt-4o-mini"  # the requested model is echoed
    usage = completion.usage
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens

    (request,) = fake_openai.chat_requests()
    assert request.headers["authorization"] == "Bearer test-key"
    assert request.messages == MESSAGES
    assert request.last_user_text == PROMPT


def test_queue_is_first_in_first_out_then_handler_takes_over(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(
        chat_reply("first", finish_reason="length", prompt_tokens=7, completion_tokens=3),
        lambda request: chat_reply(f"second for {request.model}"),
    )
    fake_openai.handler = lambda request: chat_reply("from handler")

    answers = [ask(fake_openai, model="m1") for _ in range(3)]

    assert [a.choices[0].message.content for a in answers] == ["first", "second for m1", "from handler"]
    assert answers[0].choices[0].finish_reason == "length"
    assert (answers[0].usage.prompt_tokens, answers[0].usage.completion_tokens) == (7, 3)
    assert fake_openai.queued == 0


def test_one_client_reuses_one_keep_alive_connection(fake_openai: FakeOpenAI) -> None:
    with sync_client(fake_openai) as client:
        for _ in range(3):
            client.chat.completions.create(model="m", messages=MESSAGES)
    assert len(fake_openai.chat_requests()) == 3
    assert fake_openai.connections_opened == 1


def test_429_is_rate_limit_error_with_readable_retry_after(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(
        error_reply(429, "Rate limit reached.", code="rate_limit_exceeded", headers={"retry-after": "1"})
    )

    with pytest.raises(openai.RateLimitError) as caught:
        ask(fake_openai)

    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "1"
    assert caught.value.code == "rate_limit_exceeded"


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_internal_server_error(fake_openai: FakeOpenAI, status: int) -> None:
    fake_openai.queue(error_reply(status, "The server had an error."))

    with pytest.raises(openai.InternalServerError) as caught:
        ask(fake_openai)

    assert caught.value.status_code == status


def test_wrong_key_is_authentication_error(fake_openai: FakeOpenAI) -> None:
    fake_openai.api_key = "right-key"

    with pytest.raises(openai.AuthenticationError) as caught:
        ask(fake_openai, api_key="wrong-key")
    assert caught.value.code == "invalid_api_key"

    assert ask(fake_openai, api_key="right-key").choices[0].message.content
    assert len(fake_openai.requests) == 2  # refused requests are recorded too


def test_unknown_model_is_not_found(fake_openai: FakeOpenAI) -> None:
    fake_openai.models = ["gpt-4o-mini"]
    fake_openai.queue(chat_reply("kept for the next valid request"))

    with pytest.raises(openai.NotFoundError) as caught:
        ask(fake_openai, model="gpt-nonexistent")
    assert caught.value.code == "model_not_found"

    # The refused request did not consume the queue.
    assert ask(fake_openai, model="gpt-4o-mini").choices[0].message.content == "kept for the next valid request"
    with sync_client(fake_openai) as client:
        assert [m.id for m in client.models.list().data] == ["gpt-4o-mini"]
        assert client.models.retrieve("gpt-4o-mini").id == "gpt-4o-mini"
        with pytest.raises(openai.NotFoundError):
            client.models.retrieve("gpt-nonexistent")


def test_malformed_json_with_status_200_escapes_as_json_decode_error(fake_openai: FakeOpenAI) -> None:
    # The SDK decodes a 200 body outside its error wrapping: a body that is not JSON, sent as
    # application/json, raises json.JSONDecodeError (a ValueError), NOT an openai.OpenAIError and
    # NOT retried by the SDK. Client code must catch ValueError itself and treat it as a
    # transient fault. An empty 200 body behaves the same.
    fake_openai.queue(Reply(body=b'{"id": "chatcmpl-1", "choi'), Reply(body=b""))
    for _ in range(2):
        with pytest.raises(json.JSONDecodeError) as caught:
            ask(fake_openai)
        assert not isinstance(caught.value, openai.OpenAIError)


def test_non_json_or_wrong_shape_200_returns_something_unusable(fake_openai: FakeOpenAI) -> None:
    # Without strict validation the SDK does not raise at all: a non-JSON content type gives back
    # the body as a plain str, and JSON of the wrong shape gives a ChatCompletion whose choices
    # are None. Client code must check that it got a ChatCompletion with a message.
    fake_openai.queue(
        Reply(body=b"upstream said no", headers={"Content-Type": "text/plain"}),
        Reply(json={"unexpected": True}),
    )
    assert ask(fake_openai) == "upstream said no"
    wrong_shape = ask(fake_openai)
    assert isinstance(wrong_shape, openai.types.chat.ChatCompletion)
    assert wrong_shape.choices is None


@pytest.mark.parametrize("fault", ["truncate", "drop"])
def test_truncated_or_dropped_reply_is_connection_error(fake_openai: FakeOpenAI, fault: str) -> None:
    fake_openai.queue(dataclasses.replace(chat_reply("a reply that will not arrive whole"), **{fault: True}))

    with pytest.raises(openai.APIConnectionError) as caught:
        ask(fake_openai)

    # Exactly APIConnectionError (APITimeoutError is a subclass; this is not one), caused by the
    # HTTP library noticing the peer closed early.
    assert type(caught.value) is openai.APIConnectionError
    assert type(caught.value.__cause__).__name__ == "RemoteProtocolError"
    # The server still serves the next request on a new connection.
    assert ask(fake_openai).choices[0].message.content


def test_reply_slower_than_client_timeout_is_timeout_error(fake_openai: FakeOpenAI) -> None:
    # The reply would come in an hour; stopping the server at the end of the test wakes it.
    fake_openai.queue(dataclasses.replace(chat_reply("too late"), delay=3600.0))

    with pytest.raises(openai.APITimeoutError):
        ask(fake_openai, timeout=0.3)
    # The client gave up while its request was still being held: the timeout, not the reply, ended it.
    assert fake_openai.in_flight == 1 and len(fake_openai.chat_requests()) == 1


@pytest.mark.parametrize("limit", [2, 6])
def test_max_in_flight_counts_concurrent_async_requests(fake_openai: FakeOpenAI, limit: int) -> None:
    fake_openai.latency = 0.2

    async def run() -> list[str]:
        semaphore = asyncio.Semaphore(limit)
        async with openai.AsyncOpenAI(api_key="k", base_url=fake_openai.url, max_retries=0, timeout=5) as client:

            async def one(i: int) -> str:
                async with semaphore:
                    reply = await client.chat.completions.create(
                        model="m", messages=[{"role": "user", "content": f"Request number {i} is here."}]
                    )
                    return reply.choices[0].message.content

            answers = await asyncio.gather(*(one(i) for i in range(6)))
            answers.append(await one(6))  # alone: the maximum must remember the earlier peak
            return answers

    answers = asyncio.run(run())

    assert len(answers) == 7 and all(answers)
    assert fake_openai.max_in_flight == limit
    assert fake_openai.in_flight == 0


def test_stop_is_immediate_while_a_handler_sleeps() -> None:
    # Immediate means: stop() does not wait out the sleeping reply's hour, and that reply is never
    # sent. The waits below are guards against hanging (the broken case takes the hour), not measures.
    server = FakeOpenAI().start()
    server.queue(dataclasses.replace(chat_reply("never sent"), delay=3600.0))
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            ask(server)
        except openai.APIConnectionError as error:
            outcome.append(error)

    caller = threading.Thread(target=call)
    caller.start()
    while server.in_flight == 0 and caller.is_alive():
        time.sleep(0.01)
    assert server.in_flight == 1

    stopper = threading.Thread(target=server.stop)
    stopper.start()
    stopper.join(timeout=60)
    assert not stopper.is_alive()
    caller.join(timeout=60)
    assert not caller.is_alive()
    assert len(outcome) == 1  # the waiting client saw the connection close, not a late answer
    while server.in_flight:  # the sleeping handler was woken (unwoken, it would sleep the hour)
        time.sleep(0.01)


def test_routes_can_be_added_and_unknown_urls_are_404(fake_openai: FakeOpenAI) -> None:
    def echo_thing(server: FakeOpenAI, request: RecordedRequest, params: dict[str, str]) -> Reply:
        return Reply(json={"id": params["thing_id"], "limit": request.query.get("limit")})

    fake_openai.add_route("GET", "/v1/things/{thing_id}", echo_thing)

    with sync_client(fake_openai) as client:
        assert client.get("/things/abc-1?limit=5", cast_to=object) == {"id": "abc-1", "limit": ["5"]}
        with pytest.raises(openai.NotFoundError) as caught:
            client.get("/nowhere", cast_to=object)
    assert caught.value.code == "unknown_url"


def test_a_raising_scripted_handler_answers_500_and_is_kept(fake_openai: FakeOpenAI) -> None:
    def broken(request: RecordedRequest) -> Reply:
        raise KeyError("no such key")

    fake_openai.queue(broken)

    with pytest.raises(openai.InternalServerError):
        ask(fake_openai)

    assert [type(e) for e in fake_openai.handler_errors] == [KeyError]
    fake_openai.handler_errors.clear()  # expected here; the fixture fails a test that leaves one
