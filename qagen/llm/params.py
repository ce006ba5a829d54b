"""The request parameters a chat template may set, and the values each may take.

A template's ``params`` go to every request made from it. A wrong type or range would
otherwise surface as a 400 from the endpoint, after the run has started (or, on a lenient
local server, never), so they are checked when the template loads. The ranges are those
of the OpenAI chat completions API, which the compatible servers follow.

A ``response_format`` of type ``json_schema`` describes one reply whatever the count asked
for; ``pinned_response_format`` fits it to one request (``minItems`` = ``maxItems`` = n).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

MAX_STOP_SEQUENCES = 4  # the chat completions API takes at most four
RESPONSE_FORMAT_TYPES = ("text", "json_object", "json_schema")


def _is_int(value: object) -> bool:
    # JSON true is a bool, which Python counts as an int; in a template it is a mistake.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _number_from(low: float, high: float) -> tuple[str, Callable[[object], bool]]:
    def check(value: object) -> bool:
        # json.loads reads NaN and Infinity; neither is a usable setting.
        return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value) and low <= value <= high

    return f"a number from {low:g} to {high:g}", check


def _is_stop(value: object) -> bool:
    if isinstance(value, str):
        return value != ""
    return (
        isinstance(value, list)
        and 1 <= len(value) <= MAX_STOP_SEQUENCES
        and all(isinstance(item, str) and item for item in value)
    )


def _is_response_format(value: object) -> bool:
    if not isinstance(value, dict) or value.get("type") not in RESPONSE_FORMAT_TYPES:
        return False
    if value["type"] != "json_schema":
        return True
    schema = value.get("json_schema")
    return isinstance(schema, dict) and isinstance(schema.get("name"), str) and bool(schema["name"])


# name -> (what is allowed, in words; the check)
PARAMS: dict[str, tuple[str, Callable[[object], bool]]] = {
    "temperature": _number_from(0, 2),
    "top_p": _number_from(0, 1),
    "presence_penalty": _number_from(-2, 2),
    "frequency_penalty": _number_from(-2, 2),
    "max_tokens": ("a whole number of at least 1", _is_positive_int),
    "max_completion_tokens": ("a whole number of at least 1", _is_positive_int),
    "seed": ("a whole number", _is_int),
    "stop": (f"text or a list of up to {MAX_STOP_SEQUENCES} texts, none of them empty", _is_stop),
    "response_format": (
        "an object whose type is text, json_object or json_schema (json_schema also needs a json_schema object with a name)",
        _is_response_format,
    ),
}
ALLOWED_PARAMS = frozenset(PARAMS)


def param_problem(name: str, value: object) -> str | None:
    """What ``name`` must be, when ``value`` is not a valid value for it; None when it is."""
    allowed, check = PARAMS[name]
    return None if check(value) else allowed


def pinned_response_format(response_format: dict[str, Any], count: int) -> dict[str, Any]:
    """``response_format`` with each list at the root of its schema held to exactly ``count`` items.

    A schema that lets the list be empty gets ``{"pairs": []}`` from a small model every time;
    one that pins it gets the count the prompt asks for, where the server enforces the schema.
    A list that sets ``minItems`` or ``maxItems`` itself is the template's choice and stays.
    The template's own dicts are never changed: a copy is returned.
    """
    json_schema = response_format.get("json_schema")
    if response_format.get("type") != "json_schema" or not isinstance(json_schema, dict):
        return response_format
    schema = json_schema.get("schema")
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(schema, dict) or not isinstance(properties, dict):
        return response_format
    pinned = {
        name: {**spec, "minItems": count, "maxItems": count}
        if isinstance(spec, dict) and spec.get("type") == "array" and "minItems" not in spec and "maxItems" not in spec
        else spec
        for name, spec in properties.items()
    }
    return {**response_format, "json_schema": {**json_schema, "schema": {**schema, "properties": pinned}}}
