"""Reading a batch output file back into answers, by ``custom_id``.

Two shapes are read, which differ only in what may be missing: OpenAI's Batch API
(``{"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error": null}``; its error
file has ``"response": null`` and ``"error": {"code", "message"}``) and vLLM's ``run_batch``
(the same keys, ``response.body`` absent or null when ``error`` is set). Each line becomes one
``LineOutcome``: an answer, a failure worth another batch (429, 5xx, an expired or dropped line), a
failure no retry helps (a prompt over the context window, 413), or a fatal refusal of the whole run
(a wrong key, an unknown model, a bad request), which stops it with one sentence as online.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from qagen.errors import ModelError, QagenError
from qagen.llm.client import CONTEXT_TOO_LONG, TOO_LARGE, is_context_overflow_reply
from qagen.outfolder.lines import without_surrogates
from qagen.records import Completion
from qagen.redaction import redact

_FATAL = {400, 401, 403, 404, 422}


class MalformedOutput(QagenError):
    """A line of an output file that is no output line."""


@dataclass(frozen=True)
class LineOutcome:
    key: str
    completion: Completion | None = None
    reason: str = ""  # of a failure: "HTTP 503", "batch_expired", "context_too_long"
    detail: str = ""  # redacted
    retry: bool = False  # another batch (or an online attempt) may answer it
    fatal: str | None = None  # a sentence that stops the run: no line of this run can succeed

    @property
    def answered(self) -> bool:
        return self.completion is not None


def _message(body: object) -> str:
    inner = body.get("error", body) if isinstance(body, dict) else None
    message = inner.get("message") if isinstance(inner, dict) else None
    return redact(str(message or "").strip().rstrip("."))[:300]


def _mapping(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _completion(key: str, body: object) -> LineOutcome:
    """The answer in a chat completion body; a body without one is worth another attempt, as online."""
    choices = body.get("choices") if isinstance(body, dict) else None
    if not isinstance(body, dict) or not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return LineOutcome(key, reason="malformed reply", detail="the reply has no choices", retry=True)
    choice = choices[0]
    message, usage = _mapping(choice.get("message")), _mapping(body.get("usage"))
    details = _mapping(usage.get("prompt_tokens_details"))
    try:
        completion = Completion(
            text=without_surrogates(str(message.get("content") or "")),
            finish_reason=str(choice.get("finish_reason") or "stop"),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            cached_tokens=int(details.get("cached_tokens") or 0),
        )
    except (TypeError, ValueError):
        return LineOutcome(key, reason="malformed reply", detail="the reply's usage is not a number", retry=True)
    return LineOutcome(key, completion=completion)


def _names_response_format(body: object) -> bool:
    inner = _mapping(_mapping(body).get("error", body))
    return str(inner.get("param") or "").startswith("response_format") or "response_format" in str(inner.get("message") or "")


def fatal_sentence(status: int, detail: str, model: str, where: str) -> str:
    """What a refusal that no retry fixes means, in the words the online client uses."""
    if status == 401:
        return f"{where} rejected the API key for a batch line (401): check OPENAI_API_KEY. Server said: {detail}."
    if status == 403:
        return f"{where} refused access to model {model} for a batch line (403): {detail}."
    if status == 404:
        return f"model {model} was not found at {where} for a batch line (404): check --model. Server said: {detail}."
    return f"{where} rejected a batch line for model {model} ({status}): {detail}."


def outcome_of(line: str, *, model: str, where: str, origin: str) -> LineOutcome:
    """One output line read; MalformedOutput (one sentence naming ``origin``) for a line that is not one."""
    try:
        data = json.loads(line)
    except ValueError:
        raise MalformedOutput(f"{origin} is not a batch output line (not JSON); give the file the batch engine wrote.") from None
    key = data.get("custom_id") if isinstance(data, dict) else None
    if not isinstance(key, str) or not key:
        raise MalformedOutput(f"{origin} has no custom_id; give the file the batch engine wrote.")
    response = data.get("response")
    error = data.get("error")
    if not isinstance(response, dict) or response.get("body") is None:
        # No reply at all: the line expired, was cancelled, or the engine could not run it.
        code = str(error.get("code") or "batch_error") if isinstance(error, dict) else "batch_error"
        detail = _message({"error": error}) if isinstance(error, dict) else ""
        if not detail and isinstance(error, str):
            detail = redact(error)[:300]
        return LineOutcome(key, reason=code, detail=detail or "no reply in the output file", retry=True)
    try:
        status = int(response.get("status_code") or 200)
    except (TypeError, ValueError):
        raise MalformedOutput(f"{origin} has a status_code that is not a number.") from None
    body = response["body"]
    if status == 200:
        return _completion(key, body)
    detail = _message(body) or f"HTTP {status}"
    if is_context_overflow_reply(status, body):
        return LineOutcome(key, reason=CONTEXT_TOO_LONG, detail=detail)
    if status == TOO_LARGE:
        return LineOutcome(key, reason="request_too_large", detail=detail)
    if status in _FATAL:
        sentence = fatal_sentence(status, detail, model, where)
        if status in (400, 422) and _names_response_format(body):
            # Online, qagen steps down to json_object, then plain text; a batch is asked as a whole, so the user chooses.
            sentence = (f"{where} refused the response_format of a batch line ({status}): {detail}; "
                        "run again with --no-structured-output (replies are still read leniently).")
        return LineOutcome(key, reason=f"HTTP {status}", detail=detail, fatal=sentence)
    return LineOutcome(key, reason=f"HTTP {status}", detail=detail, retry=True)


def read_outcomes(text: str, *, model: str, where: str, name: str) -> list[LineOutcome]:
    """Every line of an output file; blank lines are skipped."""
    return [outcome_of(line, model=model, where=where, origin=f"line {number} of {name}")
            for number, line in enumerate(text.split("\n"), 1) if line.strip()]


def fatal_error(outcome: LineOutcome) -> ModelError:
    assert outcome.fatal is not None
    return ModelError(outcome.fatal)
