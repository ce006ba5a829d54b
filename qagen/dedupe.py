"""Removing duplicate questions before the dataset is written.

qagen's users care about repeated *questions*: two pairs asking the same thing teach the
model the same lesson twice (or, with different answers, two contradicting lessons), and
once the data is split they leak from the training file into the validation file. So the
rules below look at the question only; the answer, source and kind of a pair play no part.

Exact duplicates
    Two pairs are exact duplicates when their questions are equal after ``normalise``:
    Unicode NFKC, case folding, prose punctuation read as a space, whitespace collapsed.
    "What is  a Token?" and "what is a token" are the same question. A repeated question
    goes even when its answer differs.

    Prose punctuation is every Unicode punctuation character (categories P*) except the
    connector ``_`` and the marks that often carry meaning in technical text, ``# % & * / @ \\``,
    plus the backtick used to quote code. Symbols (``+ = < > | ~ ^ $`` ...) are kept, so
    "C++" and "C" stay apart; "C#" and "C" do not. Invisible format characters (soft hyphen,
    zero-width space) are removed.

Near duplicates
    Two questions are near duplicates when the Jaccard similarity of their *word sets*
    (the whitespace-separated words of the normalised question, each counted once) is
    at least ``threshold``; the threshold is inclusive and 0.8 by default. Single words
    rather than word n-grams because questions are short: with word pairs, changing one
    word of a ten-word question already drops the similarity to 0.64, while with word sets
    it stays at 0.82 (9 shared words out of 11). The price is that word order is ignored:
    "Is A older than B" and "Is B older than A" count as the same question. A question
    with no words left after normalising is never a near duplicate (it can still be an
    exact one).

    The search is exact, not estimated: candidates come from an inverted index of words,
    probing only as many of the query's words as the threshold requires (if two sets
    have Jaccard >= t, then they share at least ``ceil(t * n)`` of the query's ``n``
    words, so any ``n - ceil(t * n) + 1`` of those words must hit), picking the words
    with the shortest posting lists, and skipping sets whose size alone rules them out.
    Every candidate is verified with the true Jaccard before anything is dropped, so
    there are no false positives and no missed pairs. MinHash with locality-sensitive
    hashing was measured and rejected: questions hold about ten words, too few for a
    sketch to help, and common words ("what", "the") flood the LSH buckets unless a band
    is many hashes wide, which in turn needs hundreds of hashes per question to keep
    recall (see benchmarks/dedupe_bench.py).

Which pair is kept
    Pairs are read in input order. The first pair of a question is kept unless its
    question is a near duplicate of a question already kept; a later pair is dropped as
    a duplicate of a kept pair. ``Duplicate.kept_id`` always names a pair that is kept:
    when several kept questions are near, the most similar one (ties: the earliest).
    A pair whose normalised question repeats a question that was itself dropped as a
    near duplicate points at the same kept pair, as a near duplicate, with the same
    similarity. Because only kept questions are compared, a chain A ~ B ~ C where A and
    C are not near keeps both A and C.

Determinism
    Nothing depends on Python's per-process string hashing or on set iteration order:
    the result is a function of the input order and the threshold only.
"""

from __future__ import annotations

import math
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, combinations
from typing import NamedTuple

from qagen.errors import ConfigError
from qagen.records import Pair, Rejection

DEFAULT_THRESHOLD = 0.8

# Punctuation marks that are words in technical text, kept as they are.
_MEANINGFUL_PUNCTUATION = frozenset("#%&*/@\\")
# Not punctuation by category, but used as quotes around code.
_EXTRA_SEPARATORS = frozenset("`")

# Float slack for the size and overlap bounds: bounds are only ever widened by it,
# which can add candidates to verify but never lose a true match.
_BOUND_SLACK = 1e-9


def _replacement(char: str) -> str:
    """What ``normalise`` turns one (already NFKC, case-folded) character into."""
    if char in _EXTRA_SEPARATORS:
        return " "
    category = unicodedata.category(char)
    if category == "Cf":
        return ""
    if category[0] == "P" and category != "Pc" and char not in _MEANINGFUL_PUNCTUATION:
        return " "
    return char


class _CharTable(dict):
    """A lazily filled ``str.translate`` table over all of Unicode."""

    def __missing__(self, code: int) -> str:
        value = _replacement(chr(code))
        self[code] = value
        return value


# The ASCII part is filled up front (128 entries) so the common case never calls back
# into Python; other characters are classified on first sight.
_TABLE = _CharTable()
for _code in range(128):
    _TABLE[_code] = _replacement(chr(_code))
del _code


def normalise(text: str) -> str:
    """The form of a question that exact duplicates share: see the module docstring."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(folded.translate(_TABLE).split())


def words(normalised: str) -> frozenset[str]:
    """The word set near-duplicate similarity is computed over."""
    return frozenset(normalised.split())


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard similarity of two word sets; 0.0 when both are empty."""
    if not a and not b:
        return 0.0
    shared = len(a & b)
    return shared / (len(a) + len(b) - shared)


def check_threshold(threshold: float) -> float:
    """Return ``threshold`` as a float, or raise ConfigError when it is not in (0, 1]."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise ConfigError(f"The near-duplicate threshold must be a number, got {threshold!r}.")
    value = float(threshold)
    if not 0.0 < value <= 1.0:
        raise ConfigError(
            f"The near-duplicate threshold must be above 0 and at most 1 (0.8 is a good start), got {threshold!r}."
        )
    return value


@dataclass(frozen=True)
class NearMatch:
    """An indexed text that is a near duplicate of a query, and how near."""

    key: str
    similarity: float  # exact Jaccard of the word sets, >= the index threshold


def count_words(texts: Iterable[str]) -> Counter[str]:
    """In how many of ``texts`` each word occurs (after ``normalise``): the ``word_counts`` of NearDuplicateIndex."""
    return Counter(chain.from_iterable(words(normalise(text)) for text in texts))


# Two word ranks packed into one int bucket key, rank_a * _PAIR_BASE + rank_b, which is
# cheaper to store than a tuple. The packing is one-to-one while ranks stay within
# +-2**32. An int hashes to itself and dicts index by its low bits, so the base is odd
# and irregular rather than a power of two, which would pile every pair ending in the
# same word onto one dict slot.
_PAIR_BASE = 0x9E3779B97F  # odd, just above 2**39

# A word set inside the index: the ranks of its words, ascending (rarest first).
Ranked = tuple[int, ...]

# Bucket key -> slot, or list of slots once a second set joins. Most buckets hold one
# set; a bare slot number saves a list each (memory and garbage-collector work).
_Buckets = dict[int, "int | list[int]"]


def _at_least(value: float) -> int:
    """ceil(value), rounded down a hair so float error can only loosen a bound."""
    return max(1, math.ceil(value - _BOUND_SLACK))


def _pairs(prefix: int) -> int:
    """How many word pairs a prefix of that many words holds."""
    return prefix * (prefix - 1) // 2 if prefix > 1 else 0


class _Plan(NamedTuple):
    """How a word set of one size is filed, and where its near duplicates can be."""

    prefix: int  # it is filed under the pairs of its first `prefix` words
    by_word: bool  # it is also filed under its single words
    # (size of the other set, how many of its pair keys to look up, look up single words too)
    probes: tuple[tuple[int, int, bool], ...]


def _plan(size: int, threshold: float) -> _Plan:
    # With x of n words and y of m words, J >= t means the overlap I >= t(n + m) / (1 + t),
    # so I >= t * max(n, m) and t*n <= m <= n/t. The first two shared words (rarest first)
    # are among the first n - I + 2 words of x and m - I + 2 words of y: a set is filed
    # under the pairs of its first n - ceil(t*n) + 2 words, which holds for any partner,
    # and looks up, for each partner size m, the pairs of its first n - ceil(t(n+m)/(1+t)) + 2.
    # When I can be 1 (n + m <= (1 + t) / t, tiny sets) single words stand in for pairs.
    own = _at_least(threshold * size)
    probes = tuple(
        (other, _pairs(size - max(shared, 2) + 2), shared == 1)
        for other in range(own, math.floor(size / threshold + _BOUND_SLACK) + 1)
        for shared in (_at_least(threshold * (size + other) / (1 + threshold)),)
    )
    return _Plan(size - max(own, 2) + 2, own == 1, probes)


class NearDuplicateIndex:
    """Finds indexed texts whose word sets have Jaccard similarity >= threshold to a query.

    ``add`` gives "keep the first of each group" semantics (only texts that are not near
    duplicates get indexed); ``insert`` and ``matches`` index everything and list every
    match, for callers that need all near pairs (see ``cluster``). Texts are normalised
    with ``normalise``; texts with no words are never indexed and never match.

    ``word_counts`` (from ``count_words`` over the texts to come) only makes lookups
    faster, by letting the index lean on rare words; answers are the same without it.

    How it works: words are put in one fixed order, rarest first. Two sets with Jaccard
    >= t share so many words that the first two shared words (in that order) are among
    the first few words of each set: the first ``n - ceil(t * n) + 2`` of ``n``, fewer
    when the sizes are close. Each set is filed, by size, under the pairs of words from
    its first few words, and a query looks up the pairs from its own first few, in the
    sizes a near duplicate can have. A near duplicate always shows up; pairs of rare
    words are shared by few sets, so there are few candidates; each one is verified with
    the true Jaccard. The number of pairs grows with the square of the prefix, which
    suits questions, not whole documents.
    """

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, *, word_counts: Mapping[str, int] | None = None) -> None:
        self.threshold = check_threshold(threshold)
        # Position of each word in the fixed order. Counted words rank by count (then
        # spelling); words first seen later rank before all of them, in order of first sight.
        counts = word_counts or {}
        self._rank: dict[str, int] = {word: rank for rank, word in enumerate(sorted(counts, key=lambda w: (counts[w], w)))}
        self._next_unseen_rank = -1
        self._plans: list[_Plan] = []  # by set size
        # By slot, the order of indexing.
        self._keys: list[str] = []
        self._sets: list[Ranked] = []
        # By set size: the sets of that size, filed under pair keys (and word keys).
        self._buckets: list[_Buckets] = []

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: str, text: str) -> str | None:
        """Return the key of the most similar indexed near duplicate; if there is none, index ``text`` and return None."""
        match = self._add(key, self._ranked(words(normalise(text))))
        return None if match is None else match.key

    def nearest(self, text: str) -> NearMatch | None:
        """The most similar indexed near duplicate of ``text`` (ties: earliest indexed), without indexing it."""
        ranked = self._ranked(words(normalise(text)))
        return self._best(self._search(ranked, self._pair_keys(ranked)))

    def matches(self, text: str) -> list[NearMatch]:
        """Every indexed near duplicate of ``text``, in indexing order, without indexing it."""
        ranked = self._ranked(words(normalise(text)))
        return [NearMatch(self._keys[slot], similarity) for slot, similarity in self._search(ranked, self._pair_keys(ranked))]

    def insert(self, key: str, text: str) -> None:
        """Index ``text`` under ``key`` whether or not it has near duplicates."""
        ranked = self._ranked(words(normalise(text)))
        self._file(key, ranked, self._pair_keys(ranked))

    def _ranked(self, text_words: Iterable[str]) -> Ranked:
        """The distinct ranks of some words, ascending."""
        rank = self._rank
        try:
            return tuple(sorted(set(map(rank.__getitem__, text_words))))
        except KeyError:
            # Sorted so the ranks given do not depend on set iteration order.
            text_words = set(text_words)
            for word in sorted(word for word in text_words if word not in rank):
                rank[word] = self._next_unseen_rank
                self._next_unseen_rank -= 1
            return tuple(sorted(set(map(rank.__getitem__, text_words))))

    def _add(self, key: str, ranked: Ranked) -> NearMatch | None:
        pair_keys = self._pair_keys(ranked)
        match = self._best(self._search(ranked, pair_keys))
        if match is None:
            self._file(key, ranked, pair_keys)
        return match

    def _best(self, found: list[tuple[int, float]]) -> NearMatch | None:
        best_slot = -1
        best_similarity = 0.0
        for slot, similarity in found:  # in slot order, so ties keep the earliest
            if similarity > best_similarity:
                best_slot, best_similarity = slot, similarity
        return None if best_slot < 0 else NearMatch(self._keys[best_slot], best_similarity)

    def _plan_for(self, size: int) -> _Plan:
        plans = self._plans
        while len(plans) <= size:
            plans.append(_plan(len(plans), self.threshold))
        return plans[size]

    def _pair_keys(self, ranked: Ranked) -> list[int]:
        """The keys of the word pairs a set is filed under, ordered so that the pairs
        within its first k words are the first k(k-1)/2 keys."""
        prefix = ranked[: self._plan_for(len(ranked)).prefix]
        return [prefix[first] * _PAIR_BASE + prefix[second] for second in range(1, len(prefix)) for first in range(second)]

    @staticmethod
    def _word_keys(ranked: Ranked) -> list[int]:
        """Single-word bucket keys: a word paired with itself, which no real pair is."""
        return [rank * _PAIR_BASE + rank for rank in ranked]

    def _file(self, key: str, ranked: Ranked, pair_keys: list[int]) -> int | None:
        """Index a word set; return its slot (None for an empty set, which is not indexed)."""
        size = len(ranked)
        if size == 0:
            return None
        slot = len(self._keys)
        self._keys.append(key)
        self._sets.append(ranked)
        while len(self._buckets) <= size:
            self._buckets.append({})
        buckets = self._buckets[size]
        for bucket_key in pair_keys + self._word_keys(ranked) if self._plan_for(size).by_word else pair_keys:
            bucket = buckets.get(bucket_key)
            if bucket is None:
                buckets[bucket_key] = slot
            elif type(bucket) is int:
                buckets[bucket_key] = [bucket, slot]
            else:
                bucket.append(slot)
        return slot

    def _search(self, ranked: Ranked, pair_keys: list[int]) -> list[tuple[int, float]]:
        """(slot, similarity) of every indexed set with Jaccard >= threshold, sorted by slot."""
        size = len(ranked)
        if size == 0:
            return []
        threshold = self.threshold
        sets = self._sets
        buckets_by_size = self._buckets
        filed_sizes = len(buckets_by_size)
        query: set[int] | None = None
        found: list[tuple[int, float]] = []
        checked: set[int] = set()
        for other_size, pairs, by_word in self._plan_for(size).probes:
            if other_size >= filed_sizes:
                break
            buckets = buckets_by_size[other_size]
            if not buckets:
                continue
            for bucket_key in pair_keys[:pairs] + self._word_keys(ranked) if by_word else pair_keys[:pairs]:
                bucket = buckets.get(bucket_key)
                if bucket is None:
                    continue
                for slot in (bucket,) if type(bucket) is int else bucket:
                    if slot in checked:
                        continue
                    checked.add(slot)
                    if query is None:
                        query = set(ranked)
                    shared = len(query.intersection(sets[slot]))
                    similarity = shared / (size + other_size - shared)
                    if similarity >= threshold:
                        found.append((slot, similarity))
        if len(found) > 1:
            found.sort()
        return found


def cluster(texts: Iterable[str], threshold: float = DEFAULT_THRESHOLD) -> list[int]:
    """A group id per text: texts linked by a chain of near duplicates share one.

    Unlike ``dedupe`` (which compares against kept questions only), every pair of texts
    with similarity >= threshold ends up in the same group, so a split that keeps each
    group on one side leaks no near duplicate. Exact duplicates (same normalised text)
    are near duplicates at similarity 1.0. A group's id is the position of its first
    text; texts with no words are groups of their own.
    """
    word_sets = [words(normalise(text)) for text in texts]
    index = NearDuplicateIndex(threshold, word_counts=Counter(chain.from_iterable(word_sets)))
    parent = list(range(len(word_sets)))

    def root(item: int) -> int:
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    slot_owner: list[int] = []  # index slot -> position of the text indexed there
    for position, word_set in enumerate(word_sets):
        ranked = index._ranked(word_set)
        pair_keys = index._pair_keys(ranked)
        for slot, _similarity in index._search(ranked, pair_keys):
            a, b = root(position), root(slot_owner[slot])
            if a != b:
                # The smaller position becomes the root, so a group's id is its first text.
                parent[max(a, b)] = min(a, b)
        if index._file(str(position), ranked, pair_keys) is not None:
            slot_owner.append(position)
    return [root(position) for position in range(len(parent))]


@dataclass(frozen=True)
class Duplicate:
    """A pair that ``dedupe`` dropped, and the kept pair it duplicates."""

    pair_id: str  # the dropped pair
    kept_id: str  # a pair that is kept in the output
    kind: str  # "exact" (same normalised question) or "near" (word-set Jaccard >= threshold)
    similarity: float  # 1.0 for exact; the exact word-set Jaccard for near

    def rejection(self, pair: Pair) -> Rejection:
        """The run-report record for dropping ``pair`` (the pair named by ``pair_id``)."""
        if self.kind == "exact":
            detail = f"Same question as pair {self.kept_id} once case, spacing and punctuation are ignored."
        else:
            detail = f"Nearly the same question as pair {self.kept_id} ({self.similarity:.2f} of their words shared)."
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

    See the module docstring for the rules.
    """
    threshold = check_threshold(threshold)
    questions = [normalise(pair.question) for pair in pairs]
    # Words are split again below rather than kept: a million word sets cost more
    # memory traffic than splitting twice.
    distinct = dict.fromkeys(questions)
    word_counts = Counter(chain.from_iterable(map(set, map(str.split, distinct))))
    index = NearDuplicateIndex(threshold, word_counts=word_counts)
    # Normalised question -> (kept pair id, kind, similarity) for every later pair asking it.
    seen: dict[str, tuple[str, str, float]] = {}
    kept: list[Pair] = []
    dropped: list[Duplicate] = []
    for pair, question in zip(pairs, questions):
        earlier = seen.get(question)
        if earlier is not None:
            kept_id, kind, similarity = earlier
            dropped.append(Duplicate(pair.id, kept_id, kind, similarity))
            continue
        match = index._add(pair.id, index._ranked(question.split()))
        if match is None:
            seen[question] = (pair.id, "exact", 1.0)
            kept.append(pair)
        else:
            seen[question] = (match.key, "near", match.similarity)
            dropped.append(Duplicate(pair.id, match.key, "near", match.similarity))
    return kept, dropped
