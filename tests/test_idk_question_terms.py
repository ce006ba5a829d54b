"""The offline "I don't know" stage indexes only the terms its questions can hold, and decides the same.

``offline_idk`` without an index builds a ``BM25Index`` of ``question_terms(entities)`` only;
these tests hold it to the answers of a full index: every indexed term looks the same in both,
every question's terms are among the indexed ones, and the pairs and rejects are identical.
"""

from __future__ import annotations

import random

from qagen.quality.idk.names import find_entities
from qagen.quality.idk.offline import _FRAMES, offline_idk_questions, question_terms
from qagen.quality.idk.pairs import offline_idk
from qagen.quality.retrieval import BM25Index, tokenize
from qagen.records import Chunk
from tests.test_idk import HANDBOOK, paragraphs_as_chunks
from tests.test_scale import synthetic_chunks

_WORDS = (
    "Harbor Museum opened the trust in 1998 ferry ferries logo budget of Ms. Okafor said it's İstanbul "
    "Émile's Zoë Café déjà vu don't O'Brien Bay Street STAFF HANDBOOK | 12 3.5 - x_y"
).split()


def _random_chunks(seed: int, count: int) -> list[Chunk]:
    rng = random.Random(seed)
    return [
        Chunk(
            id=f"c{i}", source=f"f{i % 4}", index=i // 4, tokens=1,
            text="".join(rng.choice(_WORDS) + rng.choice([" ", " ", ". ", "\n", ", ", "\n\n"]) for _ in range(rng.randint(0, 40))),
        )
        for i in range(count)
    ]


def _corpora() -> list[list[Chunk]]:
    return [paragraphs_as_chunks(HANDBOOK), synthetic_chunks(40), _random_chunks(1, 80), _random_chunks(2, 5), []]


def test_an_index_of_some_terms_answers_for_them_as_a_full_index_does() -> None:
    for chunks in _corpora():
        full = BM25Index(chunks)
        every = sorted(full._term_id)
        some = frozenset(random.Random(3).sample(every, len(every) // 3)) | {"unseen", ""}
        part = BM25Index(chunks, terms=some)
        assert list(part._lengths) == list(full._lengths) and part._average_length == full._average_length
        for term in every + ["unseen"]:
            if term in some:
                assert list(part.positions_with(term)) == list(full.positions_with(term))
                assert part.document_frequency(term) == full.document_frequency(term) and part.idf(term) == full.idf(term)
                assert [part.frequency(term, p) for p in range(len(chunks))] == [full.frequency(term, p) for p in range(len(chunks))]
            else:
                assert part.document_frequency(term) == 0 and list(part.positions_with(term)) == []
        query = [term for term in every if term in some][:6]
        assert [part.score(query, p) for p in range(len(chunks))] == [full.score(query, p) for p in range(len(chunks))]
        assert part.search(" ".join(query), k=10) == full.search(" ".join(query), k=10)
        for chunk in chunks:
            assert part.terms_of(chunk.id) == full.terms_of(chunk.id) & some


def test_every_term_of_every_offline_question_is_a_question_term() -> None:
    for chunks in _corpora():
        entities = find_entities(chunks)
        terms = question_terms(entities)
        for questions in (offline_idk_questions(chunks, 10_000, seed=seed, entities=entities) for seed in (0, 1)):
            for question in questions:
                assert set(tokenize(question)) <= terms, question
        for frames in _FRAMES.values():
            for frame in frames:
                assert frame.key_terms() <= terms


def test_offline_idk_with_only_the_question_terms_indexed_keeps_and_drops_the_same_questions() -> None:
    for chunks in _corpora():
        for target in (1, 7, 200):
            full = offline_idk(chunks, BM25Index(chunks), target, ["I don't know."], 0)
            part = offline_idk(chunks, None, target, ["I don't know."], 0)
            assert (part.pairs, part.rejections, part.candidates) == (full.pairs, full.rejections, full.candidates)


def test_offline_idk_leaves_the_cycle_collector_as_it_found_it() -> None:
    import gc

    chunks = paragraphs_as_chunks(HANDBOOK)
    assert gc.isenabled()
    offline_idk(chunks, None, 5, ["I don't know."], 0)
    assert gc.isenabled()
    gc.disable()
    try:
        offline_idk(chunks, None, 5, ["I don't know."], 0)
        assert not gc.isenabled()
    finally:
        gc.enable()
