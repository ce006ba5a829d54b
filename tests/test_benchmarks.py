"""The benchmarks still run: each is started with the smallest workload and must finish and print figures.

They assert nothing about speed (that is what they print); this only keeps them from rotting
when the code they drive changes.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"

SMALLEST = {
    "convert_bench.py": ["--pages", "3"],
    "throughput.py": ["--requests", "12", "--latency", "0.01", "--concurrency", "4", "--rounds", "1"],
    "dedupe_bench.py": ["--n", "2000"],
    "speed.py": ["--rounds", "1"],
    "tokenizers.py": ["--repeat", "1"],
    "grounding_bench.py": [],
    "startup.py": ["--rounds", "1"],
    "ratelimit.py": ["--requests", "40", "--rounds", "1", "--latency", "0.01"],
    "review_page.py": ["--pairs", "500", "--rounds", "1"],
    "scale.py": ["--sizes", "0.05"],
}


def test_every_benchmark_is_listed_here() -> None:
    assert sorted(path.name for path in BENCHMARKS.glob("*.py")) == sorted(SMALLEST)


@pytest.mark.parametrize("script", sorted(SMALLEST))
def test_the_benchmark_runs(script: str) -> None:
    if script == "tokenizers.py" and importlib.util.find_spec("tiktoken") is None:
        pytest.skip("benchmarks/tokenizers.py compares with tiktoken: pip install tiktoken to run it")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(BENCHMARKS.parent), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *SMALLEST[script]], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert any(ch.isdigit() for ch in done.stdout), done.stdout
