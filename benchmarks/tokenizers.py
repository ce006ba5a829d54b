"""Token counting: qagen's encoder (bpe-openai) side by side with tiktoken on the same rank files.

qagen needs exact, offline counts for o200k_base (gpt-4o, gpt-4.1, gpt-5, o-series) and cl100k_base.
tiktoken downloads its rank files on first use, which cannot happen offline; here it is given the rank
files bpe-openai ships, so both count with the same vocabulary. For each text this prints both counts,
whether they agree, the time each takes (best of ``--repeat``), and the install size of each package.

    pip install tiktoken   # only for this benchmark
    python benchmarks/tokenizers.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import gzip
import importlib.metadata
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import bpe_openai
import tiktoken
import tiktoken.load
import tiktoken_ext.openai_public as tiktoken_specs

from qagen.documents.tokens import counter_for

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


def tiktoken_encoding(name: str) -> tiktoken.Encoding:
    """tiktoken's own definition of ``name`` (pattern, special tokens), with bpe-openai's rank file."""
    rank_file = Path(bpe_openai.__file__).parent / "data" / f"{name}.tiktoken.gz"
    with tempfile.NamedTemporaryFile(suffix=".tiktoken") as plain:
        plain.write(gzip.decompress(rank_file.read_bytes()))
        plain.flush()
        local_ranks = tiktoken.load.load_tiktoken_bpe(plain.name)
    real_loader = tiktoken_specs.load_tiktoken_bpe
    tiktoken_specs.load_tiktoken_bpe = lambda *args, **kwargs: local_ranks
    try:
        spec = getattr(tiktoken_specs, name)()
    finally:
        tiktoken_specs.load_tiktoken_bpe = real_loader
    return tiktoken.Encoding(**spec)


def texts() -> dict[str, str]:
    corpus = "\n\n".join(path.read_text(encoding="utf-8") for path in sorted(CORPUS.rglob("*")) if path.is_file())
    rng = random.Random(7)
    alphabets = ["abcdefghij", "éàüßøñç", "αβγδεζη", "абвгдеж", "日本語中文字", "한국어", "٠١٢عربية", "0123456789", "£$€%&*()"]
    mixed = " ".join(
        "".join(rng.choice(rng.choice(alphabets)) for _ in range(rng.randint(1, 12))) for _ in range(60_000)
    )
    return {
        "sample corpus": corpus,
        "1.2 MB text (corpus repeated)": (corpus * (1_200_000 // len(corpus) + 1))[:1_200_000],
        "mixed scripts, 60k words": mixed,
        "code and markup": ("<div class=\"x\">{{ value }}</div>\n\tdef f(x):\n\t\treturn x ** 2  # ok\n" * 8000),
    }


def best_time(count: Callable[[str], int], text: str, repeat: int) -> tuple[int, float]:
    best = float("inf")
    tokens = 0
    for _ in range(repeat):
        started = time.perf_counter()
        tokens = count(text)
        best = min(best, time.perf_counter() - started)
    return tokens, best


def installed_size(distribution: str) -> float:
    files = importlib.metadata.distribution(distribution).files or []
    return sum(file.locate().stat().st_size for file in files if Path(file.locate()).is_file()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    print(f"installed size: bpe-openai {installed_size('bpe-openai'):.1f} MB, "
          f"tiktoken {installed_size('tiktoken'):.1f} MB (plus rank files: o200k 3.6 MB, cl100k 1.7 MB unpacked)")
    for model, name in (("gpt-4o-mini", "o200k_base"), ("gpt-4", "cl100k_base")):
        qagen_count = counter_for(model)
        reference = tiktoken_encoding(name)

        def tiktoken_count(text: str, encoding: tiktoken.Encoding = reference) -> int:
            return len(encoding.encode(text, disallowed_special=()))

        print(f"\n{name} ({model})")
        print(f"  {'text':32} {'chars':>9} {'qagen':>9} {'tiktoken':>9} {'same':>5} {'qagen s':>8} {'tiktoken s':>10} {'ratio':>6}")
        for label, text in texts().items():
            ours, our_time = best_time(qagen_count, text, args.repeat)
            theirs, their_time = best_time(tiktoken_count, text, args.repeat)
            print(f"  {label:32} {len(text):9,} {ours:9,} {theirs:9,} {'yes' if ours == theirs else 'NO':>5} "
                  f"{our_time:8.3f} {their_time:10.3f} {our_time / their_time:6.2f}")


if __name__ == "__main__":
    main()
