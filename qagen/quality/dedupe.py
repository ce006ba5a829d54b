"""Removing duplicate questions before the dataset is written.

qagen's users care about repeated *questions*: two pairs asking the same thing teach the
model the same lesson twice (or, with different answers, two contradicting lessons), and
once the data is split they leak from the training file into the validation file. So the
rules below look at the question only; the answer, source and kind of a pair play no part.

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

Near duplicates
    Two questions are near duplicates when the Jaccard similarity of their *word sets*
    (the whitespace-separated words of the normalised question, each counted once) is
    at least ``threshold``: inclusive, 0.8 by default. Single words rather than word
    n-grams because questions are short: with word pairs, changing one word of a
    ten-word question already drops the similarity to 0.64, while with word sets it
    stays at 0.82 (9 shared words out of 11). The price is that word order is ignored:
    "Is A older than B" and "Is B older than A" count as the same question. A question
    with no words left after normalising is never a near duplicate (it can still be an
    exact one).

    The search is exact, not estimated: candidates come from an index of word pairs
    (see ``NearDuplicateIndex``) and every one is verified with the true Jaccard before
    anything is dropped, so there are no false positives and no misses. MinHash with
    locality-sensitive hashing was tried and is slower here: questions hold about ten
    words, too few for a sketch to save work, and common words ("what", "the") flood
    the buckets unless bands are many hashes wide, which takes over a hundred hashes
    per question to keep recall up. On benchmarks/dedupe_bench.py's 1,000,000 pairs,
    128 hashes in 16 bands of 8 took about 90 s and missed 0.5% of the near duplicates;
    this index takes about 20 s and misses none.

Which pair is kept
    Pairs are read in input order. The first pair of a question is kept unless its
    question is a near duplicate of a question already kept; a later pair is dropped as
    a duplicate of a kept pair. ``Duplicate.kept_id`` always names a pair that is kept:
    when several kept questions are near, the most similar one (ties: the earliest).
    A pair whose normalised question repeats a question that was itself dropped as a
    near duplicate points at the same kept pair, as a near duplicate, with the same
    similarity. Only kept questions are compared, so in a chain A ~ B ~ C where A and C
    are not near each other, B goes and A and C stay (``cluster`` groups whole chains).

Determinism
    Nothing depends on Python's per-process string hashing or on set iteration order:
    the result is a function of the input order and the threshold only.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain
from typing import Literal

from qagen.quality.nearindex import DEFAULT_THRESHOLD, NearDuplicateIndex, check_threshold, normalise
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


def cluster(texts: Iterable[str], threshold: float = DEFAULT_THRESHOLD) -> list[int]:
    """A group id per text: texts linked by a chain of near duplicates share one.

    Unlike ``dedupe``, which compares with kept questions only, every two texts with
    similarity >= threshold end up in the same group, so a split that keeps each group
    on one side leaks no near duplicate. Texts with the same normalised form are near
    duplicates at similarity 1.0. A group's id is the position of its first text; a text
    with no words is a group of its own.
    """
    word_lists = [normalise(text).split() for text in texts]
    parent = list(range(len(word_lists)))

    def root(item: int) -> int:
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    with _collector_paused():
        index = NearDuplicateIndex(threshold, word_counts=Counter(chain.from_iterable(map(set, word_lists))))
        owner: list[int] = []  # slot -> position of the text indexed there
        for position, text_words in enumerate(word_lists):
            ranked = index._ranked(text_words)
            pair_keys = index._pair_keys(ranked)
            for slot, _ in index._search(ranked, pair_keys):
                a, b = root(position), root(owner[slot])
                if a != b:
                    # The smaller position becomes the root: a group's id is its first text.
                    parent[max(a, b)] = min(a, b)
            if index._file(str(position), ranked, pair_keys) is not None:
                owner.append(position)
    return [root(position) for position in range(len(parent))]


# --- deduplicating pairs -------------------------------------------------------------


@dataclass(frozen=True)
class Duplicate:
    """A pair that ``dedupe`` dropped, and the kept pair it duplicates."""

    pair_id: str  # the dropped pair
    kept_id: str  # a pair that is kept in the output
    kind: DuplicateKind  # "exact": same normalised question; "near": word-set Jaccard >= threshold
    similarity: float  # 1.0 for exact; the exact word-set Jaccard for near

    def rejection(self, pair: Pair) -> Rejection:
        """The run-report record for dropping ``pair``, the pair named by ``pair_id``."""
        if self.kind == "exact":
            detail = f"Same question as pair {self.kept_id} once case, spacing and punctuation are ignored."
        else:
            detail = f"Nearly the same question as pair {self.kept_id} (word similarity {self.similarity:.2f})."
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
        # Words are split again below rather than kept: holding a million word sets costs
        # more in memory traffic than splitting twice.
        word_counts = Counter(chain.from_iterable(map(set, map(str.split, dict.fromkeys(questions)))))
        index = NearDuplicateIndex(threshold, word_counts=word_counts)
        # Normalised question -> (kept pair id, kind, similarity) for later pairs asking it.
        seen: dict[str, tuple[str, DuplicateKind, float]] = {}
        for pair, question in zip(pairs, questions):
            earlier = seen.get(question)
            if earlier is not None:
                dropped.append(Duplicate(pair.id, *earlier))
                continue
            match = index._add(pair.id, index._ranked(question.split()))
            if match is None:
                seen[question] = (pair.id, "exact", 1.0)
                kept.append(pair)
            else:
                seen[question] = (match.key, "near", match.similarity)
                dropped.append(Duplicate(pair.id, match.key, "near", match.similarity))
    return kept, dropped
