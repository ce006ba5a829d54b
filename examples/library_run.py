"""Run qagen from Python: the same ``run`` the command line calls.

    python examples/library_run.py [FOLDER] [OUT]

With OPENAI_API_KEY set it uses gpt-4o-mini; otherwise the built-in offline generator.
"""

from __future__ import annotations

import sys
from pathlib import Path

from qagen.settings import resolve
from qagen.errors import QagenError
from qagen.pipeline.runner import run
from qagen.progress import Reporter
from qagen.pipeline.report import summary


class PrintNotes(Reporter):
    """A minimal reporter: print notices and one line per failed chunk."""

    def note(self, message: str) -> None:
        print(message)

    def chunk_failed(self, chunk_id: str, reason: str) -> None:
        print(f"chunk {chunk_id} failed: {reason}")


def main() -> int:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "corpus")
    out = Path(sys.argv[2] if len(sys.argv) > 2 else "out-example")
    try:
        # The second argument holds what a user would pass as flags; the environment and defaults fill the rest.
        settings = resolve(folder, {"out": out, "pairs_per_chunk": 3, "valid_fraction": 0.2})
        report = run(settings, PrintNotes())
    except QagenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(summary(report))
    # Every kept pair can be traced back to its file and chunk.
    print(f"\n{report.pairs_kept} pairs from {report.files_read} files; first chunks:")
    for chunk in report.coverage[:3]:
        print(f"  {chunk.source} chunk {chunk.chunk_id}: asked {chunk.asked}, generated {chunk.generated}, kept {chunk.kept}")
    return 0 if report.complete else 3


if __name__ == "__main__":
    sys.exit(main())
