"""``qagen finetune OUT_DIR``: launch and follow a job on the jobs API, or train a LoRA adapter locally."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import ContextManager

from typing import TYPE_CHECKING

from qagen.cli import EXIT_INTERRUPTED, EXIT_JOB_STUCK
from qagen.cli.options import Parser, add_options, given, say
from qagen.progress import terminal_safe
from qagen.options import FINETUNE_OPTIONS, TRAIN_OPTIONS
from qagen.settings import FinetuneSettings, TrainSettings, resolve

if TYPE_CHECKING:
    from qagen.finetune.jobs import JobOutcome


def run(argv: Sequence[str]) -> int:
    choose = Parser(add_help=False)
    choose.add_argument("--trainer", choices=("openai", "trl"), default="openai")
    chosen, _ = choose.parse_known_args(argv)
    parser = Parser(
        prog="qagen finetune",
        description=(
            "Fine-tune a model on a qagen run's train.jsonl/valid.jsonl: on an OpenAI-compatible jobs API (OpenAI, "
            "Azure OpenAI), or with --trainer trl as a LoRA adapter on this machine (pip install 'qagen[train]'). "
            "See `qagen finetune --trainer trl --help` for the local trainer's flags."
        ),
    )
    parser.add_argument("out_dir", type=Path, help="the out folder of a qagen run")
    parser.add_argument("--trainer", choices=("openai", "trl"), default="openai", help="where to train (default: openai, the jobs API)")
    options = TRAIN_OPTIONS if chosen.trainer == "trl" else FINETUNE_OPTIONS
    add_options(parser, options)
    args = parser.parse_args(argv)
    if args.trainer != "trl":
        return launch_job(resolve(FinetuneSettings, given(args, options), out_dir=args.out_dir))
    if args.base_model is None:
        parser.error("--trainer trl needs --base-model (a local folder or Hugging Face id)")
    from qagen.finetune.trainer import train

    with _holding(args.out_dir):
        result = train(resolve(TrainSettings, given(args, options), out_dir=args.out_dir), say)
    print(terminal_safe(f"adapter   {result.adapter_dir}"))
    print(terminal_safe(f"log       {result.log_path}"))
    print(f"loss      {result.first_loss:.4f} -> {result.last_loss:.4f} over {result.steps} steps"
          + (f"; validation loss {result.eval_loss:.4f}" if result.eval_loss is not None else ""))
    print(terminal_safe(f"try it    qagen eval {args.out_dir} --adapter {result.adapter_dir}"))
    return 0


def launch_job(settings: FinetuneSettings) -> int:
    from qagen.finetune.jobs import launch
    from qagen.finetune.state import saved_job_id

    try:
        outcome = launch(settings, say)
    except KeyboardInterrupt:
        job_id = saved_job_id(settings.out_dir)
        if job_id:
            print(f"\nstopped following: the job keeps running; follow it again with: qagen follow {job_id}", file=sys.stderr)
        else:
            print("\ninterrupted before a job was created; run the same command again to continue.", file=sys.stderr)
        return EXIT_INTERRUPTED
    if outcome is None:  # --dry-run
        return 0
    return outcome_code(outcome)


def outcome_code(outcome: JobOutcome) -> int:
    """0 succeeded, 1 failed or cancelled, 6 following stopped at a status the job may stay in."""
    if not outcome.ended:
        return EXIT_JOB_STUCK
    return 0 if outcome.succeeded else 1


def _holding(out_dir: Path) -> ContextManager[object]:
    """The out folder's lock while a training writes the adapter (a launch takes it in ``launch``).

    A folder that does not exist is left for preflight to refuse.
    """
    if not out_dir.is_dir():
        return contextlib.nullcontext()
    from qagen.outfolder.lock import FolderLock

    return FolderLock(out_dir)
