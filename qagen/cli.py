"""Command line: ``qagen FOLDER [options]``.

The only place that prints errors and picks exit codes: 0 done, 1 error, 2 usage or
settings error, 3 finished with chunks that failed after every retry, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from qagen import __version__
from qagen.config import DEFAULT_OPENAI_MODEL, Settings, resolve
from qagen.errors import QagenError
from qagen.progress import TerminalProgress
from qagen.report import Report, summary

EXIT_INCOMPLETE = 3
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qagen",
        description="Turn a folder of documents into a question/answer dataset for fine-tuning a chat model.",
        epilog=(
            "Environment: OPENAI_API_KEY, OPENAI_BASE_URL, and QAGEN_<SETTING> (e.g. QAGEN_CONCURRENCY=16). "
            "Flags win over the environment, which wins over --config."
        ),
    )
    parser.add_argument("folder", type=Path, help="folder of text documents (searched recursively), or one file")
    parser.add_argument("-o", "--out", type=Path, help="output folder (default: out)")
    parser.add_argument("--version", action="version", version=f"qagen {__version__}")
    parser.add_argument("--config", type=Path, help="TOML file with settings (keys as in report.json's settings)")

    model = parser.add_argument_group("model")
    model.add_argument(
        "--model",
        help=f"model name at the endpoint, or 'offline' for the built-in generator "
        f"(default: {DEFAULT_OPENAI_MODEL} when OPENAI_API_KEY is set, else offline)",
    )
    model.add_argument("--base-url", help="OpenAI-compatible endpoint, e.g. http://localhost:11434/v1 (env OPENAI_BASE_URL)")
    model.add_argument("-n", "--pairs-per-chunk", type=int, help="question/answer pairs asked per chunk (default: 5)")
    model.add_argument("--template", type=Path, help="chat template JSON file (default: the built-in qa.json)")
    model.add_argument("--concurrency", type=int, help="requests in flight at once (default: 8)")
    model.add_argument("--max-attempts", type=int, help="attempts per request before giving up on it (default: 6)")
    model.add_argument("--timeout", type=float, help="seconds to wait for one reply (default: 120)")

    chunking = parser.add_argument_group("chunking")
    chunking.add_argument("--chunk-size", dest="chunk_tokens", type=int, help="tokens per chunk (default: 800)")
    chunking.add_argument("--chunk-overlap", dest="overlap_tokens", type=int, help="tokens shared by neighbouring chunks (default: 80)")

    output = parser.add_argument_group("dataset")
    output.add_argument("--format", choices=("chat", "completion"), help="chat messages (default) or legacy prompt/completion")
    output.add_argument("--system", dest="system_message", help="system message of every chat example")
    output.add_argument("--no-system", action="store_true", help="write chat examples without a system message")
    output.add_argument("--separator", help="completion format: separator ending every prompt (default: '\\n\\n###\\n\\n')")
    output.add_argument("--stop", help="completion format: stop sequence ending every completion (default: ' END')")
    output.add_argument("--no-leading-space", action="store_true", help="completion format: do not start completions with a space")
    output.add_argument("--valid-fraction", type=float, help="share of pairs held out for validation (default: 0.1)")
    output.add_argument("--seed", type=int, help="seed of the train/validation split (default: 0)")

    run = parser.add_argument_group("run")
    run.add_argument("--restart", action="store_true", help="discard the earlier run in the out folder and start over")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bar or notices; the summary still prints")
    return parser


def _flags(args: argparse.Namespace) -> dict:
    names = (
        "out", "model", "base_url", "pairs_per_chunk", "template", "concurrency", "max_attempts", "timeout",
        "chunk_tokens", "overlap_tokens", "format", "system_message", "separator", "stop", "valid_fraction", "seed",
    )
    flags = {name: getattr(args, name) for name in names}
    if args.no_system:
        flags["system_message"] = ""
    if args.no_leading_space:
        flags["leading_space"] = False
    if args.quiet:
        flags["quiet"] = True
    if args.restart:
        flags["restart"] = True
    return flags


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        settings = resolve(args.folder, _flags(args), config_file=args.config)
        return _generate(settings)
    except QagenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        out = _flags(args).get("out") or Path("out")
        print(
            f"\ninterrupted: answered chunks are saved in {out}; run the same command again to continue.",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED


def _generate(settings: Settings) -> int:
    from qagen.pipeline import run  # imported here so `qagen --help` stays fast

    progress = TerminalProgress(sys.stderr, draw_bar=sys.stderr.isatty() and not settings.quiet, show_notes=not settings.quiet)
    report = run(settings, progress)
    print(summary(report))
    return _verdict(report)


def _verdict(report: Report) -> int:
    if report.complete:
        return 0
    reasons = sorted({f["reason"] for f in report.chunks_failed})
    print(
        f"error: {len(report.chunks_failed)} of {report.chunks} chunks failed after every retry "
        f"({', '.join(reasons)}); run the same command again to ask just those.",
        file=sys.stderr,
    )
    return EXIT_INCOMPLETE
