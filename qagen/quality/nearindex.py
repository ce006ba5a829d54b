"""How alike two questions are, and the index that finds the alike ones fast.

``normalise`` gives the form of a question that exact duplicates share (the rules are in
``qagen.quality.dedupe``'s docstring), ``content_words`` the words of it that say what it
asks, ``words`` their set, ``similarity`` the Jaccard of two such sets, and
``NearDuplicateIndex`` finds every indexed question within a threshold of a query without
comparing it with all of them. ``qagen.quality.dedupe`` decides with these, and with the
answers, which pairs to drop.
"""

from __future__ import annotations

import math
import unicodedata
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from itertools import chain
from typing import NamedTuple

from qagen.errors import ConfigError
from qagen.quality.text import fold, squash, unify

# Measured on benchmarks/data/dedupe_labelled.jsonl: at 0.75 a three-content-word question
# with one word added is still alike (3/4). No distinct fact is dropped at any threshold
# tried (0.6 to 0.9): the second step, not the threshold, keeps distinct facts apart. Lower
# thresholds find more rewordings but lean harder on that step and are slower.
DEFAULT_THRESHOLD = 0.75

# --- normalising ---------------------------------------------------------------------

# Punctuation marks that are words in technical text, kept as they are. Unlike an answer
# (``qagen.evaluate.matching``), a question about code must keep them: "C#" is not "C".
_MEANINGFUL_PUNCTUATION = frozenset("#%&*/@\\")


def _replacement(char: str) -> str:
    """What ``normalise`` turns one (already folded) character into."""
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
    return squash(fold(text).translate(_TABLE))


# --- content words ---------------------------------------------------------------------

# Words that only shape a question ("what is the ...", "how much does ..."): two questions
# that differ in these alone ask the same thing. "When", "where", "who" and "why" are not
# among them: "When was the Gullwing built?" and "Where was the Gullwing built?" ask for two
# facts. Prepositions of direction ("from", "to") are: "leave A for B" and "leave B for A"
# share their words, and it is their answers (two different times) that tell them apart.
STOP_WORDS = frozenset(
    """
    what which whom whose how much many is are was were be been being am do does did done
    the a an of to in on at for by from with into onto upon about as and or than then so i me my we us our you
    your it its this that these those there here can could may might should would will shall must s t d ll re
    ve m get gets got have has had able please also during
    """.split()
)

# Spellings of one meaning that questions swap freely; the first of each row stands for all.
_SYNONYMS = (
    "vessel ship boat ferry",
    "cost price",
    "leave depart",
    "run operate serve",
    "start begin",
    "buy purchase bought",
    "win won winner",
    "child children kid",
)
_CANONICAL = {spelling: row.split()[0] for row in _SYNONYMS for spelling in row.split()}


def _stem(word: str) -> str:
    """A plural's singular, roughly: "fares" -> "fare", "ferries" -> "ferry"; enough for
    "Who approves roster swaps?" and "Who approves a roster swap?" to share their words."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")) and not word[-2].isdigit():
        return word[:-1]
    return word


def _canonical(word: str) -> str:
    """The content word a normalised word stands for; "" for a stop word."""
    if word in STOP_WORDS:
        return ""
    word = _CANONICAL.get(word, word)
    stemmed = _stem(word)
    return _CANONICAL.get(stemmed, stemmed)


class _WordTable(dict):
    """normalised word -> content word, filled on first sight of a word."""

    def __missing__(self, word: str) -> str:
        value = _canonical(word)
        self[word] = value
        return value


_WORDS = _WordTable()


def content_words(normalised: str) -> list[str]:
    """The content words of a normalised question, in order, stop words left out, each
    plural as its singular and each listed synonym as its row's first word."""
    return list(filter(None, map(_WORDS.__getitem__, normalised.split())))


def cased_words(text: str) -> list[str]:
    """The words of ``text`` as ``normalise`` splits them, with their letter case kept
    (for telling names from other words)."""
    return unify(text).translate(_TABLE).split()


def words(text: str) -> frozenset[str]:
    """The word set of a question that near-duplicate similarity is computed over: its content words."""
    return frozenset(content_words(normalise(text)))


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of the content-word sets of two questions; 0.0 when either has none."""
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
            f"The near-duplicate threshold must be above 0 and at most 1 ({DEFAULT_THRESHOLD} is a good start), got {threshold!r}."
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
    """In how many of ``texts`` each content word occurs: the ``word_counts`` for NearDuplicateIndex."""
    return Counter(chain.from_iterable(map(words, texts)))


@dataclass(frozen=True)
class NearMatch:
    """An indexed text that is a near duplicate of a query, and how near."""

    key: str
    similarity: float  # exact Jaccard of the word sets, >= the index threshold


class NearDuplicateIndex:
    """Finds indexed texts whose content-word sets have Jaccard similarity >= threshold to a query.

    ``add`` gives "keep the first of each group": only texts that are not near duplicates
    get indexed. ``insert`` and ``matches`` index everything and list every match, for
    callers that need all near pairs. Texts are read as their ``content_words``; texts
    with none are never indexed and never match.

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
        match = self._add(key, self._ranked(content_words(normalise(text))))
        return None if match is None else match.key

    def nearest(self, text: str) -> NearMatch | None:
        """The most similar indexed near duplicate of ``text`` (ties: earliest indexed), without indexing it."""
        ranked = self._ranked(content_words(normalise(text)))
        return self._best(self._search(ranked, self._pair_keys(ranked)))

    def matches(self, text: str) -> list[NearMatch]:
        """Every indexed near duplicate of ``text``, in indexing order, without indexing it."""
        ranked = self._ranked(content_words(normalise(text)))
        return [NearMatch(self._keys[slot], value) for slot, value in self._search(ranked, self._pair_keys(ranked))]

    def insert(self, key: str, text: str) -> None:
        """Index ``text`` under ``key`` whether or not it has near duplicates."""
        ranked = self._ranked(content_words(normalise(text)))
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
            if isinstance(bucket, int):
                bucket = buckets[bucket_key] = {self._sizes[bucket]: bucket}
            slots = bucket.get(size)
            if slots is None:
                bucket[size] = slot
            elif isinstance(slots, int):
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
            if isinstance(bucket, int):
                if pairs_by_size.get(sizes[bucket], 0) > position:
                    candidates.append(bucket)
                continue
            for other_size, slots in bucket.items():
                if pairs_by_size.get(other_size, 0) > position:
                    if isinstance(slots, int):
                        candidates.append(slots)
                    else:
                        candidates.extend(slots)
        if plan.word_sizes:
            for bucket_key in self._word_keys(ranked):
                bucket = buckets.get(bucket_key)
                if bucket is None:
                    continue
                if isinstance(bucket, int):
                    bucket = {sizes[bucket]: bucket}
                for other_size, slots in bucket.items():
                    if other_size in plan.word_sizes:
                        candidates.extend((slots,) if isinstance(slots, int) else slots)
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
