"""``qagen FOLDER``: generate a dataset (and with --finetune, launch a job on it)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from qagen import __version__
from qagen.cli import EXIT_INCOMPLETE, EXIT_INTERRUPTED, EXIT_NO_EXAMPLES
from qagen.cli.options import Parser, add_options, given, say, unescape
from qagen.cli.progress import TerminalProgress
from qagen.progress import terminal_safe
from qagen.options import DEFAULT_BASE_MODEL, GENERATE_OPTIONS
from qagen.settings import FinetuneSettings, Settings, resolve, unknown_env_variables

if TYPE_CHECKING:
    from qagen.pipeline.report import Report
    from qagen.pipeline.runner import Result

_GROUPS = {
    "model": ("model", "base_url", "pairs_per_chunk", "template", "structured_output", "concurrency", "max_attempts", "timeout",
              "max_retry_wait", "max_context"),
    "documents": ("max_file_size",),
    "document conversion (PDF, DOCX, PPTX, EPUB)": ("convert_timeout", "convert_cache"),
    "chunking": ("chunk_size", "chunk_overlap"),
    "dataset": ("format", "system", "no_system", "separator", "stop", "leading_space", "valid_fraction", "seed", "max_example_tokens",
                "language"),
    "review": ("decisions", "review"),
    "quality": ("idk_ratio", "refusal", "dedupe_threshold", "grounding_threshold", "judge", "judge_threshold",
                "idk_template", "idk_check_template", "judge_template"),
    "run": ("cache", "cache_dir", "restart", "quiet", "dry_run"),
    "cost": ("max_cost", "price_input", "price_output"),
    "batch jobs": ("batch", "batch_retry_online", "batch_max_requests", "batch_max_mb", "batch_poll_interval", "batch_export",
                   "batch_import"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="qagen",
        description="Turn a folder of documents into a question/answer dataset for fine-tuning a chat model.",
        epilog=(
            "Other commands (each has --help): qagen validate FILE.jsonl, qagen finetune OUT_DIR, "
            "qagen follow JOB_ID, qagen eval OUT_DIR, qagen apply OUT_DIR DECISIONS, qagen review OUT_DIR, qagen cache info|clear. "
            "Environment: OPENAI_API_KEY, OPENAI_BASE_URL, and QAGEN_<SETTING> named like the flag "
            "(QAGEN_CHUNK_SIZE=400). Flags win over the environment, which wins over --config."
        ),
    )
    parser.add_argument("folder", type=Path, help="folder of documents (searched recursively), or one file")
    add_options(parser, GENERATE_OPTIONS, ["out"])
    parser.add_argument("--version", action="version", version=f"qagen {__version__}")
    parser.add_argument("--config", type=Path, help="TOML file of settings, keys named like the flags (chunk_size = 400)")
    for title, names in _GROUPS.items():
        group = parser.add_argument_group(title)
        add_options(group, GENERATE_OPTIONS, names)
    tune = parser.add_argument_group("fine-tune")
    tune.add_argument("--finetune", action="store_true", help="after the run, launch a fine-tuning job on the same endpoint and follow it")
    tune.add_argument("--base-model", help=f"with --finetune: the model to fine-tune (default: {DEFAULT_BASE_MODEL})")
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    flags = given(args, GENERATE_OPTIONS)
    for name in ("separator", "stop"):
        if flags[name] is not None:
            flags[name] = unescape(flags[name])
    return resolve(Settings, flags, config_file=args.config, corpus=args.folder)


def run(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    settings = settings_from_args(args)
    if not settings.quiet:
        for name in unknown_env_variables(os.environ):
            print(terminal_safe(f"warning: {name} names no qagen setting and is ignored (see qagen --help)"), file=sys.stderr)
    if settings.dry_run:
        return _dry_run(settings)
    job = None
    if args.finetune:
        from qagen.finetune.jobs import check_before_generating

        job = FinetuneSettings(out_dir=settings.out, base_url=settings.base_url, api_key=settings.api_key,
                               base_model=args.base_model or DEFAULT_BASE_MODEL, max_retry_wait=settings.max_retry_wait)
        # A launch refused after the whole run would have spent it for nothing: what can be checked now is.
        check_before_generating(job, settings.format, say)
    try:
        code = _generate(settings)
    except KeyboardInterrupt:
        print(
            "\n" + terminal_safe(f"interrupted: answered chunks are saved in {settings.out}; run the same command again to continue."),
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    if code != 0 or job is None:
        return code
    from qagen.cli.finetune import launch_job

    return launch_job(job)


PLAIN_PROGRESS_SECONDS = 15.0  # between progress lines when stderr is not a terminal


def _generate(settings: Settings) -> int:
    from qagen.errors import BatchExported, BudgetReached
    from qagen.pipeline.runner import Result, run as run_pipeline

    tty = sys.stderr.isatty()
    progress = TerminalProgress(
        sys.stderr, draw_bar=tty and not settings.quiet, show_notes=not settings.quiet,
        plain_interval=None if tty or settings.quiet else PLAIN_PROGRESS_SECONDS,
    )
    try:
        result = run_pipeline(settings, progress)
    except BatchExported as exported:
        # Not an error: the sentence says which command answers the requests and how to continue.
        print(terminal_safe(str(exported)), file=sys.stderr)
        return exported.exit_code
    except BudgetReached as stopped:
        # Everything the run has is written: its summary, then the error boundary's one sentence and exit code 7.
        if isinstance(stopped.result, Result):
            print(_summary_with_page(stopped.result))
        raise
    print(_summary_with_page(result))
    return verdict(result.report)


def _summary_with_page(result: Result) -> str:
    """The summary, ending with the review page's path when the run wrote one, the next thing to open."""
    from qagen.pipeline.report import summary

    page = result.paths.get("review")
    return summary(result.report) + (f"\nreview    {terminal_safe(str(page))}" if page is not None else "")


def _dry_run(settings: Settings) -> int:
    """The estimate on stdout: before the lock, the manifest or any request, so the out folder stays as it was."""
    from qagen.pipeline.dryrun import describe, plan

    notes = TerminalProgress(sys.stderr, draw_bar=False, show_notes=not settings.quiet, plain_interval=None)
    for line in describe(plan(settings, notes)).splitlines():
        print(terminal_safe(line))
    return 0


def verdict(report: Report) -> int:
    """The exit code of a finished run: failed requests first (a rerun may fix them), then an empty train.jsonl."""
    from qagen.pipeline.report import why_no_training_examples

    empty = why_no_training_examples(report)
    code = 0
    if not report.complete:
        failed = []
        if report.chunks_failed:
            reasons = ", ".join(sorted({f["reason"] for f in report.chunks_failed}))
            failed.append(f"{len(report.chunks_failed)} of {report.chunks} chunks ({reasons})")
        if report.requests_failed:
            failed.append(f"{report.requests_failed} I-don't-know or judge requests")
        print(
            f"error: {' and '.join(failed)} failed after every retry; run the same command again to ask just those.",
            file=sys.stderr,
        )
        code = EXIT_INCOMPLETE
    if empty:
        print(f"error: no training examples were written because {empty}", file=sys.stderr)
        code = code or EXIT_NO_EXAMPLES
    return code
