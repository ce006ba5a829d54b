"""Deduplication: exact and near-duplicate questions, which pair is kept, determinism, speed."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from itertools import combinations

import pytest

from qagen.quality.dedupe import Duplicate, cluster, dedupe
from qagen.quality.nearindex import NearDuplicateIndex, NearMatch, count_words, normalise, similarity, words
from qagen.errors import ConfigError, QagenError
from qagen.records import Pair

LONG_QUESTION = (
    "Which platform does the evening express to Glasgow leave from when the main "
    "concourse is closed for engineering works on a Sunday"
)


def pair(pair_id: str, question: str, answer: str = "An answer.") -> Pair:
    return Pair(id=pair_id, question=question, answer=answer, source="doc.md", chunk_id="c1")


def kept_ids(kept: list[Pair]) -> list[str]:
    return [p.id for p in kept]


def brute_jaccard(a: str, b: str) -> float:
    """Reference Jaccard over word sets, written independently of the index."""
    x, y = set(normalise(a).split()), set(normalise(b).split())
    if not x or not y:
        return 0.0
    return len(x & y) / len(x | y)


# --- normalise ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  What is   a TOKEN? ", "what is a token"),
        ("What's the fare (return)?!", "what s the fare return"),
        ("\u201cSmart\u201d quotes \u2014 and dashes\u2026", "smart quotes and dashes"),
        ("\uff37\uff48\uff41\uff54 is NFKC\uff1f", "what is nfkc"),  # full-width letters and question mark
        ("Stra\u00dfe", "strasse"),  # case folding, not just lower()
        ("soft\u00adhyphen and zero\u200bwidth", "softhyphen and zerowidth"),
        ("What does `ls -la` print?", "what does ls la print"),
        ("\u00bfQu\u00e9 es?", "qu\u00e9 es"),
    ],
)
def test_normalise_folds_case_space_and_prose_punctuation(text: str, expected: str) -> None:
    assert normalise(text) == expected
    assert normalise(expected) == expected


def test_normalise_keeps_symbols_and_technical_marks() -> None:
    assert normalise("What is C++?") != normalise("What is C?")
    assert normalise("What does the * operator do?") != normalise("What does the / operator do?")
    assert normalise("Is 50% off?") == "is 50% off"
    assert normalise("max_tokens") == "max_tokens"


def test_words_and_similarity_use_word_sets() -> None:
    assert words("The cat, the hat.") == frozenset({"the", "cat", "hat"})
    assert similarity("a b c d", "a b c e") == pytest.approx(3 / 5)
    assert similarity("b a", "a b") == 1.0
    assert similarity("???", "a") == 0.0


# --- exact duplicates ----------------------------------------------------------------


def test_exact_duplicates_differing_in_case_space_and_punctuation_are_dropped() -> None:
    pairs = [
        pair("p1", "How do I renew my season ticket?"),
        pair("p2", "how do i renew   my season ticket"),
        pair("p3", "HOW DO I RENEW MY SEASON-TICKET?!"),
        pair("p4", "How do I cancel my season ticket?"),
    ]
    kept, dropped = dedupe(pairs)
    assert kept_ids(kept) == ["p1", "p4"]
    assert dropped == [Duplicate("p2", "p1", "exact", 1.0), Duplicate("p3", "p1", "exact", 1.0)]


def test_a_repeated_question_goes_even_with_a_different_answer() -> None:
    pairs = [
        pair("a", "When does the last train leave?", "At 23:40."),
        pair("b", "When does the last train leave", "Midnight."),
    ]
    kept, dropped = dedupe(pairs)
    assert kept_ids(kept) == ["a"]
    assert dropped == [Duplicate("b", "a", "exact", 1.0)]


def test_same_answer_with_different_questions_is_not_a_duplicate() -> None:
    pairs = [
        pair("a", "How much is a child ticket?", "Half fare."),
        pair("b", "What do pensioners pay on Sundays?", "Half fare."),
    ]
    kept, dropped = dedupe(pairs)
    assert kept_ids(kept) == ["a", "b"]
    assert dropped == []


# --- near duplicates -----------------------------------------------------------------


def test_one_word_changed_in_a_long_question_is_a_near_duplicate_at_0_8_not_at_0_95() -> None:
    changed = LONG_QUESTION.replace("Sunday", "Saturday")
    pairs = [pair("first", LONG_QUESTION), pair("second", changed)]
    expected = brute_jaccard(LONG_QUESTION, changed)
    assert 0.8 < expected < 0.95  # the test is about this band

    kept, dropped = dedupe(pairs, threshold=0.8)
    assert kept_ids(kept) == ["first"]
    assert dropped == [Duplicate("second", "first", "near", pytest.approx(expected))]

    kept, dropped = dedupe(pairs, threshold=0.95)
    assert kept_ids(kept) == ["first", "second"]
    assert dropped == []


def test_reordered_words_are_a_near_duplicate_with_similarity_one() -> None:
    pairs = [pair("a", "Where is the lost property office?"), pair("b", "The lost property office is where?")]
    kept, dropped = dedupe(pairs)
    assert kept_ids(kept) == ["a"]
    assert dropped == [Duplicate("b", "a", "near", 1.0)]


def test_clearly_different_questions_are_all_kept() -> None:
    questions = [
        "How do I renew my season ticket?",
        "Which platform does the Glasgow train leave from?",
        "Can I take a bicycle on the night bus?",
        "What is the refund policy for delayed journeys?",
        "Who maintains the fleet of electric trams?",
        "When was the western line opened?",
        "Is there step-free access at Central station?",
    ]
    kept, dropped = dedupe([pair(f"p{i}", q) for i, q in enumerate(questions)])
    assert len(kept) == len(questions)
    assert dropped == []


def test_threshold_is_inclusive() -> None:
    # 8 shared words out of 10 distinct: Jaccard exactly 0.8.
    base = "alpha bravo charlie delta echo foxtrot golf hotel india"
    other = "alpha bravo charlie delta echo foxtrot golf hotel juliet"
    assert brute_jaccard(base, other) == 0.8
    pairs = [pair("a", base), pair("b", other)]

    kept, dropped = dedupe(pairs, threshold=0.8)
    assert kept_ids(kept) == ["a"] and dropped == [Duplicate("b", "a", "near", 0.8)]

    kept, dropped = dedupe(pairs, threshold=0.8000001)
    assert kept_ids(kept) == ["a", "b"] and dropped == []

    # 7 of 10: caught at 0.7, not at 0.71.
    third = "alpha bravo charlie delta echo foxtrot golf kilo"
    assert brute_jaccard(base, third) == 0.7
    assert dedupe([pair("a", base), pair("c", third)], threshold=0.7)[1] == [Duplicate("c", "a", "near", 0.7)]
    assert dedupe([pair("a", base), pair("c", third)], threshold=0.71)[1] == []


def test_threshold_one_drops_only_identical_word_sets() -> None:
    pairs = [pair("a", "red green blue"), pair("b", "blue red green"), pair("c", "red green blue yellow")]
    kept, dropped = dedupe(pairs, threshold=1.0)
    assert kept_ids(kept) == ["a", "c"]
    assert dropped == [Duplicate("b", "a", "near", 1.0)]


@pytest.mark.parametrize("threshold", [0, 0.0, -0.5, 1.01, 2, float("nan"), "0.8", True, None])
def test_a_bad_threshold_is_a_config_error(threshold: object) -> None:
    with pytest.raises(ConfigError, match="threshold") as caught:
        dedupe([pair("a", "x")], threshold=threshold)  # type: ignore[arg-type]
    assert isinstance(caught.value, QagenError)
    with pytest.raises(ConfigError):
        NearDuplicateIndex(threshold)  # type: ignore[arg-type]


# --- which pair is kept ----------------------------------------------------------------


def test_the_first_pair_is_kept_and_every_dropped_pair_names_a_kept_one() -> None:
    a = "alpha bravo charlie delta echo foxtrot golf hotel india juliet"
    near_a = "alpha bravo charlie delta echo foxtrot golf hotel india kilo"
    pairs = [
        pair("p1", "unrelated question about timetables"),
        pair("p2", a),
        pair("p3", near_a),  # near duplicate of p2
        pair("p4", near_a.upper() + "?"),  # repeats p3's question, which was dropped
        pair("p5", a + "!"),  # exact duplicate of p2
    ]
    kept, dropped = dedupe(pairs)
    assert kept_ids(kept) == ["p1", "p2"]
    near = brute_jaccard(a, near_a)
    assert dropped == [
        Duplicate("p3", "p2", "near", pytest.approx(near)),
        Duplicate("p4", "p2", "near", pytest.approx(near)),
        Duplicate("p5", "p2", "exact", 1.0),
    ]
    assert {d.kept_id for d in dropped} <= set(kept_ids(kept))


def test_kept_id_is_the_most_similar_kept_pair_and_ties_go_to_the_earliest() -> None:
    base = "w1 w2 w3 w4 w5 w6 w7 w8 w9 w10"
    pairs = [
        pair("far", "w1 w2 w3 w4 w5 w6 w7 w8 x1 x2 x3"),  # 8/13 with the query below: below 0.8
        pair("close", "w1 w2 w3 w4 w5 w6 w7 w8 w9 y1"),  # 9/11 with the query
        pair("closest", "w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 z1"),  # 10/11
        pair("query", base),
    ]
    _, dropped = dedupe(pairs)
    assert dropped == [Duplicate("query", "closest", "near", pytest.approx(10 / 11))]

    index = NearDuplicateIndex(0.8)
    index.insert("first", "a b c d e f g h i x")
    index.insert("second", "a b c d e f g h i y")  # equally near to the query
    assert index.nearest("a b c d e f g h i z") == NearMatch("first", pytest.approx(9 / 11))


def test_a_chain_keeps_both_ends_in_dedupe_and_is_one_group_in_cluster() -> None:
    a = "a b c d e f g h i j"
    b = "a b c d e f g h i k"  # 9/11 with a
    c = "a b c d e f g h l k"  # 9/11 with b, 8/12 with a
    assert brute_jaccard(a, c) < 0.8 <= min(brute_jaccard(a, b), brute_jaccard(b, c))
    kept, dropped = dedupe([pair("A", a), pair("B", b), pair("C", c)])
    assert kept_ids(kept) == ["A", "C"]
    assert [d.pair_id for d in dropped] == ["B"]
    assert cluster([a, "something else entirely", b, c]) == [0, 1, 0, 0]


def test_empty_input() -> None:
    assert dedupe([]) == ([], [])
    assert cluster([]) == []


def test_questions_without_words_are_exact_duplicates_of_each_other_only() -> None:
    pairs = [pair("a", "???"), pair("b", ""), pair("c", "What?"), pair("d", "what")]
    kept, dropped = dedupe(pairs)
    assert kept_ids(kept) == ["a", "c"]
    assert dropped == [Duplicate("b", "a", "exact", 1.0), Duplicate("d", "c", "exact", 1.0)]
    assert cluster(["?", "!", "what"]) == [0, 1, 2]


def test_rejection_records_the_dropped_pair_and_why() -> None:
    dropped_pair = Pair("p9", "How long is the ticket valid", "A day.", "fares.md", "fares-0", "grounded")
    rejection = Duplicate("p9", "p2", "near", 0.8571).rejection(dropped_pair)
    assert (rejection.stage, rejection.reason, rejection.pair_id) == ("dedupe", "near_duplicate", "p9")
    assert (rejection.source, rejection.chunk_id, rejection.raw) == ("fares.md", "fares-0", dropped_pair.question)
    assert "p2" in rejection.detail and "0.86" in rejection.detail
    assert Duplicate("p9", "p2", "exact", 1.0).rejection(dropped_pair).reason == "exact_duplicate"


# --- the index on its own ------------------------------------------------------------


def test_index_add_returns_the_earlier_key_and_indexes_only_new_texts() -> None:
    index = NearDuplicateIndex(0.8)
    assert index.add("k1", LONG_QUESTION) is None
    assert index.add("k2", LONG_QUESTION.replace("Sunday", "Monday")) == "k1"
    assert index.add("k3", "Something else entirely, with other words") is None
    assert index.add("k4", "") is None  # no words: never a near duplicate, never indexed
    assert len(index) == 2
    longer = LONG_QUESTION + " please"
    assert index.matches(longer) == [NearMatch("k1", pytest.approx(brute_jaccard(LONG_QUESTION, longer)))]


def _random_texts(rng: random.Random, count: int, vocabulary: int) -> list[str]:
    # A small vocabulary and short texts give many near pairs at every threshold.
    terms = [f"w{n}" for n in range(vocabulary)]
    sizes = (0, 1, 2, 3, 4, 5, 6, 8, 10, 14)
    return [" ".join(rng.choice(terms) for _ in range(rng.choice(sizes))) for _ in range(count)]


def _reference_dedupe(texts: list[str], threshold: float) -> tuple[list[int], list[tuple[int, int, str, float]]]:
    """The documented rules, run the slow way: (kept positions, (dropped, kept, kind, similarity))."""
    kept: list[int] = []
    dropped = []
    fate: dict[str, tuple[int, str, float]] = {}  # normalised question -> what its repeats point at
    for position, text in enumerate(texts):
        question = normalise(text)
        if question in fate:
            dropped.append((position, *fate[question]))
            continue
        best: tuple[int, float] | None = None
        for earlier in kept:
            value = brute_jaccard(texts[earlier], text)
            if value >= threshold and (best is None or value > best[1]):
                best = (earlier, value)
        if best is None:
            kept.append(position)
            fate[question] = (position, "exact", 1.0)
        else:
            fate[question] = (best[0], "near", best[1])
            dropped.append((position, *fate[question]))
    return kept, dropped


@pytest.mark.parametrize("threshold", [0.2, 0.34, 0.5, 0.6, 2 / 3, 0.75, 0.8, 0.9, 1.0])
@pytest.mark.parametrize("counted", [True, False])
def test_index_finds_exactly_the_pairs_brute_force_finds(threshold: float, counted: bool) -> None:
    rng = random.Random(f"{threshold}-{counted}")
    texts = _random_texts(rng, 250, vocabulary=14)
    index = NearDuplicateIndex(threshold, word_counts=count_words(texts) if counted else None)
    for position, text in enumerate(texts):
        expected = [
            (str(earlier), pytest.approx(value))
            for earlier in range(position)
            if (value := brute_jaccard(texts[earlier], text)) >= threshold
        ]
        assert [(m.key, m.similarity) for m in index.matches(text)] == expected, (threshold, text)
        index.insert(str(position), text)


@pytest.mark.parametrize("threshold", [0.5, 0.8])
def test_dedupe_and_cluster_agree_with_brute_force(threshold: float) -> None:
    rng = random.Random(threshold)
    texts = _random_texts(rng, 300, vocabulary=12)
    texts += [text.upper() + "?" for text in rng.sample(texts, 30)]  # repeats, some of dropped questions

    kept, dropped = dedupe([pair(f"p{i}", t) for i, t in enumerate(texts)], threshold=threshold)
    expected_kept, expected_dropped = _reference_dedupe(texts, threshold)
    assert kept_ids(kept) == [f"p{i}" for i in expected_kept]
    assert [(d.pair_id, d.kept_id, d.kind, d.similarity) for d in dropped] == [
        (f"p{a}", f"p{b}", kind, pytest.approx(value)) for a, b, kind, value in expected_dropped
    ]
    assert {d.kind for d in dropped} == {"exact", "near"}

    groups = list(range(len(texts)))
    for i, j in combinations(range(len(texts)), 2):
        if brute_jaccard(texts[i], texts[j]) >= threshold:
            old, new = max(groups[i], groups[j]), min(groups[i], groups[j])
            groups = [new if group == old else group for group in groups]
    assert cluster(texts, threshold) == groups


# --- determinism and speed -------------------------------------------------------------

_DETERMINISM_SCRIPT = """
import json, random
from qagen.quality.dedupe import cluster, dedupe
from qagen.quality.nearindex import NearDuplicateIndex
from qagen.records import Pair
rng = random.Random(7)
vocabulary = [f"word{n}" for n in range(30)]
texts = [" ".join(rng.choice(vocabulary) for _ in range(rng.randint(1, 12))) for _ in range(400)]
kept, dropped = dedupe([Pair(f"p{i}", t, "a", "s", "c") for i, t in enumerate(texts)], threshold=0.6)
index = NearDuplicateIndex(0.6)  # no word counts: ranks come from first sight
added = [index.add(str(i), t) for i, t in enumerate(texts)]
print(json.dumps({
    "kept": [p.id for p in kept],
    "dropped": [[d.pair_id, d.kept_id, d.kind, d.similarity] for d in dropped],
    "added": added,
    "clusters": cluster(texts, 0.6),
}))
"""


def test_results_do_not_depend_on_the_string_hash_seed(tmp_path) -> None:
    script = tmp_path / "run_dedupe.py"
    script.write_text(_DETERMINISM_SCRIPT, encoding="utf-8")
    outputs = []
    for seed in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60
        )
        assert run.returncode == 0, run.stderr
        outputs.append(json.loads(run.stdout))
    assert outputs[0] == outputs[1]
    assert outputs[0]["dropped"], "the script should exercise some duplicates"


def test_a_few_thousand_pairs_with_planted_copies_are_deduped() -> None:
    # How long this takes is printed by benchmarks/speed.py (and dedupe_bench.py for a million pairs).
    rng = random.Random(3)
    vocabulary = [f"term{n}" for n in range(3000)]
    pairs = []
    for i in range(5000):
        if i and rng.random() < 0.1:
            source = pairs[rng.randrange(len(pairs))].question.split()
            source[rng.randrange(len(source))] = rng.choice(vocabulary)  # one word changed
            question = " ".join(source)
        else:
            question = "how do i " + " ".join(rng.choice(vocabulary) for _ in range(rng.randint(6, 14)))
        pairs.append(pair(f"p{i}", question))
    kept, dropped = dedupe(pairs)
    assert len(kept) + len(dropped) == len(pairs)
    assert dropped  # the planted copies with one word changed
