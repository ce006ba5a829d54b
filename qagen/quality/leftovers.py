"""Leftovers in a question or answer: template syntax that was never rendered, pieces of the model's JSON reply.

Unrendered Jinja, chat-template special tokens and str.format placeholders in a pair mean a
template leaked into the data. But a document *about* templating holds the same syntax, and
a pair that quotes it is fine: so syntax that its source text holds is not a leftover.
"""

from __future__ import annotations

import re

# A whole {{ ... }} or {% ... %} is matched where there is one, so that a quoted expression
# is compared with the source as a whole: a chunk showing {{ user.name }} does not excuse
# a leaked {{ info }}.
_TEMPLATE_SYNTAX = re.compile(
    r"\{\{[^{}]{0,200}?\}\}|\{%[^{}]{0,200}?%\}"
    r"|\{\{|\}\}|\{%|%\}"
    r"|<\|[A-Za-z0-9_]+\|>"
    r"|\[/?INST\]|<</?SYS>>|<(?:start|end)_of_turn>"
    r"|\{(?:question|answer|context|passage|chunk|document|source|info|text|n)\}"
)
# Pieces of the model's JSON reply that the parser should have removed.
_JSON_LEFTOVER = (
    re.compile(r'^\s*[\[{]\s*"'),  # opens like a JSON object or array
    re.compile(r'^\s*"\w+"\s*:'),  # opens with a key: "answer": ...
    re.compile(r'"(?:question|answer)"\s*:'),  # a question/answer key anywhere
    re.compile(r'"\s*[,}\]][\s,}\]]*$'),  # ends like a JSON string value: ", or "} or "]
    re.compile(r"^\s*```\s*json", re.IGNORECASE),  # a code fence around the reply
)
_SPACE = re.compile(r"\s+")


def _squeezed(text: str) -> str:
    # "{{user.name}}" quotes "{{ user.name }}": spacing inside template syntax means nothing.
    return _SPACE.sub("", text)


def template_leftover(text: str, source: str | None = None) -> str | None:
    """The first piece of template syntax in ``text`` that ``source`` (the text it was written from) does not hold."""
    squeezed_source: str | None = None
    for match in _TEMPLATE_SYNTAX.finditer(text):
        if source is None:
            return match.group()
        if squeezed_source is None:
            squeezed_source = _squeezed(source)
        if _squeezed(match.group()) not in squeezed_source:
            return match.group()
    return None


def json_leftover(text: str) -> bool:
    """True when the text still holds a piece of the JSON the model replied with."""
    return any(pattern.search(text) for pattern in _JSON_LEFTOVER)
