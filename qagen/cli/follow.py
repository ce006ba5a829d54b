"""``qagen follow JOB_ID``: follow any fine-tuning job until it ends."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from qagen.cli import EXIT_INTERRUPTED
from qagen.cli.finetune import outcome_code
from qagen.cli.options import Parser, add_options, given, say
from qagen.progress import terminal_safe
from qagen.options import FOLLOW_OPTIONS
from qagen.settings import FinetuneSettings, resolve


def run(argv: Sequence[str]) -> int:
    parser = Parser(prog="qagen follow", description="Follow a fine-tuning job: status, events, losses, until it ends.")
    parser.add_argument("job_id", help="the job id, e.g. ftjob-abc123")
    add_options(parser, FOLLOW_OPTIONS)
    args = parser.parse_args(argv)
    settings = resolve(FinetuneSettings, given(args, FOLLOW_OPTIONS), out_dir=Path("."))

    from qagen.finetune.jobs import follow

    try:
        outcome = follow(args.job_id, settings, say)
    except KeyboardInterrupt:
        print("\n" + terminal_safe(f"stopped following: the job keeps running; follow it again with: qagen follow {args.job_id}"), file=sys.stderr)
        return EXIT_INTERRUPTED
    return outcome_code(outcome)
