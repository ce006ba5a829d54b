"""Start-up cost of the command: `qagen --version`, `qagen --help`, and the modules a generate run imports.

Each command runs in a fresh interpreter, as a user's shell starts it; the figure is the best of
a few rounds (the least disturbed by other work on the machine), against the budget it was built to
stay inside. `--version` and `--help` import no stage, no SDK and no splitter
(tests/test_layout.py pins that), so they stay far below the budget on a loaded machine too.

    python benchmarks/startup.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VERSION_BUDGET_S = 0.15

COUNT_MODULES = """
import sys
from qagen.cli import main
main([sys.argv[1], "-o", sys.argv[2], "-q", "--no-cache"])
print(len(sys.modules))
"""


def best_of(rounds: int, argv: list[str]) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    bare = best_of(args.rounds, [sys.executable, "-c", "pass"])
    version = best_of(args.rounds, [sys.executable, "-m", "qagen", "--version"])
    helptext = best_of(args.rounds, [sys.executable, "-m", "qagen", "--help"])
    print(f"python -c pass      {bare * 1000:6.0f} ms (the interpreter alone)")
    print(f"qagen --version     {version * 1000:6.0f} ms (budget {VERSION_BUDGET_S * 1000:.0f} ms; {version / VERSION_BUDGET_S:.2f} of it)")
    print(f"qagen --help        {helptext * 1000:6.0f} ms")
    with tempfile.TemporaryDirectory() as out:
        done = subprocess.run(
            [sys.executable, "-c", COUNT_MODULES, str(ROOT / "corpus"), out], check=True, capture_output=True, text=True
        )
    print(f"generate run        {int(done.stdout.split()[-1]):6d} modules imported (offline, sample corpus)")


if __name__ == "__main__":
    main()
