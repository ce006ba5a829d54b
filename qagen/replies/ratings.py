"""The judge's ratings in its reply: ``parse_ratings``.

The judge (``templates/judge.json``, and ``templates/eval_judge.json`` for ``qagen eval``)
sees pairs as JSON lines with short ids ``p1``..``pN`` (``short_id``) in the order given:
long hex ids are easy for a model to garble, and a short id costs fewer tokens.
``parse_ratings`` maps them back, so ``expected_ids`` must list the real pair ids in the
same order as the pairs that were shown. A reply that uses the real ids is accepted too.
Only id, score and reason are read from the reply; any question or answer text the judge
echoes is ignored.

A pure function of the reply text, like every reader in ``qagen.replies``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from qagen.replies.jsonscan import JSON_OPENER, JsonBreak, JsonReader
from qagen.replies.reasoning import answer_start

MIN_SCORE = 1
MAX_SCORE = 5


@dataclass(frozen=True)
class Rating:
    """The judge's verdict on one pair."""

    pair_id: str  # the real pair id
    score: int  # 1..5
    reason: str


def short_id(position: int) -> str:
    """The id the judge sees for the pair at ``position`` (from 0)."""
    return f"p{position + 1}"


_ID_KEYS = ("id", "pair_id", "pairid", "pair id", "pair")
_SCORE_KEYS = ("score", "rating")
_REASON_KEYS = ("reason", "reasoning", "explanation", "rationale", "justification", "comment")
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_SCORE_TEXT = re.compile(r"(\d+(?:\.0+)?)\s*(?:/\s*5|out\s+of\s+5)?", re.IGNORECASE)
_MAX_DEPTH = 8
_SNIPPET = 80


def parse_ratings(reply: str, expected_ids: Sequence[str]) -> tuple[dict[str, Rating], list[str]]:
    """Read the judge's ratings from its reply.

    ``expected_ids`` are the real ids of the pairs shown to the judge
    (``qagen.quality.judge.render_pairs_for_judge``), in the same order. Returns the ratings keyed by real pair id, and every problem as a sentence:
    unknown or duplicate ids, scores that are not whole numbers from 1 to 5, malformed lines,
    and expected pairs the reply never rated. Accepts JSON lines, a JSON array, an object
    wrapping a list, code fences, prose around the JSON and a reasoning block before it.
    """
    ids = list(expected_ids)
    if len(set(ids)) != len(ids):
        raise ValueError("expected_ids must not repeat a pair id")
    by_short = {short_id(i): real for i, real in enumerate(ids)}
    real_ids = set(ids)

    ratings: dict[str, Rating] = {}
    problems: list[str] = []
    seen: set[str] = set()  # real ids the reply mentioned, valid or not
    if not reply.strip():
        problems.append("The judge's reply is empty.")
    for obj in _objects_in(reply, problems):
        _read_rating(obj, by_short, real_ids, ratings, seen, problems)
    for position, real in enumerate(ids):
        if real not in seen:
            problems.append(f"The judge gave no rating for pair {real} ({short_id(position)}).")
    return ratings, problems


def _resolve_id(value: Any, by_short: dict[str, str], real_ids: set[str]) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = f"p{value}"  # a bare position: the judge dropped the "p"
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text in real_ids:
        return text
    key = text.lower()
    if key.isdigit():
        key = f"p{int(key)}"
    return by_short.get(key)


def _read_score(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        match = _SCORE_TEXT.fullmatch(value.strip())
        if match is None:
            return None
        value = int(float(match.group(1)))
    if isinstance(value, int) and MIN_SCORE <= value <= MAX_SCORE:
        return value
    return None


def _read_rating(
    obj: dict[str, Any],
    by_short: dict[str, str],
    real_ids: set[str],
    ratings: dict[str, Rating],
    seen: set[str],
    problems: list[str],
) -> None:
    fields: dict[str, Any] = {}
    for key, value in obj.items():
        fields.setdefault(str(key).strip().lower(), value)
    id_key = next((k for k in _ID_KEYS if k in fields), None)
    score_key = next((k for k in _SCORE_KEYS if k in fields), None)
    if id_key is None:
        problems.append(f"A rating has no pair id: {_snippet(json.dumps(obj, ensure_ascii=False))}")
        return
    raw_id = fields[id_key]
    real = _resolve_id(raw_id, by_short, real_ids)
    if real is None:
        problems.append(f"The judge rated an unknown pair id {_snippet(json.dumps(raw_id, ensure_ascii=False))}.")
        return
    if real in seen:
        problems.append(f"The judge rated pair {real} more than once; the first rating is kept.")
        return
    seen.add(real)
    if score_key is None:
        problems.append(f"The judge's rating for pair {real} has no score.")
        return
    score = _read_score(fields[score_key])
    if score is None:
        problems.append(
            f"The judge's score {_snippet(json.dumps(fields[score_key], ensure_ascii=False))} for pair {real} "
            f"is not a whole number from {MIN_SCORE} to {MAX_SCORE}."
        )
        return
    reason = next((fields[k] for k in _REASON_KEYS if k in fields), "")
    reason = "" if reason is None else reason if isinstance(reason, str) else json.dumps(reason, ensure_ascii=False)
    ratings[real] = Rating(pair_id=real, score=score, reason=reason.strip())


def _objects_in(reply: str, problems: list[str]) -> Iterator[dict[str, Any]]:
    """Every JSON object in the reply that is a rating or lists ratings, in order.

    Values are decoded whole (``JsonReader.decode_tolerant``), not walked entry by entry: a list
    that does not decode is searched for the objects inside it, and a damaged object is reported
    as its line.
    """
    begin = answer_start(reply)
    if begin is None:
        problems.append("The judge's reply holds only its reasoning block (cut off before any rating?).")
        return
    # Read from the end of the reasoning block on, which counts as the start of a line.
    text = reply[begin:]
    reader = JsonReader(text)
    pos = 0
    while True:
        match = JSON_OPENER.search(text, pos)
        if match is None:
            return
        start = match.start()
        decoded = _decode_at(reader, start)
        if decoded is not None:
            value, end = decoded
            yield from _ratings_within(value, 0)
            pos = end
        elif text[start] == "[":
            pos = start + 1  # look for the objects inside a list that does not parse as a whole
        elif _looks_like_object(text, start):
            line_end = reader.line_end(start)
            problems.append(f"A line of the judge's reply is not valid JSON: {_snippet(text[start:line_end])}")
            pos = line_end
        else:
            pos = start + 1  # a brace in prose


def _decode_at(reader: JsonReader, start: int) -> tuple[Any, int] | None:
    """The JSON value at ``start`` and where it ends, or None when it does not parse."""
    decoded = reader.decode_tolerant(start)
    if not isinstance(decoded, JsonBreak):
        return decoded
    text = reader.text
    if text[start] != "{":
        return None
    # A trailing comma before a closing bracket, on a one-line object: the object takes the line.
    line_end = reader.line_end(start)
    fixed = JsonReader(_TRAILING_COMMA.sub(r"\1", text[start:line_end])).decode(0)
    if isinstance(fixed, JsonBreak):
        return None
    return fixed[0], line_end


def _ratings_within(value: Any, depth: int) -> Iterator[dict[str, Any]]:
    if depth > _MAX_DEPTH:
        return
    if isinstance(value, list):
        for item in value:
            yield from _ratings_within(item, depth + 1)
    elif isinstance(value, dict):
        keys = {str(k).strip().lower() for k in value}
        if keys & set(_ID_KEYS) or keys & set(_SCORE_KEYS):
            yield value
        else:
            # {"ratings": [...]} and the like; other members (a summary, a count) are not ratings.
            for item in value.values():
                if isinstance(item, (list, dict)):
                    yield from _ratings_within(item, depth + 1)


def _looks_like_object(text: str, start: int) -> bool:
    rest = text[start + 1 : start + 40].lstrip()
    if not rest or rest[0] in "\"'":
        return True
    line_start = text.rfind("\n", 0, start) + 1
    return not text[line_start:start].strip(" \t-*>,0123456789.)")


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SNIPPET else text[: _SNIPPET - 1] + "…"
