"""Removing duplicate questions before the dataset is written.

Two pairs asking the same thing teach the model the same lesson twice (or, with different
answers, two contradicting lessons), and once the data is split they leak from the training
file into the validation file. But two questions that share nearly all their words can ask
for two different facts: "What is the adult single fare on Route 1?" and "... on Route 2?",
"... on Saturday?" and "... on Sunday?", "What does a car cost?" and "What does a van cost?".
Dropping one of those loses a grounded fact. So a near duplicate is decided in two steps: the
questions must be alike, and what tells them apart must not name another thing.

Exact duplicates
    Two pairs are exact duplicates when their questions are equal after ``normalise``:
    ``qagen.quality.text.fold`` (Unicode NFKC, typographic quotes as ASCII, case folding),
    prose punctuation read as a space, whitespace collapsed.
    "What is  a Token?" and "what is a token" are the same question. A repeated question
    goes even when its answer differs.

    Prose punctuation is every Unicode punctuation character (categories P*) except the
    connector ``_`` and the marks that often carry meaning in technical text,
    ``# % & * / @ \\``; the backtick that quotes code counts as prose punctuation too
    (``fold`` turns it into an apostrophe).
    Symbols (``+ = < > | ~ ^ $`` ...) are kept, so "C++" and "C" stay apart; "C#" and "C"
    do not. Invisible format characters (soft hyphen, zero-width space) are removed.

Near duplicates, step 1: alike questions
    A question's *content words* (``qagen.quality.nearindex.content_words``) are its
    normalised words less the words that only shape a question ("what", "is", "the",
    "how", "much", "does"...; not "when", "where", "who" or "why", which ask for different
    kinds of fact), each plural as its singular and a few interchangeable words
    as one ("ship", "boat" and "ferry" as "vessel"; "price" as "cost"). Two questions are
    alike when the Jaccard similarity of their content-word sets is at least ``threshold``:
    inclusive, 0.75 by default. So "What is the adult single fare on Route 1?" and "How much
    is the adult single fare on Route 1?" are alike (similarity 1.0), which the raw words
    (0.70) would miss. Word order is ignored. A question with no content words is never a
    near duplicate (it can still be an exact one).

    The search is exact, not estimated: candidates come from an index of word pairs
    (see ``NearDuplicateIndex``) and every one is verified with the true Jaccard. MinHash
    with locality-sensitive hashing was tried and is slower here: questions hold about ten
    words, too few for a sketch to save work.

Near duplicates, step 2: the same fact (``compare``)
    Of two alike questions, the content words that only one of them has decide:

    - each question has words the other lacks ("Route 1" / "Route 2", "Saturday" /
      "Sunday", "car" / "van", "adult" / "child"): they ask about different things, and both
      pairs stay, whatever their answers say (the child and the senior fare are both £4.70,
      and are still two facts);
    - one question adds a number, a day or a month ("What is the adult fare?" / "... on
      Route 1?", "... to Little Skaith?" / "... in November?"): it asks about something
      narrower, and both stay;
    - otherwise (the same content words, or one question adds plain words such as "take"
      or "in nautical miles"), the answers decide: the pairs are duplicates unless the
      answers disagree. Answers disagree when each states a fact the other lacks, a
      number or a capitalised name ("£9.40" / "£4.10", "09:30" / "13:40", "The Saltmarrow"
      / "The Gullwing", "1987" / "Pellow Boatworks"), or when one says yes and the other
      no. An answer that only says more ("220" / "The Corrie Dawn carries 220 passengers")
      agrees.

    So "leave Port Essary for Orrin Bay" and "leave Orrin Bay for Port Essary", which share
    every content word, stay apart when their answers give different times.
    benchmarks/dedupe_bench.py measures these rules on a labelled set of pairs
    (benchmarks/data/dedupe_labelled.jsonl).

Which pair is kept
    Pairs are read in input order. The first pair of a question is kept unless it is a
    near duplicate of a pair already kept; a later pair is dropped as a duplicate of a kept
    pair. ``Duplicate.kept_id`` always names a pair that is kept: of the kept pairs it
    duplicates, the one with the most similar question (ties: the earliest), and
    ``Duplicate.why`` says why it counts as the same fact. A pair whose normalised question
    repeats a question that was itself dropped as a near duplicate points at the same kept
    pair. Only kept pairs are compared, so in a chain A ~ B ~ C where A and C are not near
    each other, B goes and A and C stay.

Determinism
    Nothing depends on Python's per-process string hashing or on set iteration order:
    the result is a function of the input order and the threshold only.
"""

from __future__ import annotations

import gc
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from itertools import chain
from typing import Literal

from qagen.quality.nearindex import (
    DEFAULT_THRESHOLD,
    STOP_WORDS,
    NearDuplicateIndex,
    cased_words,
    check_threshold,
    content_words,
    normalise,
)
from qagen.quality.text import unify
from qagen.records import Pair, Rejection

DuplicateKind = Literal["exact", "near"]


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a large index is built.

    The index allocates millions of small containers that are never garbage; the
    collector would re-scan them (and every other live object) again and again, which
    measured at about a sixth of the run time for 1,000,000 pairs.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# --- what a pair asks and answers -----------------------------------------------------

_DAYS_AND_MONTHS = frozenset(
    """
    monday tuesday wednesday thursday friday saturday sunday weekday weekend january february march april may june
    july august september october november december
    """.split()
)
_NUMBER_WORDS = {
    word: str(value)
    for value, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
}
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_LEADING_ZEROS = re.compile(r"\b0+(?=\d)")
_YES = frozenset({"yes"})
_NO = frozenset({"no", "not", "none", "nothing", "never", "cannot"})


def _number(text: str) -> str:
    """One spelling per number: "1,500" is "1500", "£9.40" is "9.4", "07:15" is "7:15"."""
    text = _THOUSANDS.sub("", text)
    if "." in text and ":" not in text and "," not in text:
        whole, _, fraction = text.partition(".")
        fraction = fraction.rstrip("0")
        return (whole.lstrip("0") or "0") + ("." + fraction if fraction else "")
    return _LEADING_ZEROS.sub("", text)


def _is_marker(word: str) -> bool:
    """A content word that pins a question to one thing when added: a number, a day or a month."""
    return word in _DAYS_AND_MONTHS or any(char.isdigit() for char in word)


class _Answer:
    """What an answer commits to: its numbers, its capitalised names, and a yes or a no."""

    def __init__(self, text: str) -> None:
        unified = unify(text)
        numbers = {_number(found) for found in _NUMBER.findall(unified)}
        tokens = cased_words(unified)
        folded = [token.casefold() for token in tokens]
        numbers.update(_NUMBER_WORDS[word] for word in folded if word in _NUMBER_WORDS)
        self.numbers = frozenset(numbers)
        self.names = frozenset(
            content
            for token, word in zip(tokens, folded)
            if token[:1].isupper() and word not in STOP_WORDS and word not in _NUMBER_WORDS
            and word not in _YES and word not in _NO
            for content in content_words(word)
        )
        # Every word, to tell a name from a capital that only opens a sentence ("Free." is
        # not a name the answer "Dogs travel free." lacks).
        self.words = frozenset(content_words(" ".join(folded)))
        first = folded[0] if folded else ""
        self.polarity = "yes" if first in _YES else "no" if first in _NO else ""


def _quoted(items: Sequence[str]) -> str:
    return ", ".join(f"'{item}'" for item in items)


@dataclass(frozen=True)
class Verdict:
    """Whether a later pair asks for the same fact as an earlier pair with an alike question, and why."""

    duplicate: bool
    why: str


class _Facts:
    """A pair read for ``compare``: its content words (in order), and its answer, read only
    when a question is alike (a few percent of pairs)."""

    def __init__(self, pair: Pair, words: list[str] | None = None) -> None:
        self.pair = pair
        self.words = words if words is not None else content_words(normalise(pair.question))

    @cached_property
    def answer(self) -> _Answer:
        return _Answer(self.pair.answer)


def compare(earlier: Pair, later: Pair) -> Verdict:
    """Whether ``later`` asks for the same fact as ``earlier``, assuming their questions are
    alike (step 2 of the module docstring); the verdict says why in words."""
    return _compare(_Facts(earlier), _Facts(later))


def _compare(earlier: _Facts, later: _Facts) -> Verdict:
    kept_id = earlier.pair.id
    earlier_set, later_set = set(earlier.words), set(later.words)
    only_earlier = [word for word in dict.fromkeys(earlier.words) if word not in later_set]
    only_later = [word for word in dict.fromkeys(later.words) if word not in earlier_set]
    if only_earlier and only_later:
        return Verdict(False, f"asks about {_quoted(only_later)} where pair {kept_id} asks about {_quoted(only_earlier)}")
    added = only_earlier or only_later
    markers = [word for word in added if _is_marker(word)]
    if markers:
        narrower = "pair " + kept_id if only_earlier else "this question"
        return Verdict(False, f"{narrower} also names {_quoted(markers)}, so it asks about something narrower")
    a, b = earlier.answer, later.answer
    # Each answer states a number or a name the other lacks: "1987" / "Pellow Boatworks"
    # disagree as much as "£9.40" / "£4.10"; an answer that only says more agrees.
    only_a = sorted(a.numbers - b.numbers) + sorted(a.names - b.words)
    only_b = sorted(b.numbers - a.numbers) + sorted(b.names - a.words)
    if only_a and only_b:
        return Verdict(False, f"the answers state different facts ({_quoted(only_b)} here, "
                              f"{_quoted(only_a)} in pair {kept_id})")
    if a.polarity and b.polarity and a.polarity != b.polarity:
        return Verdict(False, "one answer says yes and the other no")
    if added:
        whose = f"pair {kept_id}" if only_earlier else "this question"
        return Verdict(True, f"{whose} only adds {_quoted(added)}, and the answers agree")
    return Verdict(True, "the same content words, and the answers agree")


# --- deduplicating pairs -------------------------------------------------------------


@dataclass(frozen=True)
class Duplicate:
    """A pair that ``dedupe`` dropped, and the kept pair it duplicates."""

    pair_id: str  # the dropped pair
    kept_id: str  # a pair that is kept in the output
    kind: DuplicateKind  # "exact": same normalised question; "near": alike question, same fact
    similarity: float  # 1.0 for exact; the exact content-word Jaccard for near
    why: str = field(default="", compare=False)  # for near: why it is the same fact (``Verdict.why``)

    def rejection(self, pair: Pair) -> Rejection:
        """The run-report record for dropping ``pair``, the pair named by ``pair_id``."""
        if self.kind == "exact":
            detail = f"Same question as pair {self.kept_id} once case, spacing and punctuation are ignored."
        else:
            detail = f"Nearly the same question as pair {self.kept_id} (word similarity {self.similarity:.2f})"
            detail += f": {self.why}." if self.why else "."
        return Rejection(
            stage="dedupe",
            reason=f"{self.kind}_duplicate",
            detail=detail,
            raw=pair.question,
            source=pair.source,
            chunk_id=pair.chunk_id,
            pair_id=pair.id,
        )


def dedupe(pairs: Sequence[Pair], *, threshold: float = DEFAULT_THRESHOLD) -> tuple[list[Pair], list[Duplicate]]:
    """Split ``pairs`` into the kept pairs and the dropped duplicates, both in input order.

    See the module docstring for the rules. Raises ConfigError for a threshold outside (0, 1].
    """
    threshold = check_threshold(threshold)
    kept: list[Pair] = []
    dropped: list[Duplicate] = []
    with _collector_paused():
        questions = [normalise(pair.question) for pair in pairs]
        # Content words are shared strings (one per spelling), so keeping a list per
        # question costs only its pointers, and saves finding them twice.
        question_words = {question: content_words(question) for question in questions}
        word_counts = Counter(chain.from_iterable(map(set, question_words.values())))
        index = NearDuplicateIndex(threshold, word_counts=word_counts)
        filed: list[tuple[Pair, str]] = []  # by index slot: the kept pair filed there, its normalised question
        read: dict[int, _Facts] = {}  # by index slot: the kept pairs compared so far (few)
        # Normalised question -> (kept pair id, kind, similarity, why) for later pairs asking it.
        seen: dict[str, tuple[str, DuplicateKind, float, str]] = {}
        for pair, question in zip(pairs, questions):
            earlier = seen.get(question)
            if earlier is not None:
                dropped.append(Duplicate(pair.id, *earlier))
                continue
            ranked = index._ranked(question_words[question])
            pair_keys = index._pair_keys(ranked)
            found = index._search(ranked, pair_keys)
            match = None
            if found:
                mine = _Facts(pair, question_words[question])
                # The most similar first, ties to the earliest: the first that is the same fact wins.
                for slot, value in sorted(found, key=lambda item: (-item[1], item[0])):
                    facts = read.get(slot)
                    if facts is None:
                        kept_pair, kept_question = filed[slot]
                        facts = read[slot] = _Facts(kept_pair, question_words[kept_question])
                    verdict = _compare(facts, mine)
                    if verdict.duplicate:
                        match = (facts.pair.id, value, verdict.why)
                        break
            if match is None:
                seen[question] = (pair.id, "exact", 1.0, "")
                if index._file(pair.id, ranked, pair_keys) is not None:
                    filed.append((pair, question))
                kept.append(pair)
            else:
                seen[question] = (match[0], "near", match[1], match[2])
                dropped.append(Duplicate(pair.id, *seen[question]))
    return kept, dropped
