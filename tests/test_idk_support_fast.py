"""``likely_answered`` finds, with set operations on postings, the verdict a plain look at every chunk gives.

The reference below tests every chunk of the corpus against rules A and B one by one, as the
first version did (it looked at fewer chunks, but the same ones can meet a rule).
"""

from __future__ import annotations

import random

from qagen.quality.idk import candidates
from qagen.quality.idk.candidates import IdkVerdict, likely_answered
from qagen.quality.retrieval import BM25Index, tokenize
from qagen.records import Chunk

_VOCABULARY = (
    "harbor museum Harbor Museum trust Trust opened logo logos designed design budget annual first year "
    "Northwind Logistics northwind the of Kellimore island Island ferry ferries 1998 café Café é head office email"
).split()


def _corpus(seed: int) -> list[Chunk]:
    rng = random.Random(seed)
    chunks = []
    for i in range(rng.randint(1, 40)):
        text = " ".join(rng.choice(_VOCABULARY) for _ in range(rng.randint(0, 10)))
        # Some documents repeat a chunk id or an index, as the index allows.
        chunks.append(Chunk(id=f"c{i if rng.random() > 0.1 else 0}", source=f"f{rng.randint(0, 3)}", index=rng.randint(0, 6), text=text, tokens=1))
    return chunks


def _questions(seed: int) -> list[str]:
    rng = random.Random(seed)
    frames = ["Who designed the logo of {}?", "What is the annual budget of {}?", "What is {}?", "When was {} opened first?", "{}?"]
    names = ["the Harbor Museum", "Northwind Logistics", "Kellimore Island", "Café Trust", "Nowhere Known", "1998", ""]
    return [rng.choice(frames).format(rng.choice(names)) for _ in range(30)] + ["Who designed the logo?", "What is the email of the head office?"]


def _reference_support(index: BM25Index, question: str, min_coverage: float) -> IdkVerdict | None:
    terms = candidates._question_terms(question)
    entity = candidates._entity_terms(question) & terms
    attribute = terms - entity
    keys = entity or candidates._rarest_terms(index, terms)
    query_terms = list(dict.fromkeys(tokenize(question)))

    def found(position: int) -> frozenset[str]:
        return frozenset(t for t in terms if index.frequency(t, position))

    best = None
    for position in range(len(index)):
        own = found(position)
        window = set(own)
        for neighbour in index.neighbour_positions(position):
            window |= found(neighbour)
        coverage = len(window) / len(terms)
        if coverage >= min_coverage and keys <= window:
            reason = f"A passage covers {len(window)} of {len(terms)} question terms, including {candidates._quote(keys)}."
        elif entity and attribute and attribute <= own:
            reason = f"A passage mentions every asked attribute ({candidates._quote(attribute)}), perhaps about the same entity."
        else:
            continue
        if not own and not any(index.frequency(term, position) for term in query_terms):
            continue
        score = index.score(query_terms, position)
        rank = (len(own), score, -position)
        if best is None or rank > best[0]:
            best = (rank, IdkVerdict(question, True, index.chunks[position].id, score, coverage, reason))
    return None if best is None else best[1]


def test_support_is_that_of_looking_at_every_chunk() -> None:
    answered = 0
    for seed in range(60):
        index = BM25Index(_corpus(seed))
        for question in _questions(seed):
            for min_coverage in (0.75, 0.5, 1.0, 0.3):
                verdict = likely_answered(index, question, min_coverage=min_coverage, explain=False)
                terms = candidates._question_terms(question)
                keys = (candidates._entity_terms(question) & terms) or candidates._rarest_terms(index, terms)
                if not terms or not keys:
                    continue
                expected = _reference_support(index, question, min_coverage)
                if expected is None:
                    assert not verdict.answerable, (seed, question, min_coverage)
                else:
                    answered += 1
                    assert verdict == expected, (seed, question, min_coverage)
    assert answered > 500  # the corpora do answer many questions: both rules are exercised
