"""Structured output over one run: the template's JSON schema first, one step down per refusal.

The built-in templates ask for a ``json_schema`` response format. Servers differ: OpenAI and
vLLM enforce it, llama.cpp's server and LM Studio turn it into a grammar, Ollama passes it
through, and some refuse it with a 400 naming ``response_format`` (LM Studio refuses
``json_object``, others ``json_schema``). A refusal moves the whole run one step down,
``json_schema`` -> ``json_object`` -> plain text (no ``response_format`` sent), and the run
remembers it: a refusing server costs one refused request per step, not one per chunk, and
says so in one line. Whatever the server sends back, the lenient readers of ``qagen.replies``
read it; structured output only makes a well-formed reply likelier.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai

# What is sent at each step; a template's own "text" is sent as it is, whatever the step.
LEVELS = ("json_schema", "json_object", "text")
_PLAIN = len(LEVELS) - 1
_SAID = {"json_object": "json_object", "text": "plain text"}
_REFUSAL_STATUSES = {400, 422}
_FORMAT_WORDS = ("response_format", "response format", "json_schema", "json_object", "structured output")


def refuses_response_format(exc: openai.APIStatusError, message: str) -> bool:
    """Whether an error refuses the ``response_format`` of the request rather than anything else in it."""
    if exc.status_code not in _REFUSAL_STATUSES:
        return False
    if str(getattr(exc, "param", None) or "").startswith("response_format"):
        return True
    text = message.lower()
    return any(word in text for word in _FORMAT_WORDS)


class StructuredOutput:
    """The response format a run asks for, stepped down for good after each refusal."""

    def __init__(self, *, enabled: bool = True, on_notice: Callable[[str], None] | None = None) -> None:
        self._level = 0 if enabled else _PLAIN
        self._on_notice = on_notice

    @property
    def level(self) -> str:
        return LEVELS[self._level]

    def params_for(self, params: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
        """The request's parameters at the run's step, and the step of the format sent (None: none sent)."""
        asked = params.get("response_format")
        kind = asked.get("type") if isinstance(asked, dict) else None
        if kind not in LEVELS[:_PLAIN]:
            return params, None  # none asked for, or the template's own "text"
        used = max(LEVELS.index(kind), self._level)
        params = dict(params)
        if used == _PLAIN:
            del params["response_format"]
            return params, None
        if used != LEVELS.index(kind):
            params["response_format"] = {"type": LEVELS[used]}
        return params, used

    def refused(self, used: int | None, exc: openai.APIStatusError, message: str, endpoint: str) -> bool:
        """True when ``exc`` refused the format sent at step ``used``: the request is to be sent again.

        The first refusal at a step moves the run down and says so; requests refused at the same
        step while they were in flight are simply sent again at the new one.
        """
        if used is None or not refuses_response_format(exc, message):
            return False
        if used + 1 > self._level:
            self._level = used + 1
            if self._on_notice is not None:
                said = f" ({message})" if message else ""
                self._on_notice(
                    f"{endpoint} refused response_format {LEVELS[used]}{said}, so the rest of the run asks for "
                    f"{_SAID[LEVELS[self._level]]}"
                )
        return True
