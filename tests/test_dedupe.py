"""Deduplication: exact and near-duplicate questions, distinct facts kept apart, which pair is kept, determinism."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from qagen.quality.dedupe import Duplicate, compare, dedupe
from qagen.quality.nearindex import (
    NearDuplicateIndex,
    NearMatch,
    content_words,
    count_words,
    normalise,
    similarity,
    words,
)
from fake_openai import chat_reply
from helpers import CORPUS, read_jsonl
from qagen.cli import main
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
    """Reference Jaccard over content-word sets, written independently of the index."""
    x, y = set(content_words(normalise(a))), set(content_words(normalise(b)))
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


def test_words_and_similarity_use_content_word_sets() -> None:
    assert words("The cat, the hat.") == frozenset({"cat", "hat"})
    # Question-shaping words go, plurals are singular, interchangeable words are one.
    assert words("How much does a ticket cost on the ferries?") == frozenset({"ticket", "cost", "vessel"})
    assert words("What is the price of tickets on the boat?") == frozenset({"ticket", "cost", "vessel"})
    assert similarity("red green blue pink", "red green blue grey") == pytest.approx(3 / 5)
    assert similarity("blue red", "red blue") == 1.0
    assert similarity("What is the adult fare?", "How much is the adult fare?") == 1.0
    assert similarity("???", "red") == 0.0
    assert similarity("What is it?", "What is it?") == 0.0  # no content words


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


def test_one_word_added_to_a_long_question_is_a_near_duplicate_at_0_8_not_at_0_95() -> None:
    changed = LONG_QUESTION + " morning"
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
    base = "alpha bravo charlie delta echo foxtrot golf hotel"
    other = base + " india juliet"
    assert brute_jaccard(base, other) == 0.8
    pairs = [pair("a", base), pair("b", other)]

    kept, dropped = dedupe(pairs, threshold=0.8)
    assert kept_ids(kept) == ["a"] and dropped == [Duplicate("b", "a", "near", 0.8)]

    kept, dropped = dedupe(pairs, threshold=0.8000001)
    assert kept_ids(kept) == ["a", "b"] and dropped == []

    # 7 of 10: caught at 0.7, not at 0.71.
    base = "alpha bravo charlie delta echo foxtrot golf"
    third = base + " kilo lima mike"
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


# --- distinct facts in alike questions --------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("What is the adult single fare on Route 1?", "£9.40."), ("What is the adult single fare on Route 2?", "£4.10.")),
        (("What time is the first sailing from Orrin Bay on Saturday?", "07:15."),
         ("What time is the first sailing from Orrin Bay on Sunday?", "10:00.")),
        (("What does a car cost on Route 1?", "£38.00."), ("What does a van cost on Route 1?", "£56.00.")),
        (("What is the service speed of the Gullwing in knots?", "14."), ("What is the service speed of the Saltmarrow in knots?", "11.")),
        (("Which timetable applies on 26 December?", "The Sunday timetable."),
         ("Which timetable applies on 25 December?", "None: no ferries run.")),
        # The same answer does not make them one fact: both fares are £4.70, and Route 3 and 4 share a vessel.
        (("What is the single fare for a child on Route 1?", "£4.70."), ("What is the single fare for a senior on Route 1?", "£4.70.")),
        (("Which vessel runs Route 3?", "The Gullwing."), ("Which vessel runs Route 4?", "The Gullwing.")),
        (("When was the Gullwing built at Port Essary?", "In 1987."), ("Where was the Gullwing built at Port Essary?", "At Pellow Boatworks.")),
        # Two different races of the racing corpus.
        (("Which pod crashed in race 4?", "The Razor Blade."), ("Which pod crashed in race 5?", "The Lightning Bolt.")),
    ],
)
@pytest.mark.parametrize("threshold", [0.75, 0.5])
def test_alike_questions_about_another_number_name_day_or_thing_both_stay(first, second, threshold: float) -> None:
    pairs = [pair("a", *first), pair("b", *second)]
    # At 0.5 they are alike, so it is the second step that keeps them apart.
    assert similarity(first[0], second[0]) >= 0.5
    kept, dropped = dedupe(pairs, threshold=threshold)
    assert kept_ids(kept) == ["a", "b"]
    assert dropped == []


def test_a_question_that_adds_a_number_or_a_month_asks_something_narrower() -> None:
    pairs = [
        pair("a", "What does the Gullwing carry to Little Skaith?", "Mail and light freight."),
        pair("b", "What does the Gullwing carry to Little Skaith in November?", "Mail and light freight."),
        pair("c", "What is the adult single fare for foot passengers?", "£9.40 on Route 1."),
        pair("d", "What is the adult single fare for foot passengers on Route 2?", "£4.10."),
    ]
    kept, dropped = dedupe(pairs)
    assert kept_ids(kept) == ["a", "b", "c", "d"]
    verdict = compare(pairs[0], pairs[1])
    assert not verdict.duplicate and "'november'" in verdict.why


def test_the_same_question_words_with_answers_that_disagree_are_distinct() -> None:
    pairs = [
        pair("out", "When does the Gullwing leave Port Essary for Orrin Bay?", "At 09:30."),
        pair("back", "When does the Gullwing leave Orrin Bay for Port Essary?", "At 13:40."),
        pair("who1", "Which vessel spends the night at Orrin Bay?", "The Saltmarrow."),
        pair("who2", "Which vessel spends the night at Orrin Bay in summer?", "The Gullwing."),
        pair("yes", "Can I pay by card on board?", "Yes."),
        pair("no", "Can I pay by card on board the ferry?", "No."),
        pair("year", "What is known about the building of the Gullwing?", "She was built in 1987."),
        pair("yard", "About the Gullwing's building, what is known?", "Pellow Boatworks built her."),
    ]
    kept, dropped = dedupe(pairs)
    assert kept_ids(kept) == ["out", "back", "who1", "who2", "yes", "no", "year", "yard"]
    assert "'13:40'" in compare(pairs[0], pairs[1]).why and "'9:30'" in compare(pairs[0], pairs[1]).why
    assert "'gullwing'" in compare(pairs[2], pairs[3]).why
    assert "yes" in compare(pairs[4], pairs[5]).why
    assert "'pellow'" in compare(pairs[6], pairs[7]).why and "'1987'" in compare(pairs[6], pairs[7]).why


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("What is the adult single fare on Route 1?", "£9.40."), ("How much is the adult single fare on Route 1?", "It is £9.40.")),
        (("How many passengers can the Corrie Dawn carry?", "220 passengers."),
         ("How many passengers is the Corrie Dawn able to carry?", "The Corrie Dawn can carry 220 passengers.")),
        (("Which ships are in the fleet?", "Corrie Dawn and Gullwing."), ("Which vessels are in the fleet?", "The Corrie Dawn and the Gullwing.")),
        (("How long is the crossing on Route 2?", "25 minutes."), ("How long does the crossing on Route 2 take?", "About 25 minutes.")),
        (("For dogs, what is the fare on Route 1?", "Free."), ("What is the fare for dogs on Route 1?", "Dogs travel free.")),
    ],
)
def test_a_reworded_question_with_an_agreeing_answer_is_a_near_duplicate(first, second) -> None:
    kept, dropped = dedupe([pair("a", *first), pair("b", *second)])
    assert kept_ids(kept) == ["a"]
    assert [(d.pair_id, d.kept_id, d.kind) for d in dropped] == [("b", "a", "near")]
    assert "answers agree" in dropped[0].why


def test_a_pair_distinct_from_the_nearest_kept_pair_is_compared_with_the_next() -> None:
    pairs = [
        pair("route1", "What is the adult single fare on Route 1 for foot passengers?", "£9.40."),
        pair("route2", "What is the adult single fare on Route 2?", "£4.10."),
        pair("again", "How much is the adult single fare on Route 2 for foot passengers?", "£4.10."),
    ]
    # "again" is closer to route1 (it shares "foot passengers") but asks about Route 2.
    assert similarity(pairs[2].question, pairs[0].question) > similarity(pairs[2].question, pairs[1].question) >= 0.7
    kept, dropped = dedupe(pairs, threshold=0.7)
    assert kept_ids(kept) == ["route1", "route2"]
    assert [(d.pair_id, d.kept_id) for d in dropped] == [("again", "route2")]


def test_the_reject_detail_names_the_kept_pair_and_says_why() -> None:
    pairs = [
        pair("p1", "How long is the crossing on Route 2?", "25 minutes."),
        pair("p2", "How long does the crossing on Route 2 take?", "About 25 minutes."),
    ]
    _, dropped = dedupe(pairs)
    rejection = dropped[0].rejection(pairs[1])
    assert rejection.reason == "near_duplicate"
    assert rejection.detail == (
        "Nearly the same question as pair p1 (word similarity 0.80): this question only adds 'take', and the answers agree."
    )


LABELLED = Path(__file__).resolve().parent.parent / "benchmarks" / "data" / "dedupe_labelled.jsonl"


def test_on_the_labelled_set_no_distinct_fact_is_dropped_and_most_duplicates_are() -> None:
    cases = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(cases) >= 150
    assert {c["label"] for c in cases} == {"duplicate", "distinct"}
    dropped_distinct, found, missed = [], 0, 0
    for case in cases:
        a, b = (pair(side, case[side]["question"], case[side]["answer"]) for side in ("a", "b"))
        _, dropped = dedupe([a, b])
        if case["label"] == "distinct" and dropped:
            dropped_distinct.append(case["id"])
        elif case["label"] == "duplicate":
            found += bool(dropped)
            missed += not dropped
    assert dropped_distinct == []
    assert found / (found + missed) >= 0.95


def test_two_distinct_fact_pairs_from_a_model_both_reach_pairs_jsonl(tmp_path: Path, fake_openai) -> None:
    fake_openai.handler = lambda request: chat_reply("\n".join(json.dumps({"question": q, "answer": a}) for q, a in [
        ("What is the adult single fare on Route 1?", "The adult single fare on Route 1 is £9.40."),
        ("What is the adult single fare on Route 2?", "The adult single fare on Route 2 is £4.10."),
        ("How much is the adult single fare on Route 1?", "It is £9.40."),
    ]))
    out = tmp_path / "o"
    argv = [str(CORPUS / "fares-and-tickets.md"), "--base-url", fake_openai.url, "--model", "m", "-o", str(out), "-q",
            "--concurrency", "1", "--idk-ratio", "0", "--chunk-size", "2000"]
    assert main(argv) == 0
    questions = [p["question"] for p in read_jsonl(out / "pairs.jsonl")]
    assert questions == ["What is the adult single fare on Route 1?", "What is the adult single fare on Route 2?"]
    (duplicate,) = [r for r in read_jsonl(out / "rejects.jsonl") if r["stage"] == "dedupe"]
    assert duplicate["reason"] == "near_duplicate" and duplicate["raw"] == "How much is the adult single fare on Route 1?"
    kept_id = read_jsonl(out / "pairs.jsonl")[0]["id"]
    assert f"pair {kept_id} " in duplicate["detail"] and "answers agree" in duplicate["detail"]


# --- which pair is kept ----------------------------------------------------------------


def test_the_first_pair_is_kept_and_every_dropped_pair_names_a_kept_one() -> None:
    a = "alpha bravo charlie delta echo foxtrot golf hotel india juliet"
    near_a = a + " kilo"
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
    base = "alpha bravo charlie delta echo foxtrot golf hotel india juliet"
    pairs = [
        pair("far", base + " xray xenon xylem"),  # 10/13 with the query below: below 0.8
        pair("close", base + " yankee yellow"),  # 10/12 with the query
        pair("closest", base + " zulu"),  # 10/11
        pair("query", base),  # asks what each of them asks, with less
    ]
    kept, dropped = dedupe(pairs)
    assert kept_ids(kept) == ["far", "close", "closest"]  # each asks about words the others lack
    assert dropped == [Duplicate("query", "closest", "near", pytest.approx(10 / 11))]

    index = NearDuplicateIndex(0.8)
    index.insert("first", "b c e f g h j k l x")
    index.insert("second", "b c e f g h j k l y")  # equally near to the query
    assert index.nearest("b c e f g h j k l z") == NearMatch("first", pytest.approx(9 / 11))


def test_a_chain_keeps_both_ends() -> None:
    a = "alpha bravo charlie delta echo foxtrot golf hotel"
    b = a + " india juliet"  # 8/10 with a
    c = b + " kilo lima"  # 10/12 with b, 8/12 with a
    assert brute_jaccard(a, c) < 0.8 <= min(brute_jaccard(a, b), brute_jaccard(b, c))
    kept, dropped = dedupe([pair("A", a), pair("B", b), pair("C", c)])
    assert kept_ids(kept) == ["A", "C"]
    assert [d.pair_id for d in dropped] == ["B"]


def test_empty_input() -> None:
    assert dedupe([]) == ([], [])


def test_questions_without_words_are_exact_duplicates_of_each_other_only() -> None:
    pairs = [pair("a", "???"), pair("b", ""), pair("c", "What?"), pair("d", "what")]
    kept, dropped = dedupe(pairs)
    assert kept_ids(kept) == ["a", "c"]
    assert dropped == [Duplicate("b", "a", "exact", 1.0), Duplicate("d", "c", "exact", 1.0)]


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
        # Alike kept questions, most similar first (ties: earliest); the first that is the same fact.
        alike = sorted(
            ((earlier, value) for earlier in kept if (value := brute_jaccard(texts[earlier], text)) >= threshold),
            key=lambda item: (-item[1], item[0]),
        )
        same_fact = (
            (earlier, value) for earlier, value in alike if compare(pair(str(earlier), texts[earlier]), pair("new", text)).duplicate
        )
        best = next(same_fact, None)
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
def test_dedupe_agrees_with_brute_force(threshold: float) -> None:
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


# --- determinism and speed -------------------------------------------------------------

_DETERMINISM_SCRIPT = """
import json, random
from qagen.quality.dedupe import dedupe
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
