"""Speed of qagen's text-heavy steps on large and hostile input; prints figures, asserts nothing.

The tests check what these steps return on such input; how long they take depends on the
machine and its load, so that figure lives here. Each line gives the best of a few rounds
(the least disturbed by other work on the machine) and the budget the step was built to
stay well inside, so a slip from linear to quadratic shows as a figure far past its budget.

    python benchmarks/speed.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

from qagen.llm.offline.model import extract_pairs
from qagen.quality.dedupe import dedupe
from qagen.quality.grounding import check_grounding
from qagen.records import Pair
from qagen.replies.pairs import parse_reply

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


def best_of(rounds: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def large_replies() -> dict[str, str]:
    """Three shapes of a reply holding 5,000 pairs, each over a megabyte."""
    pairs = [(f'What does section {i} say about {{braces}} and "quotes"?', ("It says " + "word " * 30 + str(i)).strip()) for i in range(5000)]
    objects = [{"question": q, "answer": a} for q, a in pairs]
    return {
        "jsonl": "\n".join(json.dumps(o) for o in objects),
        "array": json.dumps(objects, indent=2),
        "wrapper": json.dumps({"pairs": objects}),
    }


HOSTILE_REPLIES = {
    "malformed-lines": '{"question": "a?" "answer": "b"}\n' * 30_000,
    "malformed-inline": "[" + '{"question": "a?" "answer": "b"}, ' * 30_000 + "]",
    "unterminated": '{"question": "' + "{[" * 500_000,
    "prose": "prose {x} [y] " * 80_000,
    "braces": "{" * 1_000_000,
    "deep-object": '{"a": ' * 200_000,
}


def dedupe_pairs(count: int = 5000) -> list[Pair]:
    """Questions of 6 to 14 words, a tenth of them an earlier one with one word changed."""
    rng = random.Random(3)
    vocabulary = [f"term{n}" for n in range(3000)]
    questions: list[str] = []
    for i in range(count):
        if i and rng.random() < 0.1:
            words = questions[rng.randrange(len(questions))].split()
            words[rng.randrange(len(words))] = rng.choice(vocabulary)
            questions.append(" ".join(words))
        else:
            questions.append("how do i " + " ".join(rng.choice(vocabulary) for _ in range(rng.randint(6, 14))))
    return [Pair(id=f"p{i}", question=q, answer="a", source="s", chunk_id="c", kind="grounded") for i, q in enumerate(questions)]


def grounding_work() -> tuple[int, Callable[[], None]]:
    text = (CORPUS / "fares-and-tickets.md").read_text(encoding="utf-8")
    chunks = [text[i : i + 1500] for i in range(0, len(text), 1500)]
    pairs = [
        ("What does the adult single on Route 1 cost?", "The adult single on Route 1 costs £9.40."),
        ("What does an Islander card cost?", "An Islander card costs £5.00 and is valid for three years."),
        ("What does a late change cost?", "Changing a vehicle booking less than 48 hours before departure costs £5.00."),
        ("How many bicycles does the Gullwing take?", "The Gullwing carries no more than four bicycles."),
        ("What do dogs pay on Route 1?", "Dogs travel for £3.00 on Route 1."),
    ]

    def work() -> None:
        for _ in range(200):
            for chunk in chunks:
                for question, answer in pairs:
                    check_grounding(question, answer, chunk, example="The Brindle Point tide gauge was installed in 1964.")

    return 200 * len(chunks) * len(pairs), work


def hostile_grounding() -> tuple[str, str, str]:
    """A chunk of 1,000 sentences (about 60 kB), and an answer that restates all of them in reverse order."""
    said = [f"The fare from Harbour {i} to Quay {i % 90} is £{i}.50 on Route {i % 7}." for i in range(1_000)]
    return "What do the fares say?", " ".join(reversed(said)), " ".join(said)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args(argv).rounds

    for name, text in large_replies().items():
        seconds = best_of(rounds, lambda: parse_reply(text))
        print(f"parse a {len(text) / 1e6:.1f} MB {name} reply of 5,000 pairs  {seconds:6.3f} s   (budget 2 s)")
    for name, text in HOSTILE_REPLIES.items():
        seconds = best_of(rounds, lambda: parse_reply(text))
        print(f"parse a {len(text) / 1e6:.1f} MB hostile reply ({name})  {seconds:6.3f} s   (budget 5 s)")
    checked, work = grounding_work()
    seconds = best_of(rounds, work)
    print(f"grounding check of one pair against a chunk  {seconds / checked * 1e6:6.1f} µs   (budget 500 µs)")
    question, answer, chunk = hostile_grounding()
    seconds = best_of(rounds, lambda: check_grounding(question, answer, chunk))
    print(f"grounding check of a {len(answer) / 1e3:.0f} kB answer against a {len(chunk) / 1e3:.0f} kB chunk  {seconds:6.3f} s   (budget 2 s)")
    passage = "\n\n".join([(CORPUS / "history.md").read_text(encoding="utf-8")] * 60)
    seconds = best_of(rounds, lambda: extract_pairs(passage, 8))
    print(f"offline generator, 8 pairs from a {len(passage) / 1e3:.0f} kB passage  {seconds:6.3f} s   (budget 5 s)")
    pairs = dedupe_pairs()
    seconds = best_of(rounds, lambda: dedupe(pairs))
    print(f"dedupe of 5,000 pairs  {seconds:6.3f} s   (budget 3 s; benchmarks/dedupe_bench.py for a million)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
