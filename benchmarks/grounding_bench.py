"""False accepts and false rejects of qagen's grounding check on a labelled set.

    python benchmarks/grounding_bench.py                      # the current check
    python benchmarks/grounding_bench.py --before 67cf393     # and the check as it was at that commit
    python benchmarks/grounding_bench.py --show wrong-kept    # list the mistakes

The set (``benchmarks/data/grounding_set.jsonl``, built by ``benchmarks/data/build_grounding_set.py``)
holds pairs about the sample corpus with their chunk and a hand label: correct answers, answers
with a figure or a name swapped for another of the same chunk, facts of different sentences
glued together, answers naming the one-shot example's "Brindle Point", and the pairs qagen kept
from a small model's real replies. A false accept is a wrong pair the check keeps (share of the
wrong pairs); a false reject a right pair it drops (share of the right pairs). Both are printed
overall and by kind.

``--before`` loads ``qagen/quality/grounding.py`` of an older commit with ``git show`` and runs
its answer-only check (``lexical_support`` + ``is_supported``), as ``check_pairs`` called it then.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

from qagen.llm.templates import load_template
from qagen.quality.grounding import check_grounding, corpus_terms, example_text

ROOT = Path(__file__).resolve().parent.parent
SET = ROOT / "benchmarks" / "data" / "grounding_set.jsonl"

Check = Callable[[str, str, str], bool]  # question, answer, chunk -> kept


def current_check(rows: list[dict]) -> Check:
    template = load_template(ROOT / "templates" / "qa.json", required=frozenset({"info", "n"}))
    example = example_text(template.messages)
    corpus = corpus_terms({row["chunk"] for row in rows})
    return lambda question, answer, chunk: check_grounding(question, answer, chunk, example=example, corpus_terms=corpus) is None


def old_check(revision: str) -> Check:
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{revision}:qagen/quality/grounding.py"], capture_output=True, text=True, check=True
    ).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False, encoding="utf-8") as file:
        file.write(source)
    spec = importlib.util.spec_from_file_location("grounding_before", file.name)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    Path(file.name).unlink()
    return lambda question, answer, chunk: module.is_supported(module.lexical_support(answer, chunk), 0.5)


def measure(name: str, check: Check, rows: list[dict], show: str | None) -> None:
    tally: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        kept = check(row["question"], row["answer"], row["chunk"])
        outcome = ("right" if row["label"] == "right" else "wrong") + ("-kept" if kept else "-dropped")
        tally[row["kind"]][outcome] += 1
        tally["all"][outcome] += 1
        if show == outcome:
            print(f"  {row['id']}: {row['answer']}")
    total = tally["all"]
    wrong = total["wrong-kept"] + total["wrong-dropped"]
    right = total["right-kept"] + total["right-dropped"]
    print(f"{name}: false accepts {total['wrong-kept']}/{wrong} ({total['wrong-kept'] / wrong:.0%}), "
          f"false rejects {total['right-dropped']}/{right} ({total['right-dropped'] / right:.0%})")
    for kind, counts in tally.items():
        if kind == "all":
            continue
        if counts["right-kept"] + counts["right-dropped"]:
            print(f"  {kind:15} right pairs dropped {counts['right-dropped']}/{counts['right-kept'] + counts['right-dropped']}")
        else:
            print(f"  {kind:15} wrong pairs kept {counts['wrong-kept']}/{counts['wrong-kept'] + counts['wrong-dropped']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", metavar="REVISION", help="also measure the check of this git revision")
    parser.add_argument("--show", choices=("wrong-kept", "right-dropped"), help="list these mistakes")
    args = parser.parse_args(argv)
    rows = [json.loads(line) for line in SET.read_text(encoding="utf-8").splitlines() if line.strip()]
    print(f"{len(rows)} labelled pairs ({sum(r['label'] == 'right' for r in rows)} right)")
    if args.before:
        measure(f"before ({args.before})", old_check(args.before), rows, args.show)
    measure("now", current_check(rows), rows, args.show)
    return 0


if __name__ == "__main__":
    sys.exit(main())
