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
    connector ``_`` and the marks that often carry meaning in technical text,
    ``# % & * / @ \\``; the backtick that quotes code counts as prose punctuation too.
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
import math
import unicodedata
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain
from typing import Literal, NamedTuple

from qagen.errors import ConfigError
from qagen.records import Pair, Rejection

DEFAULT_THRESHOLD = 0.8

DuplicateKind = Literal["exact", "near"]

# --- normalising ---------------------------------------------------------------------

# Punctuation marks that are words in technical text, kept as they are.
_MEANINGFUL_PUNCTUATION = frozenset("#%&*/@\\")
# Not punctuation by category, but used as quotes around code.
_EXTRA_SEPARATORS = frozenset("`")


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
    """A ``str.translate`` table over all of Unicode, filled on first sight of a character."""

    def __missing__(self, code: int) -> str:
        value = _replacement(chr(code))
        self[code] = value
        return value


_TABLE = _CharTable()


def normalise(text: str) -> str:
    """The form of a question that exact duplicates share: see the module docstring."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(folded.translate(_TABLE).split())


def words(text: str) -> frozenset[str]:
    """The word set of a question that near-duplicate similarity is computed over."""
    return frozenset(normalise(text).split())


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of the word sets of two questions; 0.0 when either has no words."""
    x, y = words(a), words(b)
    if not x or not y:
        return 0.0
    shared = len(x & y)
    return shared / (len(x) + len(y) - shared)


def check_threshold(threshold: float) -> float:
    """Return ``threshold`` as a float, or raise ConfigError when it is not in (0, 1]."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise ConfigError(f"The near-duplicate threshold must be a number between 0 and 1, got {threshold!r}.")
    value = float(threshold)
    if not 0.0 < value <= 1.0:
        raise ConfigError(
            f"The near-duplicate threshold must be above 0 and at most 1 (0.8 is a good start), got {threshold!r}."
        )
    return value


# --- the near-duplicate index --------------------------------------------------------

# A word set inside the index: the ranks of its words, ascending (rarest first).
_Ranked = tuple[int, ...]

# Two word ranks packed into one int bucket key, rank_a * _PAIR_BASE + rank_b, which is
# cheaper to store than a tuple; one-to-one while ranks stay within +-2**32. An int
# hashes to itself and dicts index by its low bits, so the base is odd and irregular:
# a power of two would pile every pair ending in the same word onto one dict slot.
_PAIR_BASE = 0x9E3779B97F

# Slots of the sets filed under one size in one bucket: a bare slot number for one set
# (most buckets hold one; a list each would cost memory and garbage-collector work).
_Slots = int | list[int]
# A bucket: the slot of its only set, or set size -> slots once a second set joins.
_Bucket = int | dict[int, _Slots]

# Float slack for the bounds below: it only ever loosens a bound, which can add a
# candidate to verify but never lose a match.
_BOUND_SLACK = 1e-9


def _at_least(value: float) -> int:
    return max(1, math.ceil(value - _BOUND_SLACK))


class _Plan(NamedTuple):
    """How a word set of one size is filed, and where its near duplicates can be."""

    prefix: int  # it is filed under the pairs of its first `prefix` words
    by_word: bool  # it is also filed under its single words
    pairs_by_size: dict[int, int]  # size a near duplicate can have -> how many pair keys may lead to it
    most_pairs: int  # the largest of those
    word_sizes: frozenset[int]  # sizes of near duplicates that can share a single word only


def _pair_count(prefix: int) -> int:
    return prefix * (prefix - 1) // 2 if prefix > 1 else 0


def _plan(size: int, threshold: float) -> _Plan:
    # For x of n words and y of m words, J >= t means the overlap I >= t(n + m) / (1 + t),
    # hence I >= t * max(n, m) and t*n <= m <= n/t. The first two shared words (rarest
    # first) are then among the first n - I + 2 words of x and the first m - I + 2 of y.
    # So a set is filed under the pairs of its first n - ceil(t*n) + 2 words, enough for
    # any partner, and for each partner size m looks up the pairs of its first
    # n - ceil(t(n + m)/(1 + t)) + 2 words. Where I can be 1 (tiny sets, n <= 1/t), single
    # words stand in for pairs.
    own = _at_least(threshold * size)
    pairs_by_size: dict[int, int] = {}
    word_sizes = set()
    for other in range(own, math.floor(size / threshold + _BOUND_SLACK) + 1):
        shared = _at_least(threshold * (size + other) / (1 + threshold))
        pairs_by_size[other] = _pair_count(size - max(shared, 2) + 2)
        if shared == 1:
            word_sizes.add(other)
    most_pairs = max(pairs_by_size.values(), default=0)
    return _Plan(size - max(own, 2) + 2, own == 1, pairs_by_size, most_pairs, frozenset(word_sizes))


def count_words(texts: Iterable[str]) -> Counter[str]:
    """In how many of ``texts`` each word occurs: the ``word_counts`` for NearDuplicateIndex."""
    return Counter(chain.from_iterable(map(words, texts)))


@dataclass(frozen=True)
class NearMatch:
    """An indexed text that is a near duplicate of a query, and how near."""

    key: str
    similarity: float  # exact Jaccard of the word sets, >= the index threshold


class NearDuplicateIndex:
    """Finds indexed texts whose word sets have Jaccard similarity >= threshold to a query.

    ``add`` gives "keep the first of each group": only texts that are not near duplicates
    get indexed. ``insert`` and ``matches`` index everything and list every match, for
    callers that need all near pairs (see ``cluster``). Texts are normalised with
    ``normalise``; texts with no words are never indexed and never match.

    ``word_counts`` (``count_words`` of the texts to come) makes lookups faster by
    telling the index which words are rare; the answers are the same without it.

    How it works: words are put in one fixed order, rarest first. Two sets with Jaccard
    >= t share so many words that the first two shared words (in that order) are among
    the first few words of each set: the first ``n - ceil(t * n) + 2`` of ``n`` words,
    fewer when the sizes are close. Each set is filed, by size, under the word pairs
    from its first few words; a query looks up the pairs from its own first few, in each
    size a near duplicate can have. A near duplicate always turns up, pairs of rare
    words are shared by few sets so there are few candidates, and each candidate is
    verified with the true Jaccard. The number of pairs grows with the square of that
    prefix, which suits questions, not whole documents.
    """

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, *, word_counts: Mapping[str, int] | None = None) -> None:
        self.threshold = check_threshold(threshold)
        # Each word's place in the fixed order. Counted words by count, then spelling;
        # words first seen later come before all of them, latest first (unknown words
        # are more likely rare than common).
        counts = word_counts or {}
        ordered = sorted(counts, key=lambda word: (counts[word], word))
        self._rank: dict[str, int] = {word: rank for rank, word in enumerate(ordered)}
        self._next_unseen_rank = -1
        self._plans: list[_Plan] = []  # by set size
        self._keys: list[str] = []  # by slot, the order of indexing
        self._sets: list[_Ranked] = []  # by slot
        self._sizes: list[int] = []  # by slot
        self._buckets: dict[int, _Bucket] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: str, text: str) -> str | None:
        """The key of the most similar indexed near duplicate of ``text``; if there is none,
        index ``text`` under ``key`` and return None."""
        match = self._add(key, self._ranked(normalise(text).split()))
        return None if match is None else match.key

    def nearest(self, text: str) -> NearMatch | None:
        """The most similar indexed near duplicate of ``text`` (ties: earliest indexed), without indexing it."""
        ranked = self._ranked(normalise(text).split())
        return self._best(self._search(ranked, self._pair_keys(ranked)))

    def matches(self, text: str) -> list[NearMatch]:
        """Every indexed near duplicate of ``text``, in indexing order, without indexing it."""
        ranked = self._ranked(normalise(text).split())
        return [NearMatch(self._keys[slot], value) for slot, value in self._search(ranked, self._pair_keys(ranked))]

    def insert(self, key: str, text: str) -> None:
        """Index ``text`` under ``key`` whether or not it has near duplicates."""
        ranked = self._ranked(normalise(text).split())
        self._file(key, ranked, self._pair_keys(ranked))

    def _ranked(self, text_words: Collection[str]) -> _Ranked:
        rank = self._rank
        try:
            return tuple(sorted(set(map(rank.__getitem__, text_words))))
        except KeyError:
            # New words are ranked in sorted order, so ranks never depend on set order.
            for word in sorted(set(text_words).difference(rank)):
                rank[word] = self._next_unseen_rank
                self._next_unseen_rank -= 1
            return tuple(sorted(set(map(rank.__getitem__, text_words))))

    def _plan_for(self, size: int) -> _Plan:
        plans = self._plans
        while len(plans) <= size:
            plans.append(_plan(len(plans), self.threshold))
        return plans[size]

    def _pair_keys(self, ranked: _Ranked) -> list[int]:
        """Keys of the pairs a set is filed under, ordered so that the pairs within its
        first k words are the first k(k-1)/2 keys."""
        prefix = ranked[: self._plan_for(len(ranked)).prefix]
        return [
            prefix[first] * _PAIR_BASE + prefix[second] for second in range(1, len(prefix)) for first in range(second)
        ]

    @staticmethod
    def _word_keys(ranked: _Ranked) -> list[int]:
        # A word paired with itself, which no real pair is.
        return [rank * _PAIR_BASE + rank for rank in ranked]

    def _add(self, key: str, ranked: _Ranked) -> NearMatch | None:
        pair_keys = self._pair_keys(ranked)
        match = self._best(self._search(ranked, pair_keys))
        if match is None:
            self._file(key, ranked, pair_keys)
        return match

    def _best(self, found: list[tuple[int, float]]) -> NearMatch | None:
        best_slot, best_similarity = -1, 0.0
        for slot, value in found:  # in slot order, so a tie keeps the earliest
            if value > best_similarity:
                best_slot, best_similarity = slot, value
        return None if best_slot < 0 else NearMatch(self._keys[best_slot], best_similarity)

    def _file(self, key: str, ranked: _Ranked, pair_keys: list[int]) -> int | None:
        """Index a word set and return its slot; None for an empty set, which is not indexed."""
        size = len(ranked)
        if size == 0:
            return None
        slot = len(self._keys)
        self._keys.append(key)
        self._sets.append(ranked)
        self._sizes.append(size)
        buckets = self._buckets
        bucket_keys = pair_keys
        if self._plan_for(size).by_word:
            bucket_keys = pair_keys + self._word_keys(ranked)
        for bucket_key in bucket_keys:
            bucket = buckets.get(bucket_key)
            if bucket is None:
                buckets[bucket_key] = slot
                continue
            if type(bucket) is int:
                bucket = buckets[bucket_key] = {self._sizes[bucket]: bucket}
            slots = bucket.get(size)
            if slots is None:
                bucket[size] = slot
            elif type(slots) is int:
                bucket[size] = [slots, slot]
            else:
                slots.append(slot)
        return slot

    def _search(self, ranked: _Ranked, pair_keys: list[int]) -> list[tuple[int, float]]:
        """(slot, similarity) of every indexed set with Jaccard >= threshold, in slot order."""
        size = len(ranked)
        if size == 0:
            return []
        plan = self._plan_for(size)
        pairs_by_size = plan.pairs_by_size
        buckets = self._buckets
        sizes = self._sizes
        # A pair key found at position i leads to sets of size m only if i < pairs_by_size[m];
        # a word key leads to sets of the sizes in plan.word_sizes.
        candidates: list[int] = []
        for position, bucket_key in enumerate(pair_keys[: plan.most_pairs]):
            bucket = buckets.get(bucket_key)
            if bucket is None:
                continue
            if type(bucket) is int:
                if pairs_by_size.get(sizes[bucket], 0) > position:
                    candidates.append(bucket)
                continue
            for other_size, slots in bucket.items():
                if pairs_by_size.get(other_size, 0) > position:
                    if type(slots) is int:
                        candidates.append(slots)
                    else:
                        candidates.extend(slots)
        if plan.word_sizes:
            for bucket_key in self._word_keys(ranked):
                bucket = buckets.get(bucket_key)
                if bucket is None:
                    continue
                if type(bucket) is int:
                    bucket = {sizes[bucket]: bucket}
                for other_size, slots in bucket.items():
                    if other_size in plan.word_sizes:
                        candidates.extend((slots,) if type(slots) is int else slots)
        if not candidates:
            return []
        threshold = self.threshold
        sets = self._sets
        query = set(ranked)
        found: list[tuple[int, float]] = []
        for slot in set(candidates):
            shared = len(query.intersection(sets[slot]))
            value = shared / (size + sizes[slot] - shared)
            if value >= threshold:
                found.append((slot, value))
        found.sort()
        return found


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
