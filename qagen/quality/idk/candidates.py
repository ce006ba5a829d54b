"""The "I don't know" examples: choosing what the model is shown, the checks that drop answerable candidates, refusals.

An "I don't know" training example pairs a question that sounds like it belongs to the
documents with a refusal. A wrong one (the documents do answer it) teaches the model to
refuse real questions, so every candidate is checked against the WHOLE corpus with
``likely_answered`` and dropped when in doubt; with a model configured, the model then
checks each survivor too (``templates/idk_check.json``, its reply read by
``qagen.replies.questions.parse_check``).

Candidates come from one of two places:

- offline, ``qagen.quality.idk.offline.offline_idk_questions`` combines names found in the
  corpus (``qagen.quality.idk.names.find_entities``) with question frames about attributes
  documents rarely state (a logo's designer, a motto, a middle name...);
- with a model, ``templates/idk.json`` shows it a few excerpts (``choose_excerpt_chunks``,
  ``render_excerpts``) and asks for questions they do not answer, its reply read by
  ``qagen.replies.questions.parse_questions``.
"""

from __future__ import annotations

import hashlib
import random
import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain

from qagen.quality.retrieval import BM25Index, Hit, content_terms, tokenize
from qagen.records import Chunk



# --------------------------------------------------------------------------- refusals


def pick_refusal(question: str, refusals: Sequence[str], *, seed: int = 0) -> str:
    """One of ``refusals``, always the same for the same question and seed.

    A sha256 digest picks it, not ``hash()``: Python salts string hashes per process,
    which would make the dataset change from run to run.
    """
    if not refusals:
        raise ValueError("pick_refusal needs at least one refusal phrasing")
    digest = hashlib.sha256(f"{seed}\x00{question.strip()}".encode("utf-8")).digest()
    return refusals[int.from_bytes(digest[:8], "big") % len(refusals)]


# --------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class IdkVerdict:
    """Whether the corpus likely answers a question, with the evidence for the decision."""

    question: str
    answerable: bool
    best_chunk_id: str | None  # the passage the decision rests on; None when nothing matched
    score: float  # BM25 score of that passage
    coverage: float  # share of the question's content terms found there (with its neighbours)
    reason: str  # one sentence


# Words that name the kind of answer wanted rather than its topic: the text states
# "opened in 1998", not "opened in the year 1998". They are left out of coverage.
_ANSWER_TYPE_WORDS = (
    "year date day month time name number amount kind type sort percentage "
    "long old often far big large size cost price"
)


@lru_cache(maxsize=1)
def _answer_type_terms() -> frozenset[str]:
    return frozenset(tokenize(_ANSWER_TYPE_WORDS))


def likely_answered(index: BM25Index, question: str, *, min_coverage: float = 0.75, explain: bool = True) -> IdkVerdict:
    """Decide, lexically and conservatively, whether some passage likely answers ``question``.

    Terms are the question's content terms (``qagen.quality.retrieval.tokenize``) minus words that
    only name the answer's kind (year, name, number...). The entity terms are those of the
    question's capitalised words (the first word only when the next one is capitalised too).
    Each passage is judged together with its neighbours in the same document (the name
    is often in the previous chunk and the fact in the next). The question is answerable
    when some passage:

    A. with its neighbours, holds at least ``min_coverage`` of the terms and every key term:
       the entity's terms, or, when the question names no entity, its rarest term(s) found
       in the corpus; or
    B. by itself holds every term except the entity's: it states the very attribute asked
       about, perhaps of the entity under another name or a pronoun.

    It is also answerable when the question has no content term at all (nothing to check).
    Everything else is judged not answerable. Word forms are joined by the light stemming,
    synonyms are not: a question phrased in words the documents never use looks unanswered,
    which is why the candidate questions stay close to the documents' own vocabulary.

    Of the passages that make it answerable, the verdict names the one holding most of the
    question by itself (a short heading next to the real answer may rank higher), then the best
    ranked by BM25. An unanswerable verdict names the closest passage (best window coverage,
    then rank) when ``explain`` is true; that means looking at every chunk sharing a word with
    the question, so callers that need only the decision pass ``explain=False`` and get no
    passage (``best_chunk_id`` None) in that case.

    Only passages that can meet A or B are looked at: a passage meeting A has the key term held
    by the fewest chunks in its window, so it is one of those chunks or a chunk that has one
    of them as a neighbour; a passage meeting B holds every attribute term itself. They are
    found with set operations on the terms' postings, each term costing a look-up per chunk
    near the key or per chunk holding the term, whichever are fewer: a common word of the
    question ("first", "design") never makes the check test every chunk that uses it.
    """
    if not 0.0 < min_coverage <= 1.0:
        raise ValueError(f"min_coverage must be in (0, 1], got {min_coverage}")
    terms = _question_terms(question)
    if not terms:
        reason = "The question has no content words to check, so it is kept as answerable."
        return IdkVerdict(question, True, None, 0.0, 0.0, reason)
    entity = _entity_terms(question) & terms
    attribute = terms - entity
    keys = entity or _rarest_terms(index, terms)
    if not keys:
        return IdkVerdict(question, False, None, 0.0, 0.0, "None of the question's words occurs in the corpus.")

    supported = _support(index, question, terms, entity, attribute, keys, min_coverage)
    if supported is not None:
        return supported
    if not explain:
        return IdkVerdict(question, False, None, 0.0, 0.0, (
            f"No passage holds {_quote(keys)} with {min_coverage:.0%} of the question terms, "
            f"nor states {_quote(attribute or terms)} by itself."))
    return _closest(index, question, terms, attribute)


def _support(
    index: BM25Index, question: str, terms: frozenset[str], entity: frozenset[str], attribute: frozenset[str],
    keys: frozenset[str], min_coverage: float,
) -> IdkVerdict | None:
    """The verdict of the passage that makes ``question`` answerable (rules A and B), or None."""
    query_terms = list(dict.fromkeys(tokenize(question)))  # as BM25Index.search reads the question
    postings = {term: index.positions_with(term) for term in terms}

    # The passages meeting a rule are found with set operations on whole postings, not by testing
    # each passage near the key term one by one (profiled at 50 MB: 11.7 -> 2.9 s for 3,974 questions).
    meeting = _meeting_rule_a(index, terms, keys, postings, min_coverage)
    if entity and attribute:
        meeting |= _holding_all([postings[term] for term in attribute])
    # The terms each passage looked at holds, term by term with set operations, not passage by passage
    # with a binary search per term, once more for each passage it neighbours (50 MB, 4,043 questions: 1.8 -> 1.6 s).
    held: dict[int, set[str]] = {}
    looked_at = index.with_neighbours(meeting)
    for term in terms:
        for position in _holders(postings[term], looked_at):
            held.setdefault(position, set()).add(term)

    def found(position: int) -> set[str]:
        return held.get(position, _NOTHING)

    best: tuple[tuple[int, float, int], IdkVerdict] | None = None  # ((terms held by itself, score, -position), verdict)
    for position in meeting:
        own = found(position)
        window = set(own)
        for neighbour in index.neighbour_positions(position):
            window |= found(neighbour)
        coverage = len(window) / len(terms)
        if coverage >= min_coverage and keys <= window:
            reason = f"A passage covers {len(window)} of {len(terms)} question terms, including {_quote(keys)}."
        elif entity and attribute and attribute <= own:
            reason = f"A passage mentions every asked attribute ({_quote(attribute)}), perhaps about the same entity."
        else:
            continue
        if not own and not any(index.frequency(term, position) for term in query_terms):
            continue  # shares no word with the question: no search would find it
        score = index.score(query_terms, position)
        rank = (len(own), score, -position)
        if best is None or rank > best[0]:
            best = (rank, IdkVerdict(question, True, index.chunks[position].id, score, coverage, reason))
    return None if best is None else best[1]


_NOTHING: set[str] = set()  # the terms of a passage holding none; never changed


def _meeting_rule_a(
    index: BM25Index, terms: frozenset[str], keys: frozenset[str], postings: dict[str, Sequence[int]], min_coverage: float,
) -> set[int]:
    """The positions whose window (the chunk and its neighbours) holds every key and ``min_coverage`` of ``terms``.

    Such a window holds the key held by the fewest chunks, so the position holds it or has a neighbour
    that does; when it must hold r of the m other terms, the same goes for one of their m - r + 1 rarest.
    The candidates come from whichever of the two is held by fewer chunks (a widely used name asked
    about a rare attribute: the chunks near the attribute).
    """
    # A window's coverage, len(window) / len(terms) >= min_coverage, as the fewest terms it must hold.
    fewest = next(count for count in range(len(terms) + 1) if count / len(terms) >= min_coverage)
    sources = [min(keys, key=lambda term: (len(postings[term]), term))]
    others = sorted(terms - keys, key=lambda term: (len(postings[term]), term))
    if fewest > len(keys):
        rarest_others = others[: len(others) - (fewest - len(keys)) + 1]
        if sum(len(postings[term]) for term in rarest_others) < len(postings[sources[0]]):
            sources = rarest_others
    candidates = index.with_pointing(chain.from_iterable(postings[term] for term in sources))
    looked_at = index.with_neighbours(candidates)
    counts: Counter[int] = Counter()
    meeting = candidates
    for term in sorted(terms):
        holders = _holders(postings[term], looked_at)
        windows = candidates.intersection(index.with_pointing(holders))
        if term in keys:
            meeting = meeting & windows
        counts.update(windows)
    return {position for position in meeting if counts[position] >= fewest}


def _holding_all(postings: list[Sequence[int]]) -> set[int]:
    """The positions held by every one of ``postings``."""
    postings = sorted(postings, key=len)
    held = set(postings[0])
    for positions in postings[1:]:
        held = _holders(positions, held)
    return held


def _holders(positions: Sequence[int], among: set[int]) -> set[int]:
    """The members of ``among`` that ``positions`` (ascending) holds."""
    if len(positions) <= 8 * len(among):  # a hash look-up for each of positions, in C
        return among.intersection(positions)
    return {position for position in among if _holds(positions, position)}  # a binary search for each of among


def _holds(positions: Sequence[int], position: int) -> bool:
    """Whether ``positions`` (ascending) holds ``position``."""
    at = bisect_left(positions, position)
    return at < len(positions) and positions[at] == position


def _closest(index: BM25Index, question: str, terms: frozenset[str], attribute: frozenset[str]) -> IdkVerdict:
    """The unanswerable verdict naming the passage closest to answering: best window coverage, then rank."""
    hits = index.search(question, k=len(index))
    found = {hit.chunk_id: index.terms_of(hit.chunk_id) & terms for hit in hits}
    closest: tuple[float, Hit] | None = None  # (window coverage, hit)
    for hit in hits:
        window = set(found[hit.chunk_id])
        for neighbour in index.neighbours(hit.chunk_id):
            window |= found.get(neighbour, set())
        coverage = len(window) / len(terms)
        if closest is None or coverage > closest[0]:
            closest = (coverage, hit)
    if closest is None:
        return IdkVerdict(question, False, None, 0.0, 0.0, "No passage shares a content word with the question.")
    coverage, hit = closest
    missing = terms - found[hit.chunk_id]
    reason = (
        f"The closest passage covers {coverage:.0%} of the question terms and lacks "
        f"{_quote(missing)}; no passage states {_quote(attribute or terms)} together."
    )
    return IdkVerdict(question, False, hit.chunk_id, hit.score, coverage, reason)


def _question_terms(question: str) -> frozenset[str]:
    terms = frozenset(content_terms(question))
    without_answer_type = terms - _answer_type_terms()
    return without_answer_type or terms


_CAPITALISED_WORD = re.compile(r"[^\W\d_][^\W_]*(?:['’][^\W_]+)*")


def _entity_terms(question: str) -> frozenset[str]:
    words = [match.group() for match in _CAPITALISED_WORD.finditer(question)]
    names: list[str] = []
    for i, word in enumerate(words):
        if not word[0].isupper():
            continue
        # The first word is capitalised anyway; it counts only inside a multi-word name.
        if i == 0 and not (len(words) > 1 and words[1][0].isupper()):
            continue
        names.append(word)
    return frozenset(tokenize(" ".join(names)))


def _rarest_terms(index: BM25Index, terms: frozenset[str]) -> frozenset[str]:
    frequencies = {term: index.document_frequency(term) for term in terms}
    present = [df for df in frequencies.values() if df > 0]
    if not present:
        return frozenset()
    rarest = min(present)
    return frozenset(term for term, df in frequencies.items() if df == rarest)


def _quote(terms: frozenset[str] | set[str]) -> str:
    return ", ".join(f"'{term}'" for term in sorted(terms))


# --------------------------------------------------------------------------- model candidates: excerpts


def choose_excerpt_chunks(chunks: Sequence[Chunk], k: int, *, seed: int, round: int) -> list[Chunk]:
    """``k`` chunks to show the model in candidate round ``round``: from different files, new each round.

    The files are visited in a fixed shuffled order, one chunk each, wrapping around when
    ``k`` is larger than the number of files; round ``r`` carries on where round ``r - 1``
    stopped, so consecutive rounds show different files, or different chunks of the same
    files. Each file hands out its chunks in its own fixed shuffled order, starting over once
    all were shown. A round never shows the same chunk twice, and shows every chunk when
    ``k`` is at least their number.

    Deterministic for the same chunks, ``k``, seed and round: the shuffles use
    ``random.Random`` seeded with strings (hashed with sha512), never the salted ``hash()``.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    if round < 0:
        raise ValueError(f"round must be >= 0, got {round}")
    by_source: dict[str, list[int]] = {}
    for position, chunk in enumerate(chunks):
        by_source.setdefault(chunk.source, []).append(position)
    wanted = min(k, len(chunks))
    if wanted == 0:
        return []
    sources = sorted(by_source)
    random.Random(f"qagen-idk-excerpts\x00{seed}").shuffle(sources)
    for source, positions in by_source.items():
        positions.sort(key=lambda position: (chunks[position].index, position))
        random.Random(f"qagen-idk-excerpts\x00{seed}\x00{source}").shuffle(positions)

    chosen: list[int] = []
    taken: set[int] = set()
    slot = round * k
    # Slot t shows file t % S, its (t // S)-th chunk: every chunk comes up within S * (largest file) slots.
    last_slot = slot + len(sources) * max(len(positions) for positions in by_source.values())
    while len(chosen) < wanted and slot < last_slot:
        turn, offset = divmod(slot, len(sources))
        positions = by_source[sources[offset]]
        position = positions[turn % len(positions)]
        if position not in taken:
            taken.add(position)
            chosen.append(position)
        slot += 1
    return [chunks[position] for position in chosen]


_EXCERPT_SEPARATOR = "\n\n"
_CUT_MARK = " [...]"


def render_excerpts(chunks: Sequence[Chunk], *, max_tokens: int, count_tokens: Callable[[str], int]) -> str:
    """The chunks' texts as numbered excerpts, as the ``excerpts`` variable of ``templates/idk.json``.

    Each excerpt is ``Excerpt N (from <source>):`` and the text between triple quotes; the
    whole stays within ``max_tokens`` as ``count_tokens`` counts them. A chunk that does not
    fit is left out (a later, shorter one may still fit), except the first, which is cut at a
    word boundary and marked `` [...]`` so the model always sees something. Empty chunks are
    skipped; "" when nothing fits.
    """
    if max_tokens <= 0:
        raise ValueError(f"max_tokens must be > 0, got {max_tokens}")
    rendered = ""
    shown = 0
    for chunk in chunks:
        text = chunk.text.strip()
        if not text:
            continue
        block = _excerpt(shown + 1, chunk.source, text)
        candidate = f"{rendered}{_EXCERPT_SEPARATOR}{block}" if rendered else block
        if count_tokens(candidate) <= max_tokens:
            rendered, shown = candidate, shown + 1
        elif not rendered:
            rendered = _cut_excerpt(chunk.source, text, max_tokens, count_tokens)
            shown = 1 if rendered else 0
    return rendered


def _excerpt(number: int, source: str, text: str) -> str:
    return f'Excerpt {number} (from {source}):\n"""\n{text}\n"""'


def _cut_excerpt(source: str, text: str, max_tokens: int, count_tokens: Callable[[str], int]) -> str:
    """The longest beginning of ``text``, cut after a word, that fits as excerpt 1; "" when none does."""
    word_ends = [match.end() for match in re.finditer(r"\S+", text)]
    best = ""
    low, high = 0, len(word_ends) - 1
    while low <= high:  # binary search: token counts grow with the prefix
        middle = (low + high) // 2
        block = _excerpt(1, source, text[: word_ends[middle]] + _CUT_MARK)
        if count_tokens(block) <= max_tokens:
            best, low = block, middle + 1
        else:
            high = middle - 1
    return best
