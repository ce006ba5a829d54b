"""Is a grounded pair's answer supported by the chunk it came from?

Two layers. The lexical checks here are cheap and always on: ``check_grounding`` (the pair in
context, rules in its docstring) builds on ``lexical_support`` (the answer against a text); the few-shot judge
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
from collections.abc import Iterable, Sequence
from typing import NamedTuple
from functools import cached_property, lru_cache
from itertools import pairwise

from qagen.quality.passages import sentences, windows
from qagen.quality.retrieval import tokenize
from qagen.quality.text import fold, squash

__all__ = [
    "Grounding",
    "Support",
    "check_grounding",
    "corpus_terms",
    "example_text",
    "names",
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
_CURRENCY_SIGN_TUPLE = tuple(_CURRENCY_SIGNS)

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
# look-behind). Leading with a character set lets the regex engine skip to candidates; profiled:
# finding the numbers by trying both patterns at every position took 1.6 s of 11.8 at 10 MB, by
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
    pieces = []
    at = 0
    for match in matches:
        start, end = match.span()
        pieces += (text[at:start], " " * (end - start))
        at = end
    pieces.append(text[at:])
    return "".join(pieces)


def _normalise(text: str) -> str:
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
    """The content terms of ``text`` (``blanked``: as ``_split_numbers`` leaves it)."""
    terms = set(tokenize(blanked))
    terms.update(word for symbol, word in _SYMBOL_WORDS.items() if symbol in text)
    return terms


def _read(text: str) -> _Reading:
    found, blanked = _split_numbers(text)
    terms = _terms(text, blanked)
    if not found:
        return _Reading(frozenset(terms), _NONE, _NONE, frozenset(sign for sign in _CURRENCY_SIGNS if sign in text))
    numbers = {key for key, _ in found}
    # An amount also supports the bare figure: an answer's "9.40" is found in "£9.40", "40" in "40%".
    # Not the other way round: "10%" is not found in "10-journey".
    numbers.update(key.lstrip(_CURRENCY_SIGNS).rstrip("%") for key, _ in found)
    # A price table often puts the currency in its header ("Fare (£)") and bare "9.40" in its
    # cells; a figure with decimals counts as an amount in each currency the passage names.
    # Whole numbers do not, so "Route 3" never backs "£3".
    decimals = {
        key for key, written in found
        if key[0] not in _CURRENCY_SIGNS and not key.endswith("%") and "." in written and ":" not in written
    }
    signs = {sign for sign in _CURRENCY_SIGNS if sign in text}
    return _Reading(frozenset(terms), frozenset(numbers), frozenset(decimals), frozenset(signs))


@dataclass(frozen=True)
class _ChunkProfile:
    terms: frozenset[str]
    numbers: frozenset[str]  # number keys, including the values of number words
    source: str  # the text as given

    @cached_property
    def text(self) -> str:
        """Lower case, whitespace collapsed, for span search; made on first use, as most windows never need it."""
        return _normalise(self.source)


def _profile(readings: Sequence[_Reading], text: str) -> _ChunkProfile:
    """The profile of ``text``, made of the readings of its pieces ("\n".join of them, see ``_window_profiles``)."""
    terms = frozenset().union(*(r.terms for r in readings))
    currencies = set().union(*(r.signs for r in readings))
    currencies.update(_CURRENCY_WORDS[word] for word in terms.intersection(_CURRENCY_WORDS))
    numbers = set().union(*(r.numbers for r in readings))
    if currencies:
        numbers.update(sign + key for r in readings for key in r.decimals for sign in currencies)
    numbers.update(_NUMBER_TERMS[term] for term in terms.intersection(_NUMBER_TERMS))
    return _ChunkProfile(terms, frozenset(numbers), text)


@lru_cache(maxsize=4096)  # each chunk is checked once per pair it produced
def _chunk_profile(chunk_text: str) -> _ChunkProfile:
    return _profile((_read(chunk_text),), chunk_text)


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
    return _support(answer, _chunk_profile(chunk_text))


@lru_cache(maxsize=256)  # an answer's sentence is held against several windows of its chunk
def _answer_side(answer: str) -> tuple[dict[str, str], list[str], str, str]:
    numbers, blanked = _split_numbers(answer)
    number_forms: dict[str, str] = {}
    for key, written in numbers:
        number_forms.setdefault(key, written)
    words = list(dict.fromkeys(tokenize(blanked)))
    return number_forms, words, blanked, _normalise(answer).rstrip(".").strip()


def _support(answer: str, chunk: _ChunkProfile) -> Support:
    if not answer.strip() or is_refusal(answer):
        return Support(score=0.0, missing=(), exact_span=False)
    number_forms, words, blanked, span_text = _answer_side(answer)
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


# --------------------------------------------------------------------------- the pair, in context


@dataclass(frozen=True)
class Grounding:
    """Why a grounded pair is not supported by its chunk."""

    reason: str  # example_leak, not_grounded, question_not_grounded, facts_apart
    detail: str  # one sentence


# A name: a capitalised word (or a run of them) of letters and digits ("MV Heather Bell", "SR-4").
_NAME_WORD = re.compile(r"(?<![\w'’-])[A-Z][\w'’]*(?:-\w+)*")
_OPENERS = ".!?:;\n\"“("  # what a word after them opens (spaces in between skipped)


def _opens_sentence(text: str, start: int) -> bool:
    # Looks back over spaces only, never the whole text: an answer of 100,000 words stays linear.
    while start > 0 and text[start - 1] in " \t":
        start -= 1
    return start == 0 or text[start - 1] in _OPENERS


def names(text: str) -> list[str]:
    """The capitalised names of ``text`` ("MV Heather Bell", "Malden & Rusk", "SR-4"), each once, as written.

    A capitalised word that opens a sentence counts only as part of a longer name ("Morag
    Innesley was..."), since every sentence opens with one ("The", "When").
    """
    runs: list[list[re.Match[str]]] = []
    for word in _NAME_WORD.finditer(text):
        if runs and text[runs[-1][-1].end() : word.start()] in (" ", " & "):
            runs[-1].append(word)
        else:
            runs.append([word])
    found: list[str] = []
    for run in runs:
        if _opens_sentence(text, run[0].start()) and (len(run) == 1 or not tokenize(run[0].group())):
            run = run[1:]  # "When", or "The" of "The MV Heather Bell"
        if not run or (len(run) == 1 and len(run[0].group()) < 2):
            continue
        if not tokenize(" ".join(w.group() for w in run)):
            continue  # "The", "I"
        found.append(text[run[0].start() : run[-1].end()])
    return list(dict.fromkeys(found))


def example_text(messages: Sequence[object]) -> str:
    """The worked example of a generation template: its messages between the system message and the last.

    The last message holds the chunk and the system message the rules (a user's own may well
    name their documents' subject); what is in between is a made-up passage and its pairs,
    whose names must never reach the dataset unless the chunk has them too.
    """
    contents = [getattr(m, "content", "") for m in messages]
    roles = [getattr(m, "role", "") for m in messages]
    return "\n".join(c for c, r in zip(contents[:-1], roles[:-1]) if r != "system")


def _anchors(text: str) -> tuple[set[str], set[str]]:
    """The number keys and name terms of ``text``: what must be found, not merely most of it."""
    numbers = {key for key, _ in _split_numbers(text)[0]}
    return numbers, _name_terms(names(text))


def _name_terms(found: Sequence[str]) -> set[str]:
    # Digits of "SR-4" are checked as numbers; number words ("Route Four") likewise.
    return {term for name in found for term in tokenize(name) if not term.isdigit() and term not in _NUMBER_TERMS}


def corpus_terms(chunk_texts: Iterable[str]) -> frozenset[str]:
    """Every content term of the chunks, for ``check_grounding``'s ``corpus_terms``."""
    # Terms only, not the chunks' profiles: profiled, those took 3.3 s of 11.8 at 10 MB, and a cache of
    # every chunk's profile would hold some 3 MB per MB of corpus.
    found: set[str] = set()
    for text in chunk_texts:
        found |= _terms(text, _find_numbers(text)[1])
    return frozenset(found)


def _holds(profile: _ChunkProfile, numbers: set[str], name_terms: set[str]) -> bool:
    return numbers <= profile.numbers and name_terms <= profile.terms


def check_grounding(
    question: str,
    answer: str,
    chunk_text: str,
    *,
    threshold: float = 0.5,
    example: str = "",
    corpus_terms: frozenset[str] = frozenset(),
) -> Grounding | None:
    """None when the chunk supports the pair; else why not.

    1. ``example_leak``: the question or answer names something (or states a figure of two digits
       or more) of the template's worked example (``example``, see ``example_text``) that the chunk
       does not hold.
    2. ``not_grounded``: ``lexical_support`` of the answer by the whole chunk fails.
    3. ``question_not_grounded``: a number of the question is not in the chunk, or a name is in
       neither the chunk nor the rest of the corpus (``corpus_terms``): a question may name the
       documents' subject ("the Brannoch Sound ferries") from another chunk, not an invented one.
    4. ``facts_apart``: some sentence of the answer is not supported, with all its numbers and
       names, by one window of the chunk (a sentence and its neighbours, with its heading, table
       header or block title: ``qagen.quality.passages.windows``), or no such window of the
       answer also holds the question's names and numbers. The right figure of the wrong fact
       fails here.
    """
    chunk = _chunk_profile(chunk_text)
    if example:
        leaked = _leaked(f"{question}\n{answer}", example, chunk)
        if leaked:
            return Grounding("example_leak", f"The pair names {', '.join(leaked[:3])} from the template's example, which its chunk does not mention.")

    support = lexical_support(answer, chunk_text)
    if not is_supported(support, threshold):
        if support.missing_numbers:
            detail = f"The answer states {', '.join(support.missing_numbers[:5])}, which its chunk does not contain."
        else:
            missing = ", ".join(support.missing[:8]) or "its key terms"
            detail = f"Only {support.score:.0%} of the answer's terms are in its chunk (missing: {missing})."
        return Grounding("not_grounded", detail)

    q_numbers, _ = _anchors(question)
    q_names = _name_terms(names(question)) & chunk.terms  # those from elsewhere cannot be near the answer
    absent = [n for n in names(question) if not _name_terms([n]) - chunk.terms <= corpus_terms]  # no union: the corpus's terms are many
    absent += [w for k, w in _split_numbers(question)[0] if k not in chunk.numbers]
    if absent:
        return Grounding("question_not_grounded", f"The question mentions {', '.join(absent[:3])}, which its chunk does not contain.")

    profiles = _window_profiles(chunk_text)
    near_question = not q_numbers and not q_names
    for sentence in sentences(answer) or [answer]:
        numbers, name_terms = _anchors(sentence)
        if not numbers and not name_terms:
            words = set(tokenize(_split_numbers(sentence)[1]))
            if len(words) < 2:
                continue  # "Yes." or "Correct." states no fact to find; the whole answer was checked above
            candidates = [p for p in profiles if not words.isdisjoint(p.terms)]  # a window sharing a word
        else:
            candidates = [p for p in profiles if _holds(p, numbers, name_terms)]  # windows holding every anchor
        # A verbatim span of the chunk states its facts together by definition.
        holding = [p for p in candidates if support.exact_span or is_supported(_support(sentence, p), threshold)]
        if not holding and not support.exact_span:
            return Grounding("facts_apart", f"No passage of its chunk states together what the answer says in: {_short(sentence)}")
        near_question = near_question or any(_holds(p, q_numbers, q_names) for p in holding)
    if not near_question:
        asked = ", ".join(sorted(names(question) + [w for _, w in _split_numbers(question)[0]]))
        return Grounding("facts_apart", f"The answer is not stated near what the question asks about ({asked}).")
    return None


# Where "\n".join-ing two pieces makes a number the pieces do not have apart: "£" + "5" reads as "£5"
# (a currency sign may stand one space from its figure), "5 per" + "cent" as "5%".
_DIGIT_AT_START = re.compile(r"\d")
_PER_AT_END = re.compile(r"per\s*\Z", re.IGNORECASE)
_CENT_AT_START = re.compile(r"\s*cent", re.IGNORECASE)


def _joins_apart(before: str, after: str) -> bool:
    """Whether ``before + "\n" + after`` may hold a number that neither piece holds."""
    # The anchored test on ``after`` first: it fails at once for nearly every pair of pieces.
    return bool(
        (_DIGIT_AT_START.match(after) and before.endswith(_CURRENCY_SIGN_TUPLE))
        or (_CENT_AT_START.match(after) and _PER_AT_END.search(before))
    )


@lru_cache(maxsize=64)
def _window_profiles(chunk_text: str) -> tuple[_ChunkProfile, ...]:
    """The profiles of the chunk's windows (``qagen.quality.passages.windows``), in order.

    A window is its pieces (sentences, headings, a table header) joined by "\n", and a piece
    sits in several windows: each piece is read once and a window's profile made of its pieces'
    readings, which is the profile of the window's text unless a number spans two pieces
    (``_joins_apart``; then the window is read whole). Profiled: reading each window whole took
    some 40% of the check stage.
    """
    readings: dict[str, _Reading] = {}
    profiles = []
    for window in windows(chunk_text):
        pieces = window.split("\n")
        if any(_joins_apart(before, after) for before, after in pairwise(pieces)):
            profiles.append(_profile((_read(window),), window))
            continue
        for piece in pieces:
            if piece not in readings:
                readings[piece] = _read(piece)
        profiles.append(_profile([readings[piece] for piece in pieces], window))
    return tuple(profiles)


@lru_cache(maxsize=8)  # one example per template, checked for every pair
def _example_anchors(example: str) -> tuple[frozenset[str], frozenset[str]]:
    numbers, name_terms = _anchors(example)
    return frozenset(numbers), frozenset(name_terms)


def _leaked(text: str, example: str, chunk: _ChunkProfile) -> list[str]:
    example_numbers, example_names = _example_anchors(example)
    found = []
    for name in names(text):
        terms = set(tokenize(name))
        if terms and terms <= example_names and not terms <= chunk.terms:
            found.append(name)
    for key, written in _split_numbers(text)[0]:
        if key in example_numbers and key not in chunk.numbers and len(key.strip(_CURRENCY_SIGNS + "%.:")) >= 2:
            found.append(written)
    return found


def _short(text: str, limit: int = 80) -> str:
    text = squash(text)
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."
