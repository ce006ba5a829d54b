"""The sentence a model quoted as the answer in its reply to ``templates/idk_check.json``.

A small model asked only for a verdict answered ``"answered": false`` to every check, so the
check dropped nothing. The template asks for the sentence that answers the question first
(``"quote"``); a quote that is really in the passages shown, long enough to state something
and about what the question asks, is evidence the question is answered, whatever verdict
follows it.
"""

from __future__ import annotations

from typing import Any

from qagen.quality.retrieval import tokenize
from qagen.quality.text import fold, squash
from qagen.replies.jsonscan import JsonReader, json_values, plain_value
from qagen.replies.reasoning import answer_start

__all__ = ["quoted_answer"]

_QUOTE_KEYS = ("quote", "evidence", "supporting_quote", "sentence")
_MIN_WORDS = 4  # "on board" finds itself anywhere; a finding states a fact


def quoted_answer(reply: str, passages: str, question: str) -> str | None:
    """The quote of ``reply`` when it is evidence the passages answer ``question``; else None.

    Evidence: at least four words, found in ``passages`` (case, quotes and spacing folded, an
    ending full stop or ellipsis ignored), sharing a content term with the question.
    """
    start = answer_start(reply)
    if start is None:
        return None
    shown = _plain(passages)
    asked = set(tokenize(question))
    for node in json_values(JsonReader(reply), start):
        if node.error is not None:
            continue
        for quote in _quotes(plain_value(node)):
            text = _plain(quote).strip(" .\u2026\"'")
            if len(text.split()) >= _MIN_WORDS and text in shown and asked & set(tokenize(text)):
                return quote
    return None


def _quotes(value: Any) -> list[str]:
    if isinstance(value, list):
        return [quote for item in value for quote in _quotes(item)]
    if not isinstance(value, dict):
        return []
    fields = {key.strip().lower(): item for key, item in value.items() if isinstance(key, str)}
    found = [fields[key] for key in _QUOTE_KEYS if isinstance(fields.get(key), str)]
    return found + [quote for item in value.values() if isinstance(item, (dict, list)) for quote in _quotes(item)]


def _plain(text: str) -> str:
    return squash(fold(text))
