"""BM25 retrieval over chunks: tokenizing, ranking, coverage, tie order, scale."""

from __future__ import annotations

import random

import pytest

from qagen.records import Chunk
from qagen.quality.retrieval import BM25Index, Hit, stem, tokenize


def make_chunks(texts: list[str], source: str = "notes.md") -> list[Chunk]:
    return [
        Chunk(id=f"{source}#{i}", source=source, index=i, text=text, tokens=len(text.split())) for i, text in enumerate(texts)
    ]


TOPICS = [
    "The Brindle Point tide gauge was installed in 1964 and is read every six hours.",
    "Readings above 4.2 metres trigger a flood warning for the lower quay, which is then closed to vehicles.",
    "The harbour master keeps the ferry timetable and publishes changes on the noticeboard by the ticket office.",
    "Lanterns from old fishing boats are displayed in the museum's east gallery, next to the rope collection.",
    "Anglers need a permit for the north pier; permits cost twelve pounds a season and are sold at the ticket office.",
    "The lifeboat crew trains on Tuesday evenings and launches from the slipway below the coastguard hut.",
]


# --------------------------------------------------------------------------- tokenize


def test_tokenize_lowercases_drops_stop_words_and_possessives() -> None:
    assert tokenize("The Museum's Lanterns are in THE gallery") == ["museum", "lantern", "gallery"]


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("policy", "policies"),
        ("office", "offices"),
        ("branch", "branches"),
        ("open", "opened"),
        ("open", "opening"),
        ("plan", "planned"),
        ("base", "based"),
        ("manage", "managed"),
        ("apply", "applied"),
        ("agree", "agreed"),
    ],
)
def test_light_stemming_joins_word_forms(one: str, other: str) -> None:
    assert stem(one) == stem(other)


@pytest.mark.parametrize(("one", "other"), [("hope", "hop"), ("founder", "founded"), ("status", "state")])
def test_light_stemming_keeps_different_words_apart(one: str, other: str) -> None:
    assert stem(one) != stem(other)


def test_tokenize_keeps_numbers_and_non_ascii_words() -> None:
    assert tokenize("Opened in 2004 by Zoë") == ["open", "2004", "zoë"]


# --------------------------------------------------------------------------- ranking


def test_distinctive_queries_rank_the_right_chunk_first() -> None:
    chunks = make_chunks(TOPICS)
    index = BM25Index(chunks)
    expectations = {
        "When was the tide gauge installed?": 0,
        "What height triggers a flood warning?": 1,
        "Who keeps the ferry timetable?": 2,
        "Where are the old lanterns displayed?": 3,
        "How much is a permit for the pier?": 4,
        "When does the lifeboat crew train?": 5,
    }
    for query, expected in expectations.items():
        hits = index.search(query, k=3)
        assert hits[0].chunk_id == chunks[expected].id, query


def test_coverage_is_the_share_of_query_terms_in_the_chunk() -> None:
    index = BM25Index(make_chunks(TOPICS))
    hits = index.search("lanterns gallery zeppelin", k=1)
    assert hits == [Hit(chunk_id="notes.md#3", score=hits[0].score, coverage=pytest.approx(2 / 3))]
    assert index.search("gallery lantern", k=1)[0].coverage == 1.0


def test_rare_terms_outweigh_common_ones() -> None:
    texts = ["ticket office open daily"] * 5 + ["ticket office sells a lifeboat calendar"]
    index = BM25Index(make_chunks(texts))
    assert index.idf(stem("lifeboat")) > index.idf(stem("ticket"))
    assert index.search("lifeboat ticket")[0].chunk_id == "notes.md#5"


def test_more_occurrences_score_higher_but_saturate() -> None:
    index = BM25Index(make_chunks(["ferry pier quay", "ferry ferry pier quay", "ferry ferry ferry ferry pier quay"]))
    scores = {hit.chunk_id: hit.score for hit in index.search("ferry", k=3)}
    once, twice, four = scores["notes.md#0"], scores["notes.md#1"], scores["notes.md#2"]
    assert once < twice < four
    assert four - twice < twice - once


def test_ties_keep_corpus_order_not_id_order() -> None:
    texts = ["ferry timetable", "lifeboat crew", "ferry timetable", "ferry timetable"]
    ids = "zbya"  # not in corpus order
    chunks = [Chunk(id=ids[i], source="a.md", index=i, text=text, tokens=2) for i, text in enumerate(texts)]
    index = BM25Index(chunks)
    hits = index.search("ferry timetable", k=10)
    assert [hit.chunk_id for hit in hits] == ["z", "y", "a"]
    assert len({hit.score for hit in hits}) == 1
    assert index.search("ferry timetable", k=2) == hits[:2]


def test_search_limits_and_empty_queries() -> None:
    index = BM25Index(make_chunks(TOPICS))
    assert len(index.search("ticket office", k=1)) == 1
    assert {hit.chunk_id for hit in index.search("ticket office", k=10)} == {"notes.md#2", "notes.md#4"}
    assert index.search("ticket office", k=0) == []
    assert index.search("what is the", k=5) == []
    assert index.search("zeppelin", k=5) == []
    assert BM25Index([]).search("ferry") == []


def test_index_exposes_terms_neighbours_and_frequencies() -> None:
    chunks = make_chunks(TOPICS[:3]) + make_chunks(TOPICS[3:], source="other.md")
    index = BM25Index(chunks)
    assert len(index) == 6
    assert index.chunk("notes.md#1") is chunks[1]
    assert stem("flood") in index.terms_of("notes.md#1")
    assert index.neighbours("notes.md#1") == ("notes.md#0", "notes.md#2")
    assert index.neighbours("notes.md#2") == ("notes.md#1",)  # other.md#0 is another document
    assert index.document_frequency(stem("office")) == 2
    assert index.document_frequency("zeppelin") == 0


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        BM25Index([], b=1.5)
    with pytest.raises(ValueError):
        BM25Index([], k1=-1)


# --------------------------------------------------------------------------- scale


def test_five_thousand_chunks_and_a_hundred_queries() -> None:
    rng = random.Random(7)
    vocabulary = [f"word{i}" for i in range(3000)]
    texts = []
    for i in range(5000):
        words = rng.choices(vocabulary, k=120)
        words.insert(rng.randrange(120), f"marker{i}")  # one term only this chunk has
        texts.append(" ".join(words))
    index = BM25Index(make_chunks(texts))
    for i in rng.sample(range(5000), 100):
        hits = index.search(f"what is {rng.choice(vocabulary)} in marker{i}?", k=5)
        assert hits[0].chunk_id == f"notes.md#{i}"
        assert len(hits) == 5
