"""What a text offers an answer: its content terms and its numbers, read as ``qagen.quality.grounding`` compares them.

The rules (what a number is, how it is keyed, what an amount and a number word offer) are
``qagen.quality.grounding``'s, in its docstring; this module reads texts by them, fast enough to
read every chunk and every window of the chunks a run checks:

- ``split_numbers``: the numbers of a text, keyed, and the text with them blanked out;
- ``chunk_profile``: the terms, numbers and span text of a chunk (cached by text), each read
  on first use;
- ``chunk_windows``: the same for each window of a chunk (``qagen.quality.passages.windows``),
  each sentence read once per chunk rather than once per window it sits in, and only for the
  windows a pair needs, the chunk split into windows only as far as its pairs look;
- ``text_terms``: the terms alone, for the corpus's terms;
- ``search_form``, ``term_needle``, ``number_needle``: what a text must hold for its profile to
  hold a term or a number, so that the texts that cannot are never read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from itertools import pairwise
from typing import NamedTuple

from qagen.quality.passages import iter_windows
from qagen.quality.retrieval import tokenize
from qagen.quality.text import fold, squash

__all__ = [
    "CURRENCY_SIGNS", "NUMBER_TERMS", "ChunkProfile", "ChunkWindows", "Profile", "chunk_profile", "chunk_windows", "normalise", "number_needle",
    "search_form", "split_numbers", "term_needle", "text_terms",
]

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
_DIGIT = re.compile(r"\d")
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
# A share written out after the figure: "40 percent", "4.5 per cent".
_PERCENT_AFTER = re.compile(r"[ \t]*(?:percent|per\s+cent)\b", re.IGNORECASE)

_NUMBER_WORDS: dict[str, str] = {
    word: str(value)
    for value, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
}
_NUMBER_WORDS.update({"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70", "eighty": "80", "ninety": "90", "hundred": "100"})
# The stems tokenize gives these words, so a term can be looked up directly.
NUMBER_TERMS: dict[str, str] = {term: value for word, value in _NUMBER_WORDS.items() for term in tokenize(word)}


# Symbols whose word a paraphrase may use instead ("4.5 percent" for "4.5%").
_SYMBOL_WORDS = {"%": "percent", "£": "pound", "$": "dollar", "€": "euro", "¥": "yen"}
CURRENCY_SIGNS = "£$€¥"
_CURRENCY_SIGN_TUPLE = tuple(CURRENCY_SIGNS)


def _number_key(core: str) -> str:
    """One spelling per value: no separators, no leading zeros, no trailing decimal zeros."""
    if ":" in core:
        head, _, rest = core.partition(":")
        return f"{int(head)}:{rest}"
    whole, _, fraction = core.replace(",", "").partition(".")
    whole = whole.lstrip("0") or "0"
    fraction = fraction.rstrip("0")
    return f"{whole}.{fraction}" if fraction else whole


def split_numbers(text: str) -> tuple[list[tuple[str, str]], str]:
    """The numbers of ``text`` as (key, as written), and the text with them blanked out.

    An amount of money ("£9.40", "9.8 million pounds") is keyed with its currency sign ("£9.4"),
    so that an answer's "£3.00" does not find its support in "Route 3".
    """
    found: list[tuple[str, str]] = []
    matches, blanked = _find_numbers(text)
    for match in matches:
        key = _number_key(match.group("core"))
        sign = (match.group("currency") or "").strip()
        if not sign:
            unit = _CURRENCY_AFTER.match(match.string, match.end())
            sign = _CURRENCY_WORDS[unit.group(1).lower()] if unit else ""
        if match.group().rstrip().endswith("%") or _PERCENT_AFTER.match(match.string, match.end()):
            key += "%"
        found.append((sign + key, match.group().strip()))
    return found, blanked


def _find_numbers(text: str) -> tuple[list[re.Match[str]], str]:
    """The matches of ``_NUMBER``, then of ``_NUMBER_BEFORE_UNIT`` in the text the first left, and the text left."""
    if not _DIGIT.search(text):
        return [], text  # both patterns need a digit: most sentences have none, and each pass costs a call
    first = _matches(_NUMBER, text)
    blanked = _blank(text, first)  # same length, so the second pass sees the same text around
    second = _matches(_NUMBER_BEFORE_UNIT, blanked)
    return first + second, _blank(blanked, second)


# Where a number may start: a currency sign or a digit, not after a letter or digit (the patterns' own
# look-behind). Leading with a character set lets the regex engine skip to candidates. Profiled:
# trying both patterns at every position (``sub``) took some 1.6 s of the check stage's 11.8 at 10 MB,
# trying them only here half that.
_NUMBER_START = re.compile(r"[£$€¥\d](?<![^\W_].)")


def _matches(pattern: re.Pattern[str], text: str) -> list[re.Match[str]]:
    """The matches ``pattern.finditer`` gives, for the number patterns (each starts at a ``_NUMBER_START``)."""
    found = []
    search, match = _NUMBER_START.search, pattern.match
    at = 0
    while (start := search(text, at)) is not None:
        number = match(text, start.start())  # the look-behind sees the text before the position
        if number is None:
            at = start.start() + 1
        else:
            found.append(number)
            at = number.end()
    return found


def _blank(text: str, matches: list[re.Match[str]]) -> str:
    if not matches:
        return text
    pieces: list[str] = []
    at = 0
    for match in matches:
        start, end = match.span()
        pieces += (text[at:start], " " * (end - start))
        at = end
    pieces.append(text[at:])
    return "".join(pieces)


def normalise(text: str) -> str:
    # Punctuation is kept, unlike the other normalisations built on ``fold``: the answer must
    # occur in the chunk as written, on word and number boundaries.
    return squash(fold(text))


_NONE: frozenset[str] = frozenset()


class _Reading(NamedTuple):  # not a frozen dataclass: made some 100,000 times at 10 MB, and those are slower to make
    """What one piece of text offers, before the passage it sits in is known (see ``_profile``)."""

    terms: frozenset[str]
    numbers: frozenset[str]  # number keys, and the bare figure of each amount
    decimals: frozenset[str]  # bare figures with decimals: amounts in each currency the passage names
    signs: frozenset[str]  # the currency signs it writes


def _terms(text: str, blanked: str) -> set[str]:
    """The content terms of ``text`` (``blanked``: as ``split_numbers`` leaves it)."""
    terms = set(tokenize(blanked))
    terms.update(word for symbol, word in _SYMBOL_WORDS.items() if symbol in text)
    return terms


def _read(text: str) -> _Reading:
    found, blanked = split_numbers(text)
    terms = _terms(text, blanked)
    if not found:
        return _Reading(frozenset(terms), _NONE, _NONE, frozenset(sign for sign in CURRENCY_SIGNS if sign in text))
    numbers = {key for key, _ in found}
    # An amount also supports the bare figure: an answer's "9.40" is found in "£9.40", "40" in "40%".
    # Not the other way round: "10%" is not found in "10-journey".
    numbers.update(key.lstrip(CURRENCY_SIGNS).rstrip("%") for key, _ in found)
    # A price table often puts the currency in its header ("Fare (£)") and bare "9.40" in its
    # cells; a figure with decimals counts as an amount in each currency the passage names.
    # Whole numbers do not, so "Route 3" never backs "£3".
    decimals = {
        key for key, written in found
        if key[0] not in CURRENCY_SIGNS and not key.endswith("%") and "." in written and ":" not in written
    }
    signs = {sign for sign in CURRENCY_SIGNS if sign in text}
    return _Reading(frozenset(terms), frozenset(numbers), frozenset(decimals), frozenset(signs))


@dataclass(frozen=True)
class Profile:
    """What a chunk or a window offers an answer (the rules are ``qagen.quality.grounding``'s)."""

    terms: frozenset[str]
    numbers: frozenset[str]  # number keys, including the values of number words
    source: str  # the text as given

    @cached_property
    def text(self) -> str:
        """Lower case, whitespace collapsed, for span search; made on first use, as most windows never need it."""
        return normalise(self.source)


def _profile(readings: Sequence[_Reading], text: str) -> Profile:
    """The profile of ``text``, made of the readings of its pieces (joined by newlines, see ``ChunkWindows``)."""
    terms = frozenset().union(*(r.terms for r in readings))
    currencies = set().union(*(r.signs for r in readings))
    currencies.update(_CURRENCY_WORDS[word] for word in terms.intersection(_CURRENCY_WORDS))
    numbers = set().union(*(r.numbers for r in readings))
    if currencies:
        numbers.update(sign + key for r in readings for key in r.decimals for sign in currencies)
    numbers.update(NUMBER_TERMS[term] for term in terms.intersection(NUMBER_TERMS))
    return Profile(terms, frozenset(numbers), text)


class ChunkProfile:
    """The ``Profile`` of a whole chunk, read on first use of its terms or numbers.

    A pair whose answer is a span of its chunk and whose question states no figure needs only the
    span text, ``holds_term`` for the question's names and ``holds_number`` for its figures: at
    10 MB a chunk in five was read.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self._held: dict[str, bool] = {}
        self._terms_of_lines: dict[int, set[str]] = {}

    @cached_property
    def _whole(self) -> Profile:
        return _profile((_read(self.source),), self.source)

    def holds_term(self, term: str) -> bool:
        """``term in self.terms``, read from the lines that may hold it until the chunk is read whole.

        For a question's names: reading only the lines that hold a name's needle, the check read 947
        chunks whole at 10 MB instead of 2,036. No word, nor the blanking of a number, spans a
        newline, so the chunk's terms are those of its lines.
        """
        if "_whole" in self.__dict__:
            return term in self._whole.terms
        held = self._held.get(term)
        if held is None:
            needle = term_needle(term)
            if needle is None:
                held = term in self.terms
            else:
                held = needle in self._search_form and any(
                    needle in form and term in self._line_terms(index) for index, form in enumerate(self._line_forms)
                )
            self._held[term] = held
        return held

    def holds_number(self, key: str) -> bool:
        """``key in self.numbers``, found in the lines that hold its needle when that can tell, else read whole.

        For a question's figures and an example's: reading those lines first, the check read 562 chunks
        whole at 10 MB instead of 962. Unless two lines join into a number (``_joins_apart``), the chunk's
        profile is made of its lines' readings, so a key one of them holds is the chunk's; a key none holds
        may still come from a currency elsewhere, so the chunk is then read whole.
        """
        if "_whole" in self.__dict__ or self._lines_join:
            return key in self.numbers
        needle = number_needle(key)
        if needle is not None and needle not in self._search_form:
            return False
        digits = needle or key.lstrip(CURRENCY_SIGNS).rstrip("%")  # a small figure a number word may give too
        lines = self._lines
        if any(digits in form and key in _reading(lines[index]).numbers for index, form in enumerate(self._line_forms)):
            return True
        return key in self.numbers

    @cached_property
    def _lines_join(self) -> bool:
        return any(_joins_apart(before, after) for before, after in pairwise(self._lines))

    @cached_property
    def _search_form(self) -> str:
        return search_form(self.source)

    @cached_property
    def _lines(self) -> list[str]:
        return self.source.split("\n")

    @cached_property
    def _line_forms(self) -> list[str]:
        # The search form of each line: search_form keeps newlines, and lower-casing does not look across one.
        return self._search_form.split("\n")

    def _line_terms(self, index: int) -> set[str]:
        found = self._terms_of_lines.get(index)
        if found is None:
            found = self._terms_of_lines[index] = text_terms(self._lines[index])
        return found

    @property
    def terms(self) -> frozenset[str]:
        return self._whole.terms

    @property
    def numbers(self) -> frozenset[str]:
        return self._whole.numbers

    @cached_property
    def text(self) -> str:
        return normalise(self.source)


# Each chunk is checked once per pair it produced, its pairs one after another: 256 profiles kept rather than
# 4,096 took the 50 MB run's peak from 585 to 536 MB, for 11,000 profiles made instead of 10,467.
@lru_cache(maxsize=256)
def chunk_profile(chunk_text: str) -> ChunkProfile:
    return ChunkProfile(chunk_text)


# Where joining two pieces by a newline makes a number the pieces do not have apart: "£" + "5" reads as "£5"
# (a currency sign may stand one space from its figure), "5 per" + "cent" as "5%".
_DIGIT_AT_START = re.compile(r"\d")
_PER_AT_END = re.compile(r"per\s*\Z", re.IGNORECASE)
_CENT_AT_START = re.compile(r"\s*cent", re.IGNORECASE)


def _joins_apart(before: str, after: str) -> bool:
    """Whether ``before`` and ``after`` joined by a newline may hold a number that neither piece holds."""
    # The anchored test on ``after`` first: it fails at once for nearly every pair of pieces.
    return bool(
        (_DIGIT_AT_START.match(after) and before.endswith(_CURRENCY_SIGN_TUPLE))
        or (_CENT_AT_START.match(after) and _PER_AT_END.search(before))
    )


# Pieces read, by text: neighbouring chunks share headings and the text they overlap by (at 10 MB,
# one piece in six had been read for an earlier chunk). Past the limit the table starts again.
_READINGS: dict[str, _Reading] = {}
_MAX_READINGS = 5_000


class ChunkWindows:
    """The windows of a chunk (``qagen.quality.passages.windows``), each profiled on first use.

    A window is its pieces (sentences, headings, a table header) joined by newlines, and a piece
    sits in several windows: each piece is read once and a window's profile made of its pieces'
    readings, which is the profile of the window's text unless a number spans two pieces
    (``_joins_apart``; then the window is read whole). Profiled: reading each window whole took
    some 40% of the check stage. A pair needs only the windows that can hold its sentence's
    anchors (at 10 MB one window in eight): ``containing_all`` and ``containing_any`` find them
    by their text (``search_form``, ``term_needle``, ``number_needle``) before profiling any, and
    the chunk is split into windows only up to the last one a pair looked at
    (``qagen.quality.passages.iter_windows``).
    """

    def __init__(self, chunk_text: str) -> None:
        self._source = chunk_text
        self._ahead: Iterator[str] | None = iter_windows(chunk_text)
        self._texts: list[str] = []  # the windows read so far, each once, in order
        self._forms: list[str] = []  # their search forms
        self._profiles: list[Profile | None] = []
        self._seen: set[str] = set()

    @property
    def texts(self) -> tuple[str, ...]:
        """Every window, as ``qagen.quality.passages.windows`` gives them."""
        index = len(self._texts)
        while self._has(index):
            index += 1
        return tuple(self._texts)

    def profile(self, index: int) -> Profile:
        found = self._profiles[index]
        if found is None:
            found = self._profiles[index] = _window_profile(self._texts[index])
        return found

    def containing_all(self, needles: Sequence[str]) -> Iterator[Profile]:
        """The profiles of the windows whose ``search_form`` holds every needle, in order."""
        index = 0
        while self._has(index):
            form = self._forms[index]
            if all(needle in form for needle in needles):
                yield self.profile(index)
            index += 1

    def containing_any(self, needles: Sequence[str] | None) -> Iterator[Profile]:
        """The profiles of the windows whose ``search_form`` holds one of the needles (None: every window), in order."""
        index = 0
        while self._has(index):
            if needles is None or any(needle in self._forms[index] for needle in needles):
                yield self.profile(index)
            index += 1

    def _has(self, index: int) -> bool:
        """Whether the chunk has a window ``index``, reading the chunk on to it (windows are read as pairs need them)."""
        texts = self._texts
        while len(texts) <= index and self._ahead is not None:
            text = next(self._ahead, None)
            if text is None:
                self._ahead = None
                if texts:
                    break
                text = self._source  # a chunk without a unit is its own window
            if text not in self._seen:
                self._seen.add(text)
                texts.append(text)
                self._forms.append(search_form(text))
                self._profiles.append(None)
        return index < len(texts)


@lru_cache(maxsize=64)  # a chunk's pairs are checked one after another
def chunk_windows(chunk_text: str) -> ChunkWindows:
    return ChunkWindows(chunk_text)


def _window_profile(window: str) -> Profile:
    pieces = window.split("\n")
    if any(_joins_apart(before, after) for before, after in pairwise(pieces)):
        return _profile((_read(window),), window)
    return _profile([_reading(piece) for piece in pieces], window)


def _reading(piece: str) -> _Reading:
    found = _READINGS.get(piece)
    if found is None:
        if len(_READINGS) >= _MAX_READINGS:
            _READINGS.clear()
        found = _READINGS[piece] = _read(piece)
    return found


# ---------------------------------------------------------------- what a text must hold, found cheaply
#
# A text whose profile holds a term or a number holds a fixed string in its ``search_form``: a
# necessary test, made with ``in`` on the text instead of reading it, so that only the texts that
# pass are read. None: no such string is known, every text may hold it.


def search_form(text: str) -> str:
    """``text`` lower-cased, without apostrophes and commas: what ``term_needle`` and ``number_needle`` look in."""
    # tokenize lower-cases and drops apostrophes from words; keys drop thousand separators.
    return text.lower().replace("'", "").replace("’", "").replace(",", "")


_SYMBOL_TERMS = frozenset(_SYMBOL_WORDS.values())  # offered by a symbol, not a word
_NUMBER_VALUES = frozenset(_NUMBER_WORDS.values())  # offered by a number word


def term_needle(term: str) -> str | None:
    """What the ``search_form`` of a text holds if its profile's terms hold ``term``."""
    if term in _SYMBOL_TERMS or not term.isascii():
        return None
    # tokenize's stem is a prefix of its word, except for an "e" or "y" it may put at the end.
    return term[:-1] if term.endswith(("e", "y")) else term


def number_needle(key: str) -> str | None:
    """What the ``search_form`` of a text holds if its profile's numbers hold ``key``."""
    core = key.lstrip(CURRENCY_SIGNS).rstrip("%")  # the sign and the percent may come from words
    if core in _NUMBER_VALUES:
        return None
    if ":" in core:
        return ":" + core.partition(":")[2]  # the hour is keyed as int() reads it, the rest as written
    return core  # leading zeros and trailing decimal zeros gone: still a part of the figure as written


def text_terms(text: str) -> set[str]:
    """The content terms of ``text``, as its profile holds them, without reading its numbers' keys."""
    return _terms(text, _find_numbers(text)[1])
