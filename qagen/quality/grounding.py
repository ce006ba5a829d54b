"""Is a grounded pair's answer supported by the chunk it came from?

Two layers. The lexical check is cheap and always on; the few-shot judge
(``templates/judge.json``) is opt-in and only its text handling lives here.

Lexical support (``lexical_support``)
-------------------------------------

1. An empty answer, or a refusal ("I don't know", "the passage does not say", "N/A",
   "there is no information ...") scores 0: a grounded pair must state something.
2. Numbers are read first and checked strictly. A number is a run of digits with an
   optional currency sign (``£ $ € ¥``), thousand separators (``1,912``), decimals
   (``9.40``), an ordinal ending (``2nd``) or a percent sign; ``06:15`` is one time.
   Both sides are normalised the same way: separators and ``%`` dropped, leading zeros and
   trailing decimal zeros removed, so ``1,912`` matches ``1912`` and ``06:15`` matches
   ``6:15``. An amount of money keeps its currency (a sign, or a word after it: "9.8 million
   pounds" is ``£9.8``): the answer's ``9.40`` and ``£9.40`` both match the chunk's ``£9.40``,
   but the answer's ``£3.00`` does not match the chunk's "Route 3". A bare figure with
   decimals ("9.40" in a table headed "Fare (£)") counts as an amount in every currency the
   chunk names. A chunk also offers the values
   of the number words it uses (``nine days`` offers 9), and a number word in the answer is
   found when the chunk has the word or its value; number words from two to a hundred are
   checked as strictly as digits ("one" and "zero" are not: "one" is too often a pronoun).
3. The rest of the answer (numbers blanked out) goes through ``qagen.retrieval.tokenize``
   (lower case, stop words removed, light stemming), the same function as retrieval, so
   "opened" matches "opens". A chunk that writes ``%``, ``£``, ``$`` or ``€`` also offers
   the words "percent", "pound", "dollar" or "euro".
4. ``score`` is the share of the answer's distinct terms (content terms and numbers) that
   the chunk holds; ``missing`` lists the rest as they are written in the answer.
5. When the whole answer occurs in the chunk (case and whitespace normalised, trailing
   full stop ignored, on word and number boundaries), ``exact_span`` is true and the score
   is 1.0. An answer with no content term and no number ("It is.") scores 0 even then:
   there is nothing in it to check.
6. ``is_supported``: no missing number, and a positive score at or above the threshold.
   A number the chunk does not hold sinks the answer whatever its word score, because a
   hallucinated figure is the most harmful error a dataset can teach.

The chunk's side (terms, numbers, normalised text) is cached by chunk text, because each
chunk is checked once per pair it produced.

Judge (``render_pairs_for_judge`` / ``parse_ratings``)
------------------------------------------------------

The judge sees pairs as JSON lines with short ids ``p1``..``pN`` in the order given:
long hex ids are easy for a model to garble, and a short id costs fewer tokens.
``parse_ratings`` maps them back, so ``expected_ids`` must list the real pair ids in the
same order as the pairs that were rendered. A reply that uses the real ids is accepted too.
Only id, score and reason are read from the reply; any question or answer text the judge
echoes is ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from qagen.replies.jsonscan import JSON_OPENER, JsonBreak, JsonReader, answer_start
from qagen.records import Pair
from qagen.quality.retrieval import tokenize

__all__ = [
    "MAX_SCORE",
    "MIN_SCORE",
    "Rating",
    "Support",
    "is_supported",
    "is_refusal",
    "lexical_support",
    "parse_ratings",
    "render_pairs_for_judge",
    "short_id",
]


# --------------------------------------------------------------------------- lexical support


@dataclass(frozen=True)
class Support:
    """How much of an answer its chunk supports."""

    score: float  # 0..1, share of the answer's content that the chunk supports
    missing: tuple[str, ...]  # answer terms / numbers not found in the chunk (for the reject reason)
    exact_span: bool  # the whole answer (whitespace/case normalised) occurs in the chunk
    missing_numbers: tuple[str, ...] = ()  # the numbers among ``missing``; any one makes the answer unsupported


# A number: optional currency sign, then a time, a number with thousand separators, or a plain
# number with optional decimals; then an optional ordinal ending or percent sign. Not preceded by
# a letter or digit, so "A82" and "x2" stay words.
_NUMBER = re.compile(
    r"(?<![^\W_])"
    r"(?P<currency>[£$€¥]\s?)?"
    r"(?P<core>\d{1,2}:\d{2}(?::\d{2})?|\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?!\d|[.:]\d)"
    r"(?:st|nd|rd|th|%)?"
    r"(?![^\W_])"
)
# A looser fallback for a number glued to a unit ("5.0m", "12kg"): digits not followed by digits.
_NUMBER_BEFORE_UNIT = re.compile(
    r"(?<![^\W_])(?P<currency>[£$€¥]\s?)?(?P<core>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?!\d|[.:]\d)(?=[^\W\d_])"
)
# A currency named after the amount: "9.8 million pounds", "40 euros", "12 USD".
_CURRENCY_WORDS = {
    "pound": "£", "pounds": "£", "gbp": "£",
    "dollar": "$", "dollars": "$", "usd": "$",
    "euro": "€", "euros": "€", "eur": "€",
    "yen": "¥", "jpy": "¥",
}
_CURRENCY_AFTER = re.compile(
    r"[ \t]*(?:(?:million|billion|thousand|bn|m|k)\b[ \t]*)?(" + "|".join(_CURRENCY_WORDS) + r")\b", re.IGNORECASE
)
# Same definition of a word as qagen.retrieval, so each word yields at most one term.
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")

_NUMBER_WORDS: dict[str, str] = {
    word: str(value)
    for value, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
}
_NUMBER_WORDS.update({"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70", "eighty": "80", "ninety": "90", "hundred": "100"})
# The stems tokenize gives these words, so a term can be looked up directly.
_NUMBER_TERMS: dict[str, str] = {term: value for word, value in _NUMBER_WORDS.items() for term in tokenize(word)}

_LOOSE_NUMBER_TERMS = frozenset(tokenize("one zero"))

# Symbols whose word a paraphrase may use instead ("4.5 percent" for "4.5%").
_SYMBOL_WORDS = {"%": "percent", "£": "pound", "$": "dollar", "€": "euro", "¥": "yen"}
_CURRENCY_SIGNS = "£$€¥"

_REFUSAL = re.compile(
    r"""
    ^\W*(?:i\s+(?:do\s+not|don'?t|cannot|can'?t|am\s+unable\s+to|am\s+not\s+able\s+to)\s+(?:know|say|tell|find|answer|determine))
    | ^\W*(?:i'?m|i\s+am)\s+(?:sorry|unable|not\s+sure)
    | ^\W*(?:unknown|n/?a|not\s+available|no\s+answer|not\s+applicable|unanswerable)\W*$
    | \b(?:not|never)\s+(?:mentioned|stated|specified|provided|given|covered|included|described|found)\s+in\s+the\s+(?:passage|text|document|context|source|information)
    | \b(?:passage|text|document|context|source)s?\s+(?:does\s+not|doesn'?t|do\s+not|don'?t)\s+(?:say|mention|state|specify|provide|contain|include|give|cover|tell|describe)
    | \b(?:there\s+is|there's)\s+no\s+(?:mention|information|indication)
    | \bno\s+information\s+(?:is\s+)?(?:given|provided|available)
    | \bnot\s+enough\s+information
    | \bcannot\s+be\s+(?:determined|answered)
    | \bas\s+an\s+ai\b
    """,
    re.IGNORECASE | re.VERBOSE,
)


def is_refusal(answer: str) -> bool:
    """Whether an answer declines to answer instead of stating something."""
    return _REFUSAL.search(answer) is not None


def _number_key(core: str) -> str:
    """One spelling per value: no separators, no leading zeros, no trailing decimal zeros."""
    if ":" in core:
        head, _, rest = core.partition(":")
        return f"{int(head)}:{rest}"
    whole, _, fraction = core.replace(",", "").partition(".")
    whole = whole.lstrip("0") or "0"
    fraction = fraction.rstrip("0")
    return f"{whole}.{fraction}" if fraction else whole


def _split_numbers(text: str) -> tuple[list[tuple[str, str]], str]:
    """The numbers of ``text`` as (key, as written), and the text with them blanked out.

    An amount of money ("£9.40", "9.8 million pounds") is keyed with its currency sign ("£9.4"),
    so that an answer's "£3.00" does not find its support in "Route 3".
    """
    found: list[tuple[str, str]] = []

    def take(match: re.Match[str]) -> str:
        key = _number_key(match.group("core"))
        sign = (match.group("currency") or "").strip()
        if not sign:
            unit = _CURRENCY_AFTER.match(match.string, match.end())
            sign = _CURRENCY_WORDS[unit.group(1).lower()] if unit else ""
        found.append((sign + key, match.group().strip()))
        return " " * len(match.group())  # same length, so the second pass sees the same text around

    blanked = _NUMBER.sub(take, text)
    blanked = _NUMBER_BEFORE_UNIT.sub(take, blanked)
    return found, blanked


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())


@dataclass(frozen=True)
class _ChunkProfile:
    terms: frozenset[str]
    numbers: frozenset[str]  # number keys, including the values of number words
    text: str  # lower case, whitespace collapsed, for span search


@lru_cache(maxsize=512)
def _chunk_profile(chunk_text: str) -> _ChunkProfile:
    found, blanked = _split_numbers(chunk_text)
    terms = set(tokenize(blanked))
    terms.update(word for symbol, word in _SYMBOL_WORDS.items() if symbol in chunk_text)
    numbers = {key for key, _ in found}
    # An amount also supports the bare figure: an answer's "9.40" is found in "£9.40".
    numbers.update(key.lstrip(_CURRENCY_SIGNS) for key, _ in found)
    # A price table often puts the currency in its header ("Fare (£)") and bare "9.40" in its
    # cells; a figure with decimals counts as an amount in each currency the chunk names.
    # Whole numbers do not, so "Route 3" never backs "£3".
    currencies = {sign for sign in _CURRENCY_SIGNS if sign in chunk_text}
    currencies.update(_CURRENCY_WORDS[word] for word in _CURRENCY_WORDS if word in terms)
    for key, written in found:
        if currencies and key[0] not in _CURRENCY_SIGNS and "." in written and ":" not in written:
            numbers.update(sign + key for sign in currencies)
    numbers.update(value for term, value in _NUMBER_TERMS.items() if term in terms)
    return _ChunkProfile(frozenset(terms), frozenset(numbers), _normalise(chunk_text))


def _surface_words(blanked_answer: str, terms: set[str]) -> dict[str, str]:
    """The first word of the answer that produced each of ``terms``, for the reject reason."""
    words: dict[str, str] = {}
    for match in _WORD.finditer(blanked_answer):
        for term in tokenize(match.group()):
            if term in terms:
                words.setdefault(term, match.group())
    return words


def _is_span(needle: str, haystack: str) -> bool:
    """Whether ``needle`` occurs in ``haystack`` without cutting a word or a number."""
    start = haystack.find(needle)
    while start >= 0:
        end = start + len(needle)
        if _clean_edge(haystack, start - 1, needle[0], -1) and _clean_edge(haystack, end, needle[-1], 1):
            return True
        start = haystack.find(needle, start + 1)
    return False


def _clean_edge(text: str, at: int, edge: str, step: int) -> bool:
    if at < 0 or at >= len(text):
        return True
    if text[at].isalnum() or text[at] == "_":
        return False
    # "9" is not a span of "9.40", nor "1" of "1,912".
    beyond = at + step
    return not (edge.isdigit() and text[at] in ".,:" and 0 <= beyond < len(text) and text[beyond].isdigit())


def lexical_support(answer: str, chunk_text: str) -> Support:
    """How much of ``answer`` the chunk supports (rules in the module docstring)."""
    if not answer.strip() or is_refusal(answer):
        return Support(score=0.0, missing=(), exact_span=False)
    chunk = _chunk_profile(chunk_text)

    numbers, blanked = _split_numbers(answer)
    number_forms: dict[str, str] = {}
    for key, written in numbers:
        number_forms.setdefault(key, written)
    words = list(dict.fromkeys(tokenize(blanked)))

    span_text = _normalise(answer).rstrip(".").strip()
    exact = bool(span_text) and _is_span(span_text, chunk.text)
    if not number_forms and not words:
        return Support(score=0.0, missing=(), exact_span=exact)

    if exact:
        # Normalisation can only widen a match, so a literal occurrence holds every term.
        return Support(score=1.0, missing=(), exact_span=True)

    missing_numbers = [written for key, written in number_forms.items() if key not in chunk.numbers]
    absent = [t for t in words if t not in chunk.terms and _NUMBER_TERMS.get(t) not in chunk.numbers]
    surface = _surface_words(blanked, set(absent)) if absent else {}
    missing_words = []
    for term in absent:
        # "nine" is as much a figure as "9"; "one" is too often a pronoun to count as one.
        strict = term in _NUMBER_TERMS and term not in _LOOSE_NUMBER_TERMS
        (missing_numbers if strict else missing_words).append(surface.get(term, term))
    total = len(number_forms) + len(words)
    found = total - len(missing_numbers) - len(missing_words)
    return Support(
        score=found / total,
        missing=tuple(missing_numbers + missing_words),
        exact_span=False,
        missing_numbers=tuple(missing_numbers),
    )


def is_supported(support: Support, threshold: float = 0.5) -> bool:
    """No number missing, and a positive score of at least ``threshold`` (0..1)."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"the support threshold must be between 0 and 1, got {threshold}")
    if support.missing_numbers:
        return False
    return support.score > 0.0 and support.score >= threshold


# --------------------------------------------------------------------------- judge

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


def render_pairs_for_judge(pairs: Sequence[Pair]) -> str:
    """The pairs as JSON lines ``{"id": "p1", "question": ..., "answer": ...}``, in order."""
    return "\n".join(
        json.dumps({"id": short_id(i), "question": pair.question, "answer": pair.answer}, ensure_ascii=False)
        for i, pair in enumerate(pairs)
    )


_ID_KEYS = ("id", "pair_id", "pairid", "pair id", "pair")
_SCORE_KEYS = ("score", "rating")
_REASON_KEYS = ("reason", "reasoning", "explanation", "rationale", "justification", "comment")
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_SCORE_TEXT = re.compile(r"(\d+(?:\.0+)?)\s*(?:/\s*5|out\s+of\s+5)?", re.IGNORECASE)
_MAX_DEPTH = 8
_SNIPPET = 80


def parse_ratings(reply: str, expected_ids: Sequence[str]) -> tuple[dict[str, Rating], list[str]]:
    """Read the judge's ratings from its reply.

    ``expected_ids`` are the real ids of the pairs given to ``render_pairs_for_judge``, in the
    same order. Returns the ratings keyed by real pair id, and every problem as a sentence:
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
