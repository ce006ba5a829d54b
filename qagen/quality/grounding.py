"""Is a grounded pair's answer supported by the chunk it came from?

Two layers. The lexical check here is cheap and always on; the few-shot judge
(``templates/judge.json``) is opt-in: ``qagen.quality.judge`` asks it and
``qagen.replies.ratings`` reads its reply.

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
3. The rest of the answer (numbers blanked out) goes through ``qagen.quality.retrieval.tokenize``
   (lower case, stop words removed, light stemming), the same function as retrieval, so
   "opened" matches "opens". A chunk that writes ``%``, ``£``, ``$`` or ``€`` also offers
   the words "percent", "pound", "dollar" or "euro".
4. ``score`` is the share of the answer's distinct terms (content terms and numbers) that
   the chunk holds; ``missing`` lists the rest as they are written in the answer.
5. When the whole answer occurs in the chunk (both ``qagen.quality.text.fold``-ed and
   whitespace collapsed, trailing full stop ignored, on word and number boundaries), ``exact_span`` is true and the score
   is 1.0. An answer with no content term and no number ("It is.") scores 0 even then:
   there is nothing in it to check.
6. ``is_supported``: no missing number, and a positive score at or above the threshold.
   A number the chunk does not hold sinks the answer whatever its word score, because a
   hallucinated figure is the most harmful error a dataset can teach.

The chunk's side (terms, numbers, normalised text) is cached by chunk text, because each
chunk is checked once per pair it produced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from qagen.quality.retrieval import tokenize
from qagen.quality.text import fold, squash

__all__ = [
    "Support",
    "is_supported",
    "is_refusal",
    "lexical_support",
]


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
# Same definition of a word as qagen.quality.retrieval, so each word yields at most one term.
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
    # Punctuation is kept, unlike the other normalisations built on ``fold``: the answer must
    # occur in the chunk as written, on word and number boundaries.
    return squash(fold(text))


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
    missing_words: list[str] = []
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
