"""Command line: ``qagen FOLDER`` and the ``validate``, ``eval``, ``finetune`` and ``follow`` commands.

``main`` is the only place that prints errors and picks exit codes: 0 done, 1 error, 2 usage
or settings error, 3 finished with requests that failed after every retry, 4 stopped following a
fine-tuning job in a status it may stay in (paused, expired, unknown), 130 interrupted.
Each command lives in its own module, imported only when it runs, so ``qagen --help`` and
``qagen --version`` load no stage, no SDK and no text splitter.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from qagen.errors import QagenError
from qagen.progress import terminal_safe
from qagen.redaction import redact

EXIT_INCOMPLETE = 3
EXIT_JOB_STUCK = 4
EXIT_INTERRUPTED = 130

# command -> module of qagen.cli with a run(argv) -> int
COMMANDS = {"validate": "validate", "eval": "evaluate", "finetune": "finetune", "follow": "follow"}


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; the one place where an expected problem becomes an ``error:`` line and an exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    module = COMMANDS.get(argv[0], "") if argv else ""
    try:
        if module:
            return int(importlib.import_module(f"qagen.cli.{module}").run(argv[1:]))
        from qagen.cli import generate

        return generate.run(argv)
    except QagenError as exc:
        # The last guard: a message built from a server's words must not show the key, even a piece of it.
        print(f"error: {terminal_safe(redact(str(exc)))}", file=sys.stderr)
        return exc.exit_code
