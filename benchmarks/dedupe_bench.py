"""Benchmark qagen's deduplication: a labelled set of real-looking pairs, then a synthetic million.

    python benchmarks/dedupe_bench.py               # the labelled set, then 1,000,000 pairs
    python benchmarks/dedupe_bench.py --n 100000 --threshold 0.75 --seed 1

The labelled set (benchmarks/data/dedupe_labelled.jsonl, described in
benchmarks/data/README.md) holds pairs of (question, answer) labelled duplicate or distinct.
Each case is deduped on its own; the script prints precision and recall of the dropped
duplicates, the distinct facts dropped (must be 0), a line per category, and the same
figures at a few other thresholds.

The synthetic pairs are built like generated ones: a question opening ("How do I", "What
is the") followed by a mix of function words and content words drawn from a
Zipf-distributed vocabulary of 40,000 made-up words. A known share of pairs are planted
copies of an earlier original question:

- exact: the same question with case, spacing or punctuation changed (half of them with
  a different answer);
- near: words reordered, one word dropped or one word added, plus case and punctuation
  noise, with the original's answer (half of them with more words after it): the same fact;
- distinct: one content word of the question replaced by another, with another answer:
  another fact, which must stay.

The script prints the time dedupe took (wall clock and CPU time: the machine may be
shared), recall on planted duplicates (the planted near copies whose content-word Jaccard
to their original is >= threshold, so a correct dedupe must drop them), the planted
distinct facts dropped (should be 0), and false positives: dropped pairs whose similarity
to the pair named as kept is below the threshold. That last figure should be 0.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from qagen.quality.dedupe import compare, dedupe
from qagen.quality.nearindex import DEFAULT_THRESHOLD, normalise, words
from qagen.records import Pair

LABELLED = Path(__file__).resolve().parent / "data" / "dedupe_labelled.jsonl"

OPENINGS = (
    "what is the", "what are the", "how do i", "how does the", "how can i", "which", "why does the",
    "why is the", "when should i", "when does the", "where can i find the", "who is responsible for the",
    "can i", "is it possible to", "what happens if the", "what does the", "how many", "how long does the",
    "is there a", "should i", "what kind of", "in which", "how often is the", "who can",
)
FUNCTION_WORDS = (
    "the", "a", "of", "to", "in", "for", "on", "with", "and", "or", "by", "from", "at", "when", "if",
    "your", "my", "this", "that", "an", "be", "it", "as", "after", "before", "during", "between",
    "without", "is", "are", "not", "all", "each", "per", "under", "over",
)
ONSETS = ("b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z",
          "br", "cl", "dr", "fl", "gr", "pl", "st", "tr", "sh", "ch", "th", "sp")
VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "ou", "io")
CODAS = ("", "", "n", "r", "s", "t", "l", "m", "nd", "st", "ng", "ck")

VOCABULARY_SIZE = 40_000
PLANTED_EXACT_SHARE = 0.05
PLANTED_NEAR_SHARE = 0.05


@dataclass(frozen=True)
class Planted:
    original: int  # position of the original pair
    kind: str  # "exact", "near" (the same fact) or "distinct" (one content word replaced, another answer)
    how: str  # what was changed


def make_vocabulary(rng: random.Random, size: int) -> list[str]:
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < size:
        syllables = rng.choice((1, 2, 2, 2, 3, 3, 4))
        word = "".join(rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS) for _ in range(syllables))
        if word not in seen and word not in FUNCTION_WORDS:
            seen.add(word)
            words.append(word)
    return words


class QuestionMaker:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.vocabulary = make_vocabulary(rng, VOCABULARY_SIZE)
        # Offset so the commonest content word is not in half of all questions.
        weights = [1.0 / ((rank + 10) ** 1.07) for rank in range(1, VOCABULARY_SIZE + 1)]
        self.cumulative = []
        total = 0.0
        for weight in weights:
            total += weight
            self.cumulative.append(total)

    def content_words(self, count: int) -> list[str]:
        return self.rng.choices(self.vocabulary, cum_weights=self.cumulative, k=count)

    def question_words(self) -> list[str]:
        rng = self.rng
        body_length = rng.choice((3, 4, 5, 5, 6, 6, 7, 7, 8, 9, 10, 12, 14))
        content = iter(self.content_words(body_length))
        body = [rng.choice(FUNCTION_WORDS) if rng.random() < 0.3 else next(content) for _ in range(body_length)]
        return rng.choice(OPENINGS).split() + body

    def answer(self) -> str:
        words = self.content_words(self.rng.randint(4, 16))
        return " ".join(words).capitalize() + "."


def render(words: list[str], rng: random.Random, noisy: bool) -> str:
    """Turn a word list into question text, with random case/space/punctuation noise when ``noisy``."""
    if not noisy:
        return " ".join(words).capitalize() + "?"
    pieces = []
    for position, word in enumerate(words):
        roll = rng.random()
        if roll < 0.1:
            word = word.upper()
        elif roll < 0.3 or position == 0:
            word = word.capitalize()
        if rng.random() < 0.08 and position < len(words) - 1:
            word += rng.choice((",", ";", " -", ":"))
        pieces.append(word)
    text = rng.choice((" ", "  ", " \t")).join(pieces)
    return rng.choice(("", "  ", "\u201c")) + text + rng.choice(("?", "??", "?!", ".", "", " ?", "\u201d?"))


def near_variant(words: list[str], maker: QuestionMaker) -> tuple[list[str], str]:
    rng = maker.rng
    changed = list(words)
    how = rng.choice(("reorder", "replace", "drop", "add"))
    shaping = set(FUNCTION_WORDS).union(*(opening.split() for opening in OPENINGS))
    # A word said once: replacing one of two copies of a word only adds a word.
    positions = [i for i, word in enumerate(changed) if word not in shaping and changed.count(word) == 1]
    if how == "replace" and not positions:
        how = "add"
    if how == "reorder":
        if rng.random() < 0.5:
            i = rng.randrange(len(changed) - 1)
            changed[i], changed[i + 1] = changed[i + 1], changed[i]
        else:
            rng.shuffle(changed)
    elif how == "replace":
        # A content word of the question (not an opening or function word) for another one.
        replacement = maker.content_words(1)[0]
        while replacement in changed:
            replacement = maker.content_words(1)[0]
        changed[rng.choice(positions)] = replacement
    elif how == "drop":
        del changed[rng.randrange(len(changed))]
    else:
        changed.insert(rng.randrange(len(changed) + 1), maker.content_words(1)[0])
    return changed, how


def make_pairs(n: int, seed: int) -> tuple[list[Pair], dict[int, Planted]]:
    rng = random.Random(seed)
    maker = QuestionMaker(rng)
    pairs: list[Pair] = []
    planted: dict[int, Planted] = {}
    originals: list[tuple[int, list[str]]] = []  # (position, words) of pairs that are not planted copies
    for position in range(n):
        roll = rng.random()
        pair_id = f"p{position}"
        if originals and roll < PLANTED_EXACT_SHARE:
            original, words = rng.choice(originals)
            question = render(words, rng, noisy=True)
            answer = maker.answer() if rng.random() < 0.5 else pairs[original].answer
            planted[position] = Planted(original, "exact", "case/space/punctuation")
        elif originals and roll < PLANTED_EXACT_SHARE + PLANTED_NEAR_SHARE:
            original, words = rng.choice(originals)
            changed, how = near_variant(words, maker)
            question = render(changed, rng, noisy=rng.random() < 0.5)
            if how == "replace":
                # Another thing asked in the same words ("car" for "van"), with its own answer.
                answer = maker.answer()
                planted[position] = Planted(original, "distinct", how)
            else:
                # The same fact asked again: the same answer, sometimes with more words after it.
                answer = pairs[original].answer
                if rng.random() < 0.5:
                    answer = answer[:-1] + ", " + " ".join(maker.content_words(rng.randint(1, 5))) + "."
                planted[position] = Planted(original, "near", how)
        else:
            words = maker.question_words()
            question = render(words, rng, noisy=False)
            answer = maker.answer()
            originals.append((position, words))
        pairs.append(Pair(pair_id, question, answer, source=f"doc{position % 500}.md", chunk_id=f"c{position // 5}"))
    return pairs, planted


def word_set(text: str) -> frozenset[str]:
    return words(text)


def true_jaccard(a: str, b: str) -> float:
    x, y = word_set(a), word_set(b)
    if not x or not y:
        return 0.0
    return len(x & y) / len(x | y)


# --- the labelled set ------------------------------------------------------------------


def load_labelled(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def run_labelled(cases: list[dict], threshold: float, show: bool) -> tuple[int, int, int, int]:
    """Dedupe each labelled case as two pairs; (true dups dropped, missed, distinct dropped, distinct kept)."""
    found = missed = wrongly_dropped = kept_apart = 0
    for case in cases:
        first = Pair("a", case["a"]["question"], case["a"]["answer"], "labelled", "c")
        second = Pair("b", case["b"]["question"], case["b"]["answer"], "labelled", "c")
        _, dropped = dedupe([first, second], threshold=threshold)
        if case["label"] == "duplicate":
            found += bool(dropped)
            missed += not dropped
            if not dropped and show:
                print(f"  missed {case['id']} ({case['category']}, similarity "
                      f"{true_jaccard(first.question, second.question):.2f}): "
                      f"{first.question!r} / {second.question!r}: {compare(first, second).why}")
        else:
            wrongly_dropped += bool(dropped)
            kept_apart += not dropped
            if dropped and show:
                print(f"  DISTINCT FACT DROPPED {case['id']} ({case['category']}): {first.question!r} / "
                      f"{second.question!r}: {dropped[0].why}")
    return found, missed, wrongly_dropped, kept_apart


def report_labelled(path: Path, threshold: float) -> bool:
    cases = load_labelled(path)
    print(f"labelled set {path.name}: {len(cases)} cases "
          f"({sum(c['label'] == 'duplicate' for c in cases)} duplicates, "
          f"{sum(c['label'] == 'distinct' for c in cases)} distinct facts)")
    found, missed, wrongly_dropped, kept_apart = run_labelled(cases, threshold, show=True)
    precision = found / (found + wrongly_dropped) if found + wrongly_dropped else 1.0
    recall = found / (found + missed) if found + missed else 1.0
    print(f"  at threshold {threshold}: precision {precision:.3f}, recall {recall:.3f}, "
          f"distinct facts dropped {wrongly_dropped} of {wrongly_dropped + kept_apart}")
    for category in sorted({c["category"] for c in cases}):
        subset = [c for c in cases if c["category"] == category]
        f, m, w, k = run_labelled(subset, threshold, show=False)
        label = subset[0]["label"]
        right = f if label == "duplicate" else k
        print(f"    {category:22} {label:9} {right:3} of {len(subset):3} right")
    sweep = []
    for other in (0.6, 0.7, 0.75, 0.8, 0.9):
        f, m, w, k = run_labelled(cases, other, show=False)
        sweep.append(f"{other}: recall {f / (f + m):.3f}, dropped {w}")
    print("  other thresholds: " + "; ".join(sweep))
    return wrongly_dropped == 0


# --- the synthetic million ---------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="number of pairs (default 1,000,000)")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                        help=f"near-duplicate threshold (default {DEFAULT_THRESHOLD})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic data (default 0)")
    parser.add_argument("--labelled", type=Path, default=LABELLED, help="the labelled pairs (JSONL)")
    args = parser.parse_args(argv)

    labelled_ok = report_labelled(args.labelled, args.threshold)

    started = time.perf_counter()
    pairs, planted = make_pairs(args.n, args.seed)
    print(f"generated {len(pairs):,} pairs in {time.perf_counter() - started:.1f} s: "
          + ", ".join(f"{sum(p.kind == kind for p in planted.values()):,} planted {kind}"
                      for kind in ("exact", "near", "distinct")))

    started, started_cpu = time.perf_counter(), time.process_time()
    kept, dropped = dedupe(pairs, threshold=args.threshold)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - started_cpu

    by_id = {pair.id: pair for pair in pairs}
    position_of = {pair.id: position for position, pair in enumerate(pairs)}
    exact = sum(d.kind == "exact" for d in dropped)
    near = sum(d.kind == "near" for d in dropped)
    print(f"dedupe: {elapsed:.2f} s ({cpu:.2f} s CPU), {len(pairs) / elapsed:,.0f} pairs/s, kept {len(kept):,}, "
          f"dropped {len(dropped):,} ({exact:,} exact, {near:,} near)")

    dropped_ids = {d.pair_id for d in dropped}
    kept_ids = {pair.id for pair in kept}
    should_drop = {
        position
        for position, plant in planted.items()
        if plant.kind == "exact"
        or (plant.kind == "near"
            and true_jaccard(pairs[position].question, pairs[plant.original].question) >= args.threshold)
    }
    missed = [position for position in should_drop if pairs[position].id not in dropped_ids]
    recall = 1 - len(missed) / len(should_drop) if should_drop else 1.0
    print(f"planted duplicates at or above threshold: {len(should_drop):,}; recall {recall:.4f} "
          f"({len(missed):,} missed)")
    for kind in ("exact", "near"):
        wanted = [p for p in should_drop if planted[p].kind == kind]
        caught = sum(pairs[p].id in dropped_ids for p in wanted)
        print(f"  {kind}: {caught:,} of {len(wanted):,} dropped")
    for how in ("reorder", "drop", "add"):
        wanted = [p for p in should_drop if planted[p].how == how]
        caught = sum(pairs[p].id in dropped_ids for p in wanted)
        print(f"    near by {how}: {caught:,} of {len(wanted):,} dropped")
    below = [p for p, plant in planted.items() if plant.kind == "near" and p not in should_drop]
    print(f"  planted near copies below threshold (not expected to go): {len(below):,}, "
          f"of which dropped anyway: {sum(pairs[p].id in dropped_ids for p in below):,}")
    # A missed planted copy is only a bug when its original was kept (if the original was
    # itself dropped, the copy is compared with the pair kept in its place).
    real_misses = [p for p in missed if pairs[planted[p].original].id in kept_ids]
    print(f"  missed although their original was kept: {len(real_misses):,}")
    distinct = [p for p, plant in planted.items() if plant.kind == "distinct"]
    distinct_dropped = [p for p in distinct if pairs[p].id in dropped_ids
                        and true_jaccard(pairs[p].question, pairs[planted[p].original].question) >= args.threshold]
    print(f"planted distinct facts (one content word replaced, another answer): {len(distinct):,}, "
          f"of which alike their original: "
          f"{sum(true_jaccard(pairs[p].question, pairs[planted[p].original].question) >= args.threshold for p in distinct):,}; "
          f"dropped as duplicates of it: {len(distinct_dropped):,}")

    false_positives = 0
    unplanted = 0
    for duplicate in dropped:
        pair, kept_pair = by_id[duplicate.pair_id], by_id[duplicate.kept_id]
        if position_of[duplicate.pair_id] not in planted:
            unplanted += 1
        if duplicate.kind == "exact":
            wrong = normalise(pair.question) != normalise(kept_pair.question)
        else:
            wrong = true_jaccard(pair.question, kept_pair.question) < args.threshold
        false_positives += wrong or duplicate.kept_id not in kept_ids
    print(f"dropped pairs that were not planted copies (natural duplicates): {unplanted:,}")
    print(f"false positives (similarity to the named kept pair below threshold): {false_positives}")
    return 0 if false_positives == 0 and not real_misses and not distinct_dropped and labelled_ok else 1


if __name__ == "__main__":
    sys.exit(main())
