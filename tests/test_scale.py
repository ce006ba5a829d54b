"""Large corpora: the non-model stages do work in proportion to the corpus, not its square.

No durations are asserted (they flake on a loaded machine; ``benchmarks/scale.py`` prints them):
the tests count calls, and check that the faster "I don't know" check decides as the one that
scored every chunk sharing a word with the question did.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from qagen.documents.chunking import split_documents
from qagen.documents.loading import load_corpus
from qagen.documents.tokens import counter_for
from qagen.quality.idk.candidates import (
    IdkVerdict,
    _entity_terms,
    _question_terms,
    _quote,
    _rarest_terms,
    likely_answered,
)
from qagen.quality.idk.offline import _term_positions, offline_idk_questions
from qagen.quality.idk.pairs import offline_idk
from qagen.quality.retrieval import BM25Index, Hit
from qagen.records import Chunk, Document

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


def reference_likely_answered(index: BM25Index, question: str, min_coverage: float = 0.75) -> IdkVerdict:
    """The check as it was before it read only the chunks that can answer: every hit, in rank order."""
    terms = _question_terms(question)
    if not terms:
        return IdkVerdict(question, True, None, 0.0, 0.0, "The question has no content words to check, so it is kept as answerable.")
    entity = _entity_terms(question) & terms
    attribute = terms - entity
    keys = entity or _rarest_terms(index, terms)
    if not keys:
        return IdkVerdict(question, False, None, 0.0, 0.0, "None of the question's words occurs in the corpus.")
    hits = index.search(question, k=len(index))
    found = {hit.chunk_id: index.terms_of(hit.chunk_id) & terms for hit in hits}
    support: tuple[float, IdkVerdict] | None = None
    closest: tuple[float, Hit] | None = None
    for hit in hits:
        window = set(found[hit.chunk_id])
        for neighbour in index.neighbours(hit.chunk_id):
            window |= found.get(neighbour, set())
        coverage = len(window) / len(terms)
        verdict = None
        if coverage >= min_coverage and keys <= window:
            reason = f"A passage covers {len(window)} of {len(terms)} question terms, including {_quote(keys)}."
            verdict = IdkVerdict(question, True, hit.chunk_id, hit.score, coverage, reason)
        elif entity and attribute and attribute <= found[hit.chunk_id]:
            reason = f"A passage mentions every asked attribute ({_quote(attribute)}), perhaps about the same entity."
            verdict = IdkVerdict(question, True, hit.chunk_id, hit.score, coverage, reason)
        if verdict and (support is None or len(found[hit.chunk_id]) / len(terms) > support[0]):
            support = (len(found[hit.chunk_id]) / len(terms), verdict)
        if closest is None or coverage > closest[0]:
            closest = (coverage, hit)
    if support is not None:
        return support[1]
    if closest is None:
        return IdkVerdict(question, False, None, 0.0, 0.0, "No passage shares a content word with the question.")
    coverage, hit = closest
    missing = terms - found[hit.chunk_id]
    reason = (
        f"The closest passage covers {coverage:.0%} of the question terms and lacks "
        f"{_quote(missing)}; no passage states {_quote(attribute or terms)} together."
    )
    return IdkVerdict(question, False, hit.chunk_id, hit.score, coverage, reason)


def corpus_chunks(chunk_tokens: int = 120) -> list[Chunk]:
    loaded = load_corpus(CORPUS)
    return split_documents(loaded.documents, counter_for("gpt-4o-mini"), chunk_tokens=chunk_tokens, overlap_tokens=10)


def sentence_questions(chunks: list[Chunk], count: int, seed: int = 0) -> list[str]:
    """Questions made of a chunk's own words (many answerable), of words of two chunks, and of rare and absent words."""
    rng = random.Random(seed)
    questions = []
    for _ in range(count):
        chunk = rng.choice(chunks)
        words = chunk.text.split()
        start = rng.randrange(max(1, len(words) - 8))
        taken = words[start : start + rng.randint(2, 8)]
        if rng.random() < 0.3:
            taken += rng.choice(chunks).text.split()[:3]
        if rng.random() < 0.1:
            taken.append("Zyxwvut")
        questions.append(f"What {'about ' if rng.random() < 0.5 else ''}{' '.join(taken)}?")
    return questions


def with_edge_cases(chunks: list[Chunk]) -> list[Chunk]:
    """The chunks, plus a repeated chunk (same id twice) and a copy under another file (equal scores: ties)."""
    copy = chunks[3]
    twin = Chunk(id="twin-0", source="zz-copy.md", index=0, text=copy.text, tokens=copy.tokens)
    follower = Chunk(id="twin-1", source="zz-copy.md", index=1, text=chunks[4].text, tokens=chunks[4].tokens)
    return [*chunks, copy, twin, follower]


def test_the_check_decides_as_scoring_every_hit_did() -> None:
    chunks = with_edge_cases(corpus_chunks())
    index = BM25Index(chunks)
    questions = offline_idk_questions(chunks, 300) + sentence_questions(chunks, 400) + [
        "What is the?",  # stop words only: nothing to check
        "Who designed the Zyxwvut Qqqq logo?",  # an entity the corpus never names
        "What year?",  # only a word naming the answer's kind
    ]
    answerable = 0
    for question in questions:
        before = reference_likely_answered(index, question)
        assert likely_answered(index, question) == before, question
        fast = likely_answered(index, question, explain=False)
        assert fast.answerable == before.answerable, question
        if before.answerable:
            answerable += 1
            assert fast == before, question
        else:
            assert fast.best_chunk_id is None or fast.best_chunk_id == before.best_chunk_id
    # The corpus and the questions are such that both decisions come up often.
    assert 100 < answerable < len(questions) - 100


@pytest.mark.parametrize("min_coverage", [0.3, 0.5, 1.0])
def test_the_check_decides_as_before_at_other_coverages(min_coverage: float) -> None:
    chunks = with_edge_cases(corpus_chunks(60))
    index = BM25Index(chunks)
    for question in sentence_questions(chunks, 150, seed=1):
        assert likely_answered(index, question, min_coverage=min_coverage) == reference_likely_answered(index, question, min_coverage)


def test_search_with_k_beyond_the_hits_and_ties_keeps_corpus_order() -> None:
    text = "The harbour crane lifts containers."
    chunks = [Chunk(id=f"c{i}", source=f"f{i}.md", index=0, text=text, tokens=6) for i in range(3)]
    chunks.append(Chunk(id="other", source="g.md", index=0, text="Bread is baked daily.", tokens=5))
    index = BM25Index(chunks)
    hits = index.search("harbour crane", k=10)
    assert [hit.chunk_id for hit in hits] == ["c0", "c1", "c2"]
    assert len({hit.score for hit in hits}) == 1
    assert index.score(["harbour", "crane"], 1) == hits[1].score
    assert index.frequency("crane", 3) == 0 and index.frequency("nowhere", 0) == 0


def test_offline_questions_are_the_same_with_the_index() -> None:
    chunks = corpus_chunks()
    assert offline_idk_questions(chunks, 200, index=BM25Index(chunks)) == offline_idk_questions(chunks, 200)
    positions = _term_positions(chunks)
    assert list(positions("ferry")) == sorted(positions("ferry"))


# --------------------------------------------------------------------------- calls grow linearly

_COMMON = ["service", "office", "report", "staff", "annual", "meeting", "first", "second", "version", "design", "code", "support", "team"]


def synthetic_chunks(documents: int, seed: int = 0) -> list[Chunk]:
    """Documents that each name their own organisation and person, in sentences of shared common words."""
    rng = random.Random(seed)
    chunks = []
    for number in range(documents):
        name = "".join(rng.choice("bcdfghklmnprstvz") + rng.choice("aeiou") for _ in range(3)).capitalize()
        org, person = f"{name} Holdings", f"Dana {name}son"
        for index in range(3):
            words = " ".join(rng.choice(_COMMON) for _ in range(40))
            text = f"{org} runs the {words}. {person} leads the {rng.choice(_COMMON)} team at {org}. Doc{number} part {index}."
            chunks.append(Chunk(id=f"d{number}-{index}", source=f"doc{number}.md", index=index, text=text, tokens=80))
    return chunks


class _Calls:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        for name in ("_saturation", "frequency"):
            original = getattr(BM25Index, name, None)
            if original is not None:
                monkeypatch.setattr(BM25Index, name, self._counting(original))

    def _counting(self, original):
        def counted(index, *args):
            self.count += 1
            return original(index, *args)
        return counted


def idk_calls(monkeypatch: pytest.MonkeyPatch, documents: int) -> int:
    chunks = synthetic_chunks(documents)
    index = BM25Index(chunks)
    with monkeypatch.context() as patch:
        calls = _Calls(patch)
        outcome = offline_idk(chunks, index, target=documents // 2, refusals=["I don't know."], seed=0)
    assert outcome.candidates > documents // 2  # enough questions were checked to matter
    return calls.count


def test_the_idk_check_looks_at_a_number_of_chunks_linear_in_the_corpus(monkeypatch: pytest.MonkeyPatch) -> None:
    # Questions and chunks both double: a check scoring every chunk sharing a common word does 4x the work.
    small, large = idk_calls(monkeypatch, 150), idk_calls(monkeypatch, 300)
    assert small > 0
    assert large <= 2.2 * small, (small, large)


def counted_chunking(paragraphs: int) -> tuple[int, Counter[str], int]:
    rng = random.Random(7)
    text = "\n\n".join(
        " ".join(f"Sentence {i}.{j} says {' '.join(rng.choice(_COMMON) for _ in range(rng.randint(3, 30)))}." for j in range(rng.randint(1, 6)))
        for i in range(paragraphs)
    )
    counter = counter_for("gpt-4o-mini")
    asked: Counter[str] = Counter()

    def count(piece: str) -> int:
        asked[piece] += 1
        return counter(piece)

    chunks = split_documents([Document(source="long.txt", text=text, encoding="utf-8")], count, chunk_tokens=120, overlap_tokens=12)
    assert all(chunk.tokens <= 120 and chunk.tokens == counter(chunk.text) for chunk in chunks)
    return sum(asked.values()), asked, len(chunks)


def test_chunking_counts_each_piece_once_and_calls_grow_linearly() -> None:
    small, asked, chunks = counted_chunking(300)
    assert max(asked.values()) == 1  # the splitter asked about some pieces three times before
    large, _, more_chunks = counted_chunking(600)
    assert more_chunks > 1.8 * chunks
    assert large <= 2.2 * small, (small, large)
