"""What a failed request was, for every model: retry or not, its label and its redacted detail.

The asker, the spending cap and the stages read failures through these, whatever model a run uses, so
this module does not import the ``openai`` SDK: a run on the offline generator never loads it (0.54 s of
imports). The SDK's exception types are looked up where the SDK is loaded already; where it is not, no
exception of it can have been raised.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from qagen.redaction import redact

_FATAL_STATUSES = {400, 401, 403, 404, 422}
TOO_LARGE = 413  # the request itself is too big: no retry can help it, a smaller one can
CONTEXT_TOO_LONG = "context_too_long"  # the failure reason of a prompt over the model's context window

# How servers say a prompt does not fit the model's context window (a 400 with these is the
# request's problem, not the run's). OpenAI and llama-cpp-python send the code; llama.cpp's own
# server sends the type; vLLM, LM Studio and older llama.cpp builds say it in words only.
_CONTEXT_CODES = {"context_length_exceeded", "exceed_context_size_error", "context_window_exceeded"}
_CONTEXT_WORDING = re.compile(
    r"maximum context length|context (?:window|length|size)[^.]*exceed|exceed[^.]*context (?:window|length|size)"
    r"|context size has been exceeded|prompt is too long|too many tokens in the prompt",
    re.IGNORECASE,
)


class MalformedReply(Exception):
    """A 200 reply without a usable completion (no choices, not JSON): worth another attempt."""


class ReplyTimedOut(Exception):
    """The whole reply took longer than the timeout, however quick each read was: worth another attempt."""


class RequestFailed(Exception):
    """A request that got no answer. ``reason`` and ``detail`` are redacted, safe to show and write.

    ``rerun_helps`` is False for a request the endpoint refuses as too large (413, or over the
    model's context window): asking it again would get the same answer.
    """

    def __init__(self, reason: str, detail: str, *, rerun_helps: bool = True) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.rerun_helps = rerun_helps


def _sdk() -> Any:
    """The ``openai`` module where something loaded it, else None."""
    return sys.modules.get("openai")


def _sdk_types(*names: str) -> tuple[type[BaseException], ...]:
    sdk = _sdk()
    return tuple(getattr(sdk, name) for name in names) if sdk is not None else ()


def transient_types() -> tuple[type[BaseException], ...]:
    """The exceptions another attempt may cure: timeouts, dropped connections, truncated or malformed bodies."""
    return (*_sdk_types("APIConnectionError", "APIResponseValidationError"), json.JSONDecodeError, MalformedReply, ReplyTimedOut)


def _status_error(exc: BaseException) -> Any:
    """``exc`` when it is the SDK's error for an HTTP status, else None."""
    return exc if isinstance(exc, _sdk_types("APIStatusError")) else None


def is_retryable(exc: BaseException) -> bool:
    if (status := _status_error(exc)) is not None:
        # 408 and 409 are worth another attempt; 413 is the request's own problem.
        return status.status_code not in _FATAL_STATUSES and status.status_code != TOO_LARGE
    return isinstance(exc, transient_types())


def is_context_overflow(exc: Any) -> bool:
    """True when the server refused the request (an SDK status error) because its prompt is over the model's context window."""
    if exc.status_code not in (400, TOO_LARGE, 422):
        return False
    if any(isinstance(f, str) and f in _CONTEXT_CODES for f in (getattr(exc, "code", None), getattr(exc, "type", None))):
        return True
    return is_context_overflow_reply(exc.status_code, exc.body) or bool(_CONTEXT_WORDING.search(server_message(exc, None) or ""))


def is_context_overflow_reply(status: int, body: object) -> bool:
    """``is_context_overflow`` for a reply's status and JSON body (a batch output file's line, an SDK error's body)."""
    if status not in (400, TOO_LARGE, 422):
        return False
    inner = body.get("error", body) if isinstance(body, dict) else None
    if not isinstance(inner, dict):
        return False
    if any(isinstance(inner.get(name), str) and inner.get(name) in _CONTEXT_CODES for name in ("code", "type")):
        return True
    return bool(_CONTEXT_WORDING.search(str(inner.get("message") or "")))


def server_message(exc: Any, secret: str | None) -> str:
    """The message of an SDK status error, redacted and short."""
    body = exc.body
    message = None
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else None
    message = str(message or exc.message or "").strip().rstrip(".")
    return redact(message, secret)[:300]


def failure_detail(exc: BaseException, secret: str | None = None) -> str:
    """What went wrong, redacted and short, for failure records and messages."""
    if isinstance(exc, RequestFailed):
        return exc.detail
    if (status := _status_error(exc)) is not None:
        return server_message(status, secret) or f"HTTP {status.status_code}"
    return redact(str(exc) or type(exc).__name__, secret)[:300]


def describe_failure(exc: BaseException) -> str:
    """A short label for a transient failure, for progress lines and the report."""
    if isinstance(exc, RequestFailed):
        return exc.reason
    if (status := _status_error(exc)) is not None:
        return f"HTTP {status.status_code}"
    if isinstance(exc, (*_sdk_types("APITimeoutError"), ReplyTimedOut)):
        return "timeout"
    if isinstance(exc, _sdk_types("APIConnectionError")):
        return "connection error"
    return "malformed reply"
