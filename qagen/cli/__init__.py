"""Command line: ``qagen FOLDER`` and the ``validate``, ``eval``, ``finetune``, ``follow``, ``cache``, ``apply`` and ``review`` commands.

``main`` is the only place that prints errors and picks exit codes: 0 done, 1 error, 2 usage
or settings error, 3 finished with requests that failed after every retry, 4 finished with no
training example written, 5 the out folder is in use by another qagen process, 6 stopped following
a fine-tuning job in a status it may stay in (paused, expired, unknown), 7 the --max-cost cap stopped
the run (``qagen.errors.BudgetReached``), 8 --batch-export wrote a step's requests for a batch engine
(``qagen.errors.BatchExported``), 130 interrupted, 141 the reader of the output went away (``| head``).
Each command lives in its own module, imported only when it runs, so ``qagen --help`` and
``qagen --version`` load no stage, no SDK and no text splitter.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

from qagen.errors import QagenError
from qagen.progress import terminal_safe
from qagen.redaction import redact

EXIT_INCOMPLETE = 3
EXIT_NO_EXAMPLES = 4
EXIT_JOB_STUCK = 6
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell shows for `seq 1e6 | head -1`

# command -> module of qagen.cli with a run(argv) -> int
COMMANDS = {"validate": "validate", "eval": "evaluate", "finetune": "finetune", "follow": "follow", "cache": "cache", "apply": "apply",
            "review": "review"}


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; the one place where an expected problem becomes an ``error:`` line and an exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    module = COMMANDS.get(argv[0], "") if argv else ""
    try:
        try:
            if module:
                code = int(importlib.import_module(f"qagen.cli.{module}").run(argv[1:]))
            else:
                from qagen.cli import generate

                code = generate.run(argv)
        except SystemExit as exc:  # argparse, after it printed --help, --version or a usage error
            if exc.code is not None and not isinstance(exc.code, int):
                raise
            code = exc.code or 0
        # Output still buffered meets a reader that went away (`| head`) here, inside the boundary,
        # not in the interpreter's flush at exit, which would complain on stderr.
        sys.stdout.flush()
        return code
    except QagenError as exc:
        # The last guard: a message built from a server's words must not show the key, even a piece of it.
        print(f"error: {terminal_safe(redact(str(exc)))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:  # commands that do work say what was kept; this is Ctrl-C before or between
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # Nobody reads stdout any more: stop quietly. Whatever is still buffered goes to the null
        # device, so the flush at exit has nothing to fail on.
        _send_stdout_nowhere()
        return EXIT_BROKEN_PIPE


def _send_stdout_nowhere() -> None:
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (a test's capture): nothing to flush at exit
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)
