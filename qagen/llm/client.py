"""The model behind one async method, and the OpenAI-compatible client.

``ChatModel.complete(request) -> Completion`` is all the pipeline knows about a
model. Two implementations ship: ``OpenAIChatModel`` (any OpenAI-compatible endpoint,
the request body built once and sent by ``qagen.llm.transport``, which raises the official
SDK's exceptions) and ``qagen.offline.OfflineModel``.

Retries are owned here, so there is
one policy: a bounded number of attempts with exponential backoff and jitter, the
server's ``Retry-After`` honoured exactly (up to ``max_retry_wait``; a longer wait stops
the run with a sentence instead of retrying early), and after a 429 every request of the
run waits out the pause together instead of hammering the endpoint (no retry storm). The
same pause paces a run by the ``x-ratelimit-*`` headers, where the endpoint sends them, so
a spent window is waited out before a 429 instead of after one. ``timeout`` bounds the
whole reply (connecting included), not each read, so a reply trickled in slowly is a timeout like any other.

The ``response_format`` a template asks for is sent as the run's ``StructuredOutput`` allows
(``qagen.llm.structured``): a server that refuses it moves the whole run to ``json_object``,
then to plain text, once.

What comes out of ``complete`` besides a completion: ``RequestFailed`` for a request that
got no answer (after every attempt, or at once for a request too large for the endpoint:
413, or a prompt over the model's context window), and ``ModelError`` for what no retry can fix (400, 401, 403, 404, 422). Their text
is redacted (``qagen.redaction``): a server that echoes the key never gets it shown.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import math
import os
import random
import re
import time
from collections.abc import Callable
from typing import Any, cast

import openai
from openai.types.chat import ChatCompletionMessageParam
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from qagen.documents.tokens import count_chat_tokens
from qagen.errors import ModelError
from qagen.llm.body import chat_request_body
from qagen.llm.failures import (
    _FATAL_STATUSES,
    CONTEXT_TOO_LONG,
    TOO_LARGE,
    MalformedReply,
    ReplyTimedOut,
    RequestFailed,
    describe_failure,
    failure_detail,
    is_context_overflow,
    is_retryable,
    server_message,
    transient_types,
)
from qagen.llm.model import RetryListener
from qagen.llm.ratelimit import Pacer
from qagen.llm.structured import StructuredOutput, refuses_response_format
from qagen.llm.transport import ChatTransport
from qagen.records import Completion, Request
from qagen.redaction import register_secret
from qagen.options import GENERATE_OPTIONS

# qagen's own waits (backoff, pacing by rate-limit headers) stay below this; the server's Retry-After is
# honoured up to max_retry_wait instead.
MAX_BACKOFF_SECONDS = 120.0
BASE_BACKOFF_SECONDS = 1.0
DEFAULT_MAX_RETRY_WAIT: float = GENERATE_OPTIONS["max_retry_wait"].default

# A local server (Ollama, vLLM, llama.cpp, LM Studio) needs no key, but the SDK insists on one.
NO_KEY = "no-key-needed"
OPENAI_URL = "https://api.openai.com/v1"  # the SDK's default endpoint

# OpenAI's reasoning models take max_completion_tokens and only the default temperature.
_REASONING_MODEL = re.compile(r"^(o\d|gpt-5)")
_REASONING_REFUSED = {"max_tokens", "temperature", "top_p"}


class Clock:
    """Time as the client reads and spends it; a test passes one that moves without waiting."""

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class RateLimitPause:
    """A pause shared by all requests of a run: after a 429 nobody sends until it ends."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or Clock()
        self._until = 0.0

    def extend(self, seconds: float) -> None:
        self._until = max(self._until, self._clock.monotonic() + seconds)

    async def wait(self) -> None:
        while (remaining := self._until - self._clock.monotonic()) > 0:
            await self._clock.sleep(remaining)


class RetryAfterTooLong(ModelError):
    """The server asked for a longer wait than ``max_retry_wait``: stop, rather than retry early."""

    def __init__(self, asked: float, cap: float) -> None:
        super().__init__(
            f"the server asked to wait {math.ceil(asked)} s before the next request (Retry-After), longer than "
            f"--max-retry-wait ({cap:g} s); run the same command again after that wait (it resumes where it stopped), "
            "or raise --max-retry-wait."
        )
        self.asked = asked


def retry_after_seconds(headers) -> float | None:
    """The server's requested wait, from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    if headers is None:
        return None
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def retry_wait(exc: BaseException | None, attempt_number: int, max_wait: float = DEFAULT_MAX_RETRY_WAIT) -> float:
    """Seconds before the next attempt: exactly the server's Retry-After when it sent one, else
    exponential backoff with jitter (which spreads the retries of parallel requests).

    A Retry-After longer than ``max_wait`` raises ``RetryAfterTooLong``: retrying sooner than
    the server asked would only be refused again.
    """
    asked = retry_after_seconds(getattr(getattr(exc, "response", None), "headers", None))
    if asked is not None:
        if asked > max_wait:
            raise RetryAfterTooLong(asked, max_wait)
        return max(asked, 0.05)
    backoff = min(MAX_BACKOFF_SECONDS, max_wait, BASE_BACKOFF_SECONDS * 2 ** (attempt_number - 1))
    return random.uniform(backoff / 2, backoff)


def parse_reset(value: str | None) -> float | None:
    """Seconds in a rate-limit reset header: "1s", "6m0s", "20ms", "1h2m3.5s", or a bare number."""
    if not value:
        return None
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", value)
    if not parts:
        try:
            return float(value)
        except ValueError:
            return None
    return sum(float(number) * {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[unit] for number, unit in parts)


def _header_int(headers, name: str) -> int | None:
    try:
        return int(float(headers.get(name)))
    except (TypeError, ValueError):
        return None


def window_spent_for(headers, tokens_needed: int) -> float:
    """How long to hold all sending, from the ``x-ratelimit-*`` headers of the last reply (0 when fine).

    When the requests window is used up, or fewer tokens remain than a request like the
    last one needs, waiting for the window to reset beats being answered 429.
    """
    if headers is None:
        return 0.0
    wait = 0.0
    remaining_requests = _header_int(headers, "x-ratelimit-remaining-requests")
    if remaining_requests is not None and remaining_requests <= 0:
        wait = max(wait, parse_reset(headers.get("x-ratelimit-reset-requests")) or 0.0)
    remaining_tokens = _header_int(headers, "x-ratelimit-remaining-tokens")
    if remaining_tokens is not None and remaining_tokens < tokens_needed:
        wait = max(wait, parse_reset(headers.get("x-ratelimit-reset-tokens")) or 0.0)
    return min(wait, MAX_BACKOFF_SECONDS)


def _whole(value: object) -> int | None:
    """A token count from a reply's usage, or None where the server sent none (or nonsense)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


_TRANSIENT = transient_types()  # the SDK is loaded here, so its connection errors are among them


def endpoint_url(base_url: str | None) -> str:
    """The endpoint as the SDK resolves it: ``base_url``, else ``OPENAI_BASE_URL``, else OpenAI's.

    Resolved here rather than by building an ``openai.AsyncOpenAI`` only to read its ``base_url``: that
    client opened an HTTP pool nothing closed."""
    return base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_URL


class OpenAIChatModel:
    """Any OpenAI-compatible chat completions endpoint."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None,
        api_key: str | None,
        timeout: float,
        max_attempts: int,
        count_tokens: Callable[[str], int],
        on_retry: RetryListener | None = None,
        max_retry_wait: float = DEFAULT_MAX_RETRY_WAIT,
        clock: Clock | None = None,
        structured_output: bool = True,
        on_notice: Callable[[str], None] | None = None,
    ) -> None:
        self.name = model
        self._endpoint = base_url or "the OpenAI API"
        is_openai = base_url is None or "api.openai.com" in base_url
        # Known up front on OpenAI; learned from the first refusal anywhere else (Azure, proxies).
        self._reasoning_params = bool(is_openai and _REASONING_MODEL.match(model))
        self._api_key = api_key
        register_secret(api_key)
        # Requests go through qagen's transport, which raises the SDK's exceptions (qagen.llm.transport).
        self._transport = ChatTransport(endpoint_url(base_url), api_key or NO_KEY)
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._max_retry_wait = max_retry_wait
        self._count_tokens = count_tokens
        # Every request is charged its prompt tokens before it is sent (pacing), and a template's system and
        # one-shot messages are the same in every request: counting each once cut the client's CPU a
        # request by a fifth. The chunk's own message is new each time and soon evicted.
        self._count_message = functools.lru_cache(maxsize=256)(count_tokens)
        self._on_retry = on_retry
        self._clock = clock or Clock()
        self._pause = RateLimitPause(self._clock)
        self._pacer = Pacer(self._clock)
        # One per client, so one per run: a refused response_format is learned once.
        self._structured = StructuredOutput(enabled=structured_output, on_notice=on_notice)

    async def aclose(self) -> None:
        await self._transport.aclose()

    def _params(self, request: Request) -> dict:
        params = dict(request.params)
        if self._reasoning_params:
            if "max_tokens" in params:
                params["max_completion_tokens"] = params.pop("max_tokens")
            params.pop("temperature", None)
            params.pop("top_p", None)
        return params

    def _adopt_reasoning_params(self, exc: openai.BadRequestError) -> bool:
        """True when the server refused a parameter reasoning models do not take, the first time it does."""
        refused = getattr(exc, "param", None) in _REASONING_REFUSED and getattr(exc, "code", None) in (
            "unsupported_parameter", "unsupported_value")
        if not refused or self._reasoning_params:
            return False
        self._reasoning_params = True
        if self._on_retry:
            self._on_retry("unsupported parameter", 0.0)
        return True

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        wait = retry_wait(exc, state.attempt_number, self._max_retry_wait)
        if isinstance(exc, openai.RateLimitError):
            self._pause.extend(wait)  # even after the last attempt: the other requests must wait too
        if state.attempt_number >= self._max_attempts:
            return 0.0  # tenacity asks for a wait before it notices the attempts are used up: no retry follows
        if self._on_retry and exc is not None:
            self._on_retry(describe_failure(exc), wait)
        return wait

    async def complete(self, request: Request) -> Completion:
        # The SDK types each message by its role; templates are checked to use only the roles
        # it knows (qagen.llm.templates.ROLES) when they load, which the types cannot see.
        messages = cast(list[ChatCompletionMessageParam], [m.as_dict() for m in request.messages])
        try:
            headers, reply = await self._answer(request)
        except openai.APIStatusError as exc:
            raise self._refusal(exc) from None
        except _TRANSIENT as exc:  # every attempt used up
            raise RequestFailed(describe_failure(exc), failure_detail(exc, self._api_key)) from None
        choice = reply["choices"][0]  # _send checked there is one, and that it is an object
        message = choice.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        text = content if isinstance(content, str) else ""
        usage = reply.get("usage") if isinstance(reply.get("usage"), dict) else {}
        prompt_tokens = _whole(usage.get("prompt_tokens"))
        completion_tokens = _whole(usage.get("completion_tokens"))
        if prompt_tokens is None:  # some local servers send no usage: count ourselves
            prompt_tokens = count_chat_tokens(messages, self._count_message)
        if completion_tokens is None:
            completion_tokens = self._count_tokens(text)
        if not self._pacer.paced:  # remaining/reset headers without the limits: wait out a spent window
            params = self._params(request)
            budget = prompt_tokens + int(params.get("max_tokens") or params.get("max_completion_tokens") or 0)
            self._pause.extend(window_spent_for(headers, budget))
        details = usage.get("prompt_tokens_details")
        return Completion(
            text=text,
            finish_reason=choice.get("finish_reason") or "stop",
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            # OpenAI bills prompt tokens it had cached at a lower price, and says how many in the usage.
            cached_tokens=(_whole(details.get("cached_tokens")) if isinstance(details, dict) else None) or 0,
        )

    def request_body(self, request: Request) -> dict[str, Any]:
        """The JSON body this client sends for ``request`` now, at the run's response-format step."""
        params, _ = self._structured.params_for(self._params(request))
        return chat_request_body(self.name, request, params)

    async def _answer(self, request: Request) -> tuple[Any, Any]:
        """The reply, sent again after each refusal that changes what is sent (reasoning parameters,
        the response format); each such change happens at most once or twice a run, so this ends."""
        while True:
            params, format_step = self._structured.params_for(self._params(request))
            body = chat_request_body(self.name, request, params)
            # Charged before sending: what the endpoint counts against its token limit.
            messages = cast(list[ChatCompletionMessageParam], [m.as_dict() for m in request.messages])
            tokens = count_chat_tokens(messages, self._count_message) + int(
                params.get("max_tokens") or params.get("max_completion_tokens") or 0)

            def format_refused(exc: BaseException) -> bool:  # not retried: only a step down can help
                return (format_step is not None and isinstance(exc, openai.APIStatusError)
                        and refuses_response_format(exc, server_message(exc, self._api_key)))

            try:
                return await self._with_retries(body, tokens, unless=format_refused)
            except openai.APIStatusError as exc:
                if isinstance(exc, openai.BadRequestError) and self._adopt_reasoning_params(exc):
                    continue
                if not self._structured.refused(format_step, exc, server_message(exc, self._api_key), self._endpoint):
                    raise
                if self._on_retry:
                    self._on_retry("response_format refused", 0.0)  # a request sent and refused: counted

    async def _with_retries(self, body: dict[str, Any], tokens: int, *, unless: Callable[[BaseException], bool]) -> tuple[Any, Any]:
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(self._max_attempts),
            wait=self._wait,
            retry=retry_if_exception(lambda exc: is_retryable(exc) and not unless(exc)),
            reraise=True,
            sleep=self._clock.sleep,
        ):
            with attempt:
                await self._pause.wait()
                charge = await self._pacer.acquire(tokens)
                headers, reply = await self._send(body)
                # Pace the whole run by the endpoint's rate-limit headers (qagen.llm.ratelimit).
                self._pacer.observe(headers, charge)
                return headers, reply
        raise AssertionError("tenacity neither returned nor raised")  # pragma: no cover

    async def _send(self, body: dict[str, Any]) -> tuple[Any, Any]:
        # A limit on each read would let a reply trickled in slowly pass: this bounds the whole reply.
        try:
            headers, reply = await asyncio.wait_for(self._transport.post(body), self._timeout)
        except asyncio.TimeoutError:
            raise ReplyTimedOut(f"no complete reply within {self._timeout:g} s") from None
        choices = reply.get("choices") if isinstance(reply, dict) else None
        if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
            raise MalformedReply("the reply has no choices")
        return headers, reply

    def _refusal(self, exc: openai.APIStatusError) -> Exception:
        """What an error status that escaped the retries means for the run."""
        if is_context_overflow(exc):
            return RequestFailed(CONTEXT_TOO_LONG, server_message(exc, self._api_key) or f"HTTP {exc.status_code}", rerun_helps=False)
        if exc.status_code == TOO_LARGE:
            return RequestFailed("request_too_large", server_message(exc, self._api_key) or "HTTP 413", rerun_helps=False)
        if exc.status_code in _FATAL_STATUSES:
            return self._fatal(exc)
        return RequestFailed(describe_failure(exc), failure_detail(exc, self._api_key))

    def _fatal(self, exc: openai.APIStatusError) -> ModelError:
        status = exc.status_code
        detail = server_message(exc, self._api_key)
        where = self._endpoint
        if status == 401:
            if self._api_key is None:
                return ModelError(f"{where} requires an API key (401): set OPENAI_API_KEY.")
            return ModelError(f"{where} rejected the API key (401): check OPENAI_API_KEY. Server said: {detail}.")
        if status == 403:
            return ModelError(f"{where} refused access to model {self.name} (403): {detail}.")
        if status == 404:
            return ModelError(
                f"model {self.name} was not found at {where} (404): check --model, and that --base-url ends in /v1. Server said: {detail}."
            )
        return ModelError(f"{where} rejected the request for model {self.name} ({status}): {detail}.")
