"""Lexical retrieval over the whole corpus: a small BM25 index (stdlib only).

qagen uses it to decide whether a question is answered somewhere in the documents
(see ``qagen.quality.idk``), so it favours predictable behaviour over clever ranking:

- ``tokenize`` lower-cases the text, splits it into word tokens, drops a short list of
  English function words and applies a light, rule-based stemmer (below). Documents and
  queries go through the same function, so a query term matches a document term exactly
  when both reduce to the same stem.
- ``BM25Index`` keeps an inverted index (term -> postings), so a search touches only the
  chunks that share a term with the query, never every chunk.
- Hits with equal scores keep corpus order (the order of the chunks given to the index).

The stemmer, in order (ASCII words only; other words are only lower-cased):

1. possessive ``'s`` is removed and inner apostrophes are dropped (``acme's`` -> ``acme``,
   ``don't`` -> ``dont``);
2. plurals: ``-sses`` -> ``-ss``, ``-ies`` -> ``-y`` (``policies`` -> ``policy``),
   ``-xes/-ches/-shes/-zes`` lose ``-es`` (``branches`` -> ``branch``), otherwise a final ``-s``
   is dropped unless the word ends in ``-ss``, ``-us`` or ``-is`` (``offices`` -> ``office``,
   ``status`` stays);
3. ``-ied`` -> ``-y`` (``applied`` -> ``apply``); ``-ed`` and ``-ing`` are removed when what is
   left still holds a vowel and at least two letters (``opened`` -> ``open``); a doubled final
   consonant is then undoubled (``planned`` -> ``plan``) and a short consonant-vowel-consonant
   stem, or one ending in ``at``/``bl``/``iz``, gets its ``e`` back (``based`` -> ``base``);
   ``-eed`` becomes ``-ee`` only after a syllable (``agreed`` -> ``agree``, ``need`` stays);
4. a final ``e`` after a consonant is dropped, except from a short consonant-vowel-consonant
   stem (``manage`` and ``managed`` both -> ``manag``; ``base`` and ``hope`` stay).

It deliberately does not touch ``-er``, ``-ly``, ``-ion`` and the like: ``founder`` and
``founded`` stay different terms. Light stemming joins word forms, not meanings.
"""

from __future__ import annotations

import heapq
import math
import re
from array import array
from bisect import bisect_left
from collections import Counter, deque
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain, repeat
from typing import Iterable, Sequence

from qagen.records import Chunk

__all__ = ["BM25Index", "Hit", "STOP_WORDS", "content_terms", "stem", "tokenize"]

# Function words that carry no topic. Kept short on purpose: words such as "year", "name",
# "first" or "new" stay searchable, because a question about them may hinge on them.
STOP_WORDS: frozenset[str] = frozenset(
    """
    a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing done down during
    each either few for from further had has have having he her here hers herself him
    himself his how i if in into is it its itself just me more most my myself no nor not
    now of off on once only or other ought our ours ourselves out over own same shall she
    should so some such than that the their theirs them themselves then there these they
    this those through to too under until up upon us very was we were what when where
    which while who whom whose why will with would yet you your yours yourself
    yourselves many much dont doesnt didnt isnt arent wasnt werent cant wont s t
    """.split()
)

# Words are runs of letters or digits; an apostrophe may join two runs (don't, O'Brien).
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
# For lower-cased ASCII text, where words are [a-z0-9]: every byte that is no letter, digit or
# apostrophe becomes a space and str.split does the rest, once the apostrophes that join nothing
# are spaces too (profiled at 10 MB: the regex 0.55 s, this 0.25 s; tokenize reads some four
# times the corpus in a run).
_ASCII_SPACES = bytes(
    byte if chr(byte).isascii() and (chr(byte).isalnum() or chr(byte) == "'") and not chr(byte).isupper() else 32
    for byte in range(256)
)
# An apostrophe that does not join two letters or digits, which separates words as a space does.
_LONE_APOSTROPHE = re.compile(r"'(?:(?<![a-z0-9]')|(?![a-z0-9]))")


def _ascii_words(lowered: str) -> list[str]:
    """``_WORD.findall(lowered)`` for lower-cased ASCII text."""
    if "'" in lowered:
        # Spaces for the apostrophes joining nothing, so that split alone finds the words: no
        # Python loop over every word of a text holding one apostrophe (most prose does).
        lowered = _LONE_APOSTROPHE.sub(" ", lowered)
    return lowered.encode("ascii").translate(_ASCII_SPACES).decode("ascii").split()


_VOWELS = frozenset("aeiou")


def tokenize(text: str) -> list[str]:
    """Content terms of ``text`` in order: lower-cased, stop words removed, lightly stemmed.

    Stop words are removed before stemming, so the pronoun "us" disappears while "used"
    is kept (as the stem ``us``). Digits are kept as terms (years, version numbers).
    """
    return list(filter(None, _word_terms(text)))  # filter(None): "" is a stop word


def _word_terms(text: str) -> list[str]:
    """The term of each word of ``text`` in order, "" for a stop word."""
    terms = _TERMS
    if len(terms) > _MAX_TERMS:
        terms.clear()
    lowered = text.lower()
    words = _ascii_words(lowered) if lowered.isascii() else _WORD.findall(lowered)
    return list(map(terms.__getitem__, words))


def _term(word: str) -> str:
    """The term of one lower-case word, "" for a stop word."""
    if word.endswith(("'s", "’s")):
        word = word[:-2]
    word = word.replace("'", "").replace("’", "")
    if not word or word in STOP_WORDS:
        return ""
    return stem(word)


class _TermTable(dict):
    """word -> term, filled on first sight: a corpus repeats its words, so each is reduced once."""

    def __missing__(self, word: str) -> str:
        term = self[word] = _term(word)
        return term


_TERMS = _TermTable()
_MAX_TERMS = 200_000  # distinct words remembered (some 25 MB); past it the table starts again: memory, not results


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The light stem of one lower-case word (rules in the module docstring)."""
    if not (word.isascii() and word.isalpha()) or len(word) < 3:
        return word
    word = _strip_plural(word)
    word = _strip_ed_ing(word)
    return _drop_final_e(word)


def _strip_plural(word: str) -> str:
    if word.endswith("sses"):
        return word[:-2]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("xes", "ches", "shes", "zes")) and len(word) > 4:
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


def _strip_ed_ing(word: str) -> str:
    if word.endswith("eed"):
        # "agreed" -> "agree", but "need" and "speed" have no suffix to remove.
        return word[:-1] if _measure(word[:-3]) > 0 else word
    if word.endswith("ied") and len(word) > 4:
        return word[:-3] + "y"
    for suffix in ("ing", "ed"):
        if word.endswith(suffix):
            base = word[: -len(suffix)]
            if len(base) >= 2 and _has_vowel(base):
                return _repair_stem(base)
            return word
    return word


def _repair_stem(base: str) -> str:
    # Undo the spelling changes English makes before -ed / -ing.
    if base.endswith(("at", "bl", "iz")):
        return base + "e"
    if len(base) >= 2 and base[-1] == base[-2] and base[-1] not in "lsz" and not _is_vowel(base, len(base) - 1):
        return base[:-1]
    if _measure(base) == 1 and _ends_cvc(base):
        return base + "e"
    return base


def _drop_final_e(word: str) -> str:
    if not word.endswith("e") or len(word) < 3:
        return word
    base = word[:-1]
    if _is_vowel(base, len(base) - 1):
        return word
    measure = _measure(base)
    if measure > 1 or (measure == 1 and not _ends_cvc(base)):
        return base
    return word


def _is_vowel(word: str, i: int) -> bool:
    letter = word[i]
    if letter in _VOWELS:
        return True
    # "y" is a vowel after a consonant (happy, system), a consonant otherwise (yes, key).
    return letter == "y" and i > 0 and not _is_vowel(word, i - 1)


def _has_vowel(word: str) -> bool:
    return any(_is_vowel(word, i) for i in range(len(word)))


def _measure(word: str) -> int:
    """How many vowel-consonant sequences the word has (roughly its syllables)."""
    count = 0
    previous_vowel = False
    for i in range(len(word)):
        vowel = _is_vowel(word, i)
        if previous_vowel and not vowel:
            count += 1
        previous_vowel = vowel
    return count


def _ends_cvc(word: str) -> bool:
    if len(word) < 3:
        return False
    return (
        not _is_vowel(word, len(word) - 3)
        and _is_vowel(word, len(word) - 2)
        and not _is_vowel(word, len(word) - 1)
        and word[-1] not in "wxy"
    )


@dataclass(frozen=True)
class Hit:
    """One chunk found for a query."""

    chunk_id: str
    score: float  # BM25 score, higher is better
    coverage: float  # share of the query's distinct content terms that occur in the chunk, 0..1


class BM25Index:
    """An Okapi BM25 index over chunks.

    Scores use the non-negative idf ``ln(1 + (N - df + 0.5) / (df + 0.5))``. Each distinct
    query term counts once, however often the query repeats it.

    Each chunk is tokenised once, here. A term's postings are two arrays of machine
    integers (positions ascending, and the term's frequency at each), not a list of
    tuples: on a 50 MB corpus that is about a tenth of the memory, and a term's frequency
    in one chunk is a binary search away, which is what ``score`` and ``frequency`` need
    to look at a few chunks without touching every chunk that shares a common word.

    ``terms``, when given, are the only terms indexed: any other looks as if no chunk held it
    (``terms_of`` leaves it out too), while lengths still count every term, so an indexed term
    scores as in a full index. A caller that knows every term it will look up saves building
    postings for the rest (the offline "I don't know" questions look up a third of them).
    """

    def __init__(self, chunks: Sequence[Chunk], *, k1: float = 1.5, b: float = 0.75, terms: Iterable[str] | None = None) -> None:
        if k1 < 0 or not 0 <= b <= 1:
            raise ValueError(f"BM25 needs k1 >= 0 and 0 <= b <= 1, got k1={k1}, b={b}")
        self._k1 = k1
        self._b = b
        self._chunks: tuple[Chunk, ...] = tuple(chunks)
        self._term_id: dict[str, int] = {}
        self._term_names: list[str] = []
        self._positions: list[array[int]] = []  # by term id: the positions holding the term, ascending
        self._frequencies: list[array[int]] = []  # by term id: its frequency at each of those positions
        self._chunk_terms: list[array[int]] = []  # by position: the ids of the chunk's distinct terms
        self._lengths = array("l")
        self._position: dict[str, int] = {}
        self._by_place: dict[tuple[str, int], int] = {}
        positions, frequencies = self._positions, self._frequencies
        term_ids = _TermIds(self._term_names, positions, frequencies)
        indexed = None if terms is None else frozenset(terms) - {""}
        for position, chunk in enumerate(self._chunks):
            if indexed is None:
                found = tokenize(chunk.text)
                self._lengths.append(len(found))
            else:
                found = _word_terms(chunk.text)
                self._lengths.append(len(found) - found.count(""))
                found = list(filter(indexed.__contains__, found))
            counts = Counter(found)
            ids = array("l", map(term_ids.__getitem__, counts))
            # Each term's postings grow by this position and the term's frequency here. The maps
            # run in C: a Python loop over every (chunk, distinct term) took 0.6 s of the 1.4 s
            # of indexing 10 MB.
            deque(map(array.append, map(positions.__getitem__, ids), repeat(position, len(ids))), maxlen=0)
            deque(map(array.append, map(frequencies.__getitem__, ids), counts.values()), maxlen=0)
            self._chunk_terms.append(ids)
            self._position.setdefault(chunk.id, position)
            self._by_place.setdefault((chunk.source, chunk.index), position)
        self._term_id = dict(term_ids)  # a plain dict from here on: looking a term up never adds it
        total = sum(self._lengths)
        self._average_length = total / len(self._lengths) if total else 1.0
        self._neighbours: list[tuple[int, ...]] | None = None  # by position, built on first use
        self._pointed_by: dict[int, list[int]] | None = None
        self._idf: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._chunks)

    @property
    def chunks(self) -> tuple[Chunk, ...]:
        """The indexed chunks, in the order given."""
        return self._chunks

    def chunk(self, chunk_id: str) -> Chunk:
        """The chunk with this id (the first one, should ids repeat); KeyError when unknown."""
        return self._chunks[self._position[chunk_id]]

    def terms_of(self, chunk_id: str) -> frozenset[str]:
        """The distinct content terms of one chunk, as ``tokenize`` produces them."""
        names = self._term_names
        return frozenset(names[term_id] for term_id in self._chunk_terms[self._position[chunk_id]])

    def neighbours(self, chunk_id: str) -> tuple[str, ...]:
        """Ids of the chunks just before and after this one in the same document."""
        chunk = self.chunk(chunk_id)
        found = []
        for index in (chunk.index - 1, chunk.index + 1):
            position = self._by_place.get((chunk.source, index))
            if position is not None:
                found.append(self._chunks[position].id)
        return tuple(found)

    def neighbour_positions(self, position: int) -> tuple[int, ...]:
        """The positions ``neighbours`` names for the chunk at ``position`` (by its id, as ``neighbours`` does)."""
        if self._neighbours is None:
            self._build_neighbours()
        assert self._neighbours is not None
        return self._neighbours[position]

    def pointed_by(self, position: int) -> list[int]:
        """The positions whose ``neighbour_positions`` hold ``position``, ascending."""
        if self._pointed_by is None:
            self._build_neighbours()
        assert self._pointed_by is not None
        return self._pointed_by.get(position, [])

    def with_neighbours(self, positions: Iterable[int]) -> set[int]:
        """``positions`` and their ``neighbour_positions``, in one call (the maps run in C)."""
        if self._neighbours is None:
            self._build_neighbours()
        assert self._neighbours is not None
        given = set(positions)
        return given.union(chain.from_iterable(map(self._neighbours.__getitem__, given)))

    def with_pointing(self, positions: Iterable[int]) -> set[int]:
        """``positions`` and the positions whose ``neighbour_positions`` hold one of them, in one call."""
        if self._pointed_by is None:
            self._build_neighbours()
        assert self._pointed_by is not None
        given = set(positions)
        return given.union(chain.from_iterable(map(self._pointed_by.get, given, repeat(()))))

    def _build_neighbours(self) -> None:
        neighbours: list[tuple[int, ...]] = []
        pointed_by: dict[int, list[int]] = {}
        for position, chunk in enumerate(self._chunks):
            first = self._chunks[self._position[chunk.id]]
            found = []
            for index in (first.index - 1, first.index + 1):
                place = self._by_place.get((first.source, index))
                if place is not None:
                    # ``neighbours`` goes through the neighbour's id: the first chunk with that id.
                    found.append(self._position[self._chunks[place].id])
            neighbours.append(tuple(found))
            for other in found:
                pointed_by.setdefault(other, []).append(position)
        self._neighbours, self._pointed_by = neighbours, pointed_by

    def document_frequency(self, term: str) -> int:
        """In how many chunks a (tokenized) term occurs."""
        term_id = self._term_id.get(term)
        return 0 if term_id is None else len(self._positions[term_id])

    def positions_with(self, term: str) -> Sequence[int]:
        """The positions (in corpus order) of the chunks holding a (tokenized) term."""
        term_id = self._term_id.get(term)
        return () if term_id is None else self._positions[term_id]

    def frequency(self, term: str, position: int) -> int:
        """How often a (tokenized) term occurs in the chunk at ``position``."""
        term_id = self._term_id.get(term)
        if term_id is None:
            return 0
        positions = self._positions[term_id]
        at = bisect_left(positions, position)
        return self._frequencies[term_id][at] if at < len(positions) and positions[at] == position else 0

    def idf(self, term: str) -> float:
        """The BM25 inverse document frequency of a (tokenized) term."""
        idf = self._idf.get(term)
        if idf is None:
            # Remembered: ``score`` asks again for each chunk it scores.
            n = len(self._chunks)
            df = self.document_frequency(term)
            idf = self._idf[term] = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
        return idf

    def search(self, query: str, k: int = 5) -> list[Hit]:
        """The ``k`` best chunks for ``query``: highest score first, ties in corpus order.

        Only chunks sharing at least one content term with the query are returned, so the
        list may be shorter than ``k`` (empty for a query made only of stop words).
        """
        if k <= 0:
            return []
        query_terms = list(dict.fromkeys(tokenize(query)))
        if not query_terms:
            return []
        scores: dict[int, float] = {}
        matched: Counter[int] = Counter()
        for term in query_terms:
            term_id = self._term_id.get(term)
            if term_id is None:
                continue
            weight = self.idf(term)
            for position, frequency in zip(self._positions[term_id], self._frequencies[term_id]):
                scores[position] = scores.get(position, 0.0) + weight * self._saturation(frequency, position)
                matched[position] += 1
        best = heapq.nsmallest(k, scores.items(), key=lambda item: (-item[1], item[0]))
        size = len(query_terms)
        return [
            Hit(chunk_id=self._chunks[position].id, score=score, coverage=matched[position] / size)
            for position, score in best
        ]

    def score(self, query_terms: Sequence[str], position: int) -> float:
        """The score ``search`` gives the chunk at ``position`` for these distinct query terms, to the last bit.

        The terms are added in the order given, as ``search`` adds them, so the sum rounds the same way.
        """
        total = 0.0
        for term in query_terms:
            frequency = self.frequency(term, position)
            if frequency:
                total = total + self.idf(term) * self._saturation(frequency, position)
        return total

    def _saturation(self, frequency: int, position: int) -> float:
        length_ratio = self._lengths[position] / self._average_length
        norm = self._k1 * (1.0 - self._b + self._b * length_ratio)
        return frequency * (self._k1 + 1.0) / (frequency + norm)


class _TermIds(dict):
    """term -> id while a ``BM25Index`` is built: a term seen first gets the next id, and empty postings."""

    def __init__(self, names: list[str], positions: list[array[int]], frequencies: list[array[int]]) -> None:
        super().__init__()
        self._names, self._positions, self._frequencies = names, positions, frequencies

    def __missing__(self, term: str) -> int:
        term_id = self[term] = len(self._names)
        self._names.append(term)
        self._positions.append(array("l"))
        self._frequencies.append(array("l"))
        return term_id


def content_terms(text: str) -> list[str]:
    """The distinct content terms of ``text``, in first-seen order."""
    return list(dict.fromkeys(tokenize(text)))
