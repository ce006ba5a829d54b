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

The chunk's side (terms, numbers, normalised text) is read by ``qagen.quality.profiles`` and
cached by chunk text, because each chunk is checked once per pair it produced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from collections.abc import Collection, Container, Iterable, Iterator, Sequence
from functools import cached_property, lru_cache

from qagen.quality.passages import sentences
from qagen.quality.profiles import (
    CURRENCY_SIGNS, NUMBER_TERMS, ChunkProfile, Profile, chunk_profile, chunk_windows, normalise, number_needle, search_form, split_numbers,
    term_needle, text_terms,
)
from qagen.quality.retrieval import tokenize
from qagen.quality.text import squash

__all__ = [
    "CorpusTerms",
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


# Same definition of a word as qagen.quality.retrieval, so each word yields at most one term.
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")

_LOOSE_NUMBER_TERMS = frozenset(tokenize("one zero"))

# A refusal opens the answer, or says so anywhere in it. The two kinds are two patterns: the opening ones
# are tried at the start only, and each of the others opens a word with one of a few letters, tested before
# its branches (7,079 answers of the 10 MB run: 0.12 -> 0.05 s as one pattern searched at every position).
_REFUSAL_OPENING = re.compile(
    r"""
    \W*(?:i\s+(?:do\s+not|don'?t|cannot|can'?t|am\s+unable\s+to|am\s+not\s+able\s+to)\s+(?:know|say|tell|find|answer|determine))
    | \W*(?:i'?m|i\s+am)\s+(?:sorry|unable|not\s+sure)
    | \W*(?:unknown|n/?a|not\s+available|no\s+answer|not\s+applicable|unanswerable)\W*$
    """,
    re.IGNORECASE | re.VERBOSE,
)
_REFUSAL_ANYWHERE = re.compile(
    r"""
    \b(?=[nptdcsa])(?:
      (?:not|never)\s+(?:mentioned|stated|specified|provided|given|covered|included|described|found)\s+in\s+the\s+(?:passage|text|document|context|source|information)
    | (?:passage|text|document|context|source)s?\s+(?:does\s+not|doesn'?t|do\s+not|don'?t)\s+(?:say|mention|state|specify|provide|contain|include|give|cover|tell|describe)
    | (?:there\s+is|there's)\s+no\s+(?:mention|information|indication)
    | no\s+information\s+(?:is\s+)?(?:given|provided|available)
    | not\s+enough\s+information
    | cannot\s+be\s+(?:determined|answered)
    | as\s+an\s+ai\b
    )
    """,
    re.IGNORECASE | re.VERBOSE,
)


def is_refusal(answer: str) -> bool:
    """Whether an answer declines to answer instead of stating something."""
    return _REFUSAL_OPENING.match(answer) is not None or _REFUSAL_ANYWHERE.search(answer) is not None


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


# Remembered for as many pairs as a large run checks: pairs.jsonl states each kept pair's figure after the
# check stage worked it out, and working it out again read every chunk once more (3.4 s of CPU at 10 MB,
# the chunk profiles' own cache being far smaller than a large corpus).
@lru_cache(maxsize=1 << 16)
def lexical_support(answer: str, chunk_text: str) -> Support:
    """How much of ``answer`` the chunk supports (rules in the module docstring)."""
    return _support(answer, chunk_profile(chunk_text))


@lru_cache(maxsize=256)  # an answer's sentence is held against several windows of its chunk
def _answer_side(answer: str) -> tuple[dict[str, str], list[str], str, str]:
    numbers, blanked = split_numbers(answer)
    number_forms: dict[str, str] = {}
    for key, written in numbers:
        number_forms.setdefault(key, written)
    words = list(dict.fromkeys(tokenize(blanked)))
    return number_forms, words, blanked, normalise(answer).rstrip(".").strip()


def _support(answer: str, chunk: Profile | ChunkProfile) -> Support:
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
    absent = [t for t in words if t not in chunk.terms and NUMBER_TERMS.get(t) not in chunk.numbers]
    surface = _surface_words(blanked, set(absent)) if absent else {}
    missing_words: list[str] = []
    for term in absent:
        # "nine" is as much a figure as "9"; "one" is too often a pronoun to count as one.
        strict = term in NUMBER_TERMS and term not in _LOOSE_NUMBER_TERMS
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
    return list(_names(text))


# A pair's question and answer are looked at whole, then its answer sentence by sentence (most answers are one).
@lru_cache(maxsize=256)
def _names(text: str) -> tuple[str, ...]:
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
    return tuple(dict.fromkeys(found))


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
    numbers = {key for key, _ in split_numbers(text)[0]}
    return numbers, _name_terms(_names(text))


def _name_terms(found: Sequence[str]) -> set[str]:
    # Digits of "SR-4" are checked as numbers; number words ("Route Four") likewise.
    return {term for name in found for term in tokenize(name) if not term.isdigit() and term not in NUMBER_TERMS}


def corpus_terms(chunk_texts: Iterable[str]) -> frozenset[str]:
    """Every content term of the chunks, for ``check_grounding``'s ``corpus_terms``."""
    found: set[str] = set()
    for text in chunk_texts:
        found |= text_terms(text)
    return frozenset(found)


class CorpusTerms:
    """``corpus_terms`` of the chunks, for ``check_grounding``, found one term at a time.

    ``check_grounding`` asks only for a question's names that its chunk lacks (3 pairs of 7,079 at
    10 MB), so a term is looked for in the chunks whose ``search_form`` holds its ``term_needle``,
    not in the terms of every chunk (those took 3.7 of the check stage's 39.6 s under cProfile at
    10 MB). The search forms are made at the first lookup; each lookup then goes through them (some
    20 ms at 50 MB), so past ``_MAX_LOOKUPS`` terms the whole set is read once. Only the forms are
    kept, not the texts beside them (a second copy of the corpus): ``chunk_texts`` is iterated
    again, in the same order, for a lookup.
    """

    _MAX_LOOKUPS = 64

    def __init__(self, chunk_texts: Collection[str]) -> None:  # iterated more than once
        self._texts = chunk_texts
        self._found: dict[str, bool] = {}
        self._all: frozenset[str] | None = None

    def __contains__(self, term: object) -> bool:
        if not isinstance(term, str):
            return False
        if self._all is None and term not in self._found:
            needle = term_needle(term)
            if needle is None or len(self._found) >= self._MAX_LOOKUPS:
                self._all = corpus_terms(self._texts)
                self.__dict__.pop("_forms", None)
            else:
                self._found[term] = any(needle in form and term in text_terms(text) for text, form in zip(self._texts, self._forms))
        return term in self._all if self._all is not None else self._found[term]

    @cached_property
    def _forms(self) -> list[str]:
        return [search_form(text) for text in self._texts]


def _holds(profile: Profile, numbers: set[str], name_terms: set[str]) -> bool:
    return numbers <= profile.numbers and name_terms <= profile.terms


def check_grounding(
    question: str,
    answer: str,
    chunk_text: str,
    *,
    threshold: float = 0.5,
    example: str = "",
    corpus_terms: Container[str] = frozenset(),
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
    chunk = chunk_profile(chunk_text)
    if example:
        leaked = _leaked(question, answer, example, chunk)
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

    asked_names, asked_numbers = names(question), split_numbers(question)[0]
    q_numbers = {key for key, _ in asked_numbers}
    q_names = {t for t in _name_terms(asked_names) if chunk.holds_term(t)}  # those from elsewhere cannot be near the answer
    absent = [n for n in asked_names if not all(t in corpus_terms for t in _name_terms([n]) if not chunk.holds_term(t))]
    absent += [w for k, w in asked_numbers if not chunk.holds_number(k)]
    if absent:
        return Grounding("question_not_grounded", f"The question mentions {', '.join(absent[:3])}, which its chunk does not contain.")

    near_question = not q_numbers and not q_names
    if support.exact_span and near_question:
        # Nothing below can fail: a verbatim span holds its facts together and the question asks for
        # nothing to be near. Two pairs in five at 10 MB; their chunks' windows are never built.
        return None
    spots = chunk_windows(chunk_text)
    for sentence in sentences(answer) or [answer]:
        numbers, name_terms = _anchors(sentence)
        candidates: Iterator[Profile]
        if not numbers and not name_terms:
            words = set(tokenize(split_numbers(sentence)[1]))
            if len(words) < 2:
                continue  # "Yes." or "Correct." states no fact to find; the whole answer was checked above
            needles = [needle for t in words if (needle := term_needle(t)) is not None]
            shared = spots.containing_any(needles if len(needles) == len(words) else None)
            candidates = (p for p in shared if not words.isdisjoint(p.terms))  # a window sharing a word
        else:
            anchors = [number_needle(k) for k in numbers] + [term_needle(t) for t in name_terms]
            found = spots.containing_all([needle for needle in anchors if needle is not None])
            candidates = (p for p in found if _holds(p, numbers, name_terms))  # windows holding every anchor
        # A verbatim span of the chunk states its facts together by definition. Windows are profiled in turn
        # until one holds the sentence, and the question's anchors if no window has held those yet.
        held = False
        for profile in candidates:
            if support.exact_span or is_supported(_support(sentence, profile), threshold):
                held = True
                if near_question or _holds(profile, q_numbers, q_names):
                    near_question = True
                    break
        if not held and not support.exact_span:
            return Grounding("facts_apart", f"No passage of its chunk states together what the answer says in: {_short(sentence)}")
    if not near_question:
        asked = ", ".join(sorted(asked_names + [w for _, w in asked_numbers]))
        return Grounding("facts_apart", f"The answer is not stated near what the question asks about ({asked}).")
    return None


@lru_cache(maxsize=8)  # one example per template, checked for every pair
def _example_anchors(example: str) -> tuple[frozenset[str], frozenset[str]]:
    numbers, name_terms = _anchors(example)
    return frozenset(numbers), frozenset(name_terms)


# One example per template: what a name must hold (``term_needle``) to be made of the example's name terms only,
# and what a pair must hold (``number_needle``) to state one of its figures of two digits or more; None when
# no such string is known. Most pairs hold neither: their names are not tokenized nor their figures read
# (7,079 pairs at 10 MB: _leaked 0.17 -> 0.12 s, best of 3, their names found in both).
@lru_cache(maxsize=8)
def _example_needles(example: str) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
    numbers, name_terms = _example_anchors(example)
    return _all_known([term_needle(term) for term in name_terms]), _all_known([number_needle(key) for key in numbers if _is_figure(key)])


def _all_known(needles: list[str | None]) -> tuple[str, ...] | None:
    known = tuple(needle for needle in needles if needle is not None)
    return known if len(known) == len(needles) else None


def _is_figure(key: str) -> bool:
    return len(key.strip(CURRENCY_SIGNS + "%.:")) >= 2


def _leaked(question: str, answer: str, example: str, chunk: ChunkProfile) -> list[str]:
    example_numbers, example_names = _example_anchors(example)
    names_held, figures_held = _example_needles(example)
    found = []
    text = f"{question}\n{answer}"
    # The names of ``text``: a newline ends a name and opens a sentence, so no name spans the two.
    for name in dict.fromkeys([*_names(question), *_names(answer)]):
        if names_held is not None and not any(needle in search_form(name) for needle in names_held):
            continue  # holds no term of the example's names
        terms = set(tokenize(name))
        if terms and terms <= example_names and not terms <= chunk.terms:
            found.append(name)
    if figures_held is not None and not any(needle in search_form(text) for needle in figures_held):
        return found  # states none of the example's figures
    for key, written in split_numbers(text)[0]:
        if key in example_numbers and _is_figure(key) and not chunk.holds_number(key):
            found.append(written)
    return found


def _short(text: str, limit: int = 80) -> str:
    text = squash(text)
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."
