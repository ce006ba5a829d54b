"""Command line: ``qagen FOLDER``, and the ``validate``, ``eval``, ``finetune`` and ``follow`` commands.

The only place that prints errors and picks exit codes: 0 done, 1 error, 2 usage or
settings error, 3 finished with chunks that failed after every retry, 130 interrupted.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from qagen import __version__
from qagen.settings import DEFAULT_OPENAI_MODEL, Settings, endpoint_from_env, resolve
from qagen.errors import ConfigError, QagenError
from qagen.progress import TerminalProgress
from qagen.pipeline.report import Report, summary

EXIT_INCOMPLETE = 3
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qagen",
        description="Turn a folder of documents into a question/answer dataset for fine-tuning a chat model.",
        epilog=(
            "Other commands (each has --help): qagen validate FILE.jsonl, qagen finetune OUT_DIR, "
            "qagen follow JOB_ID, qagen eval OUT_DIR. "
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
    output.add_argument("--seed", type=int, help="seed of the train/validation split and idk choices (default: 0)")
    output.add_argument("--max-example-tokens", type=int, help="per-example token limit of the target model (default: 16385)")

    quality = parser.add_argument_group("quality")
    quality.add_argument("--idk-ratio", type=float, help="I-don't-know examples per kept grounded pair (default: 0.1)")
    quality.add_argument(
        "--refusal", dest="refusals", action="append",
        help="answer of the I-don't-know examples; repeat for several phrasings (default: a built-in set of four)",
    )
    quality.add_argument("--dedupe-threshold", type=float, help="word overlap (Jaccard) at which questions are near duplicates (default: 0.8)")
    quality.add_argument("--grounding-threshold", type=float, help="share of an answer's terms its chunk must contain (default: 0.5)")
    quality.add_argument("--judge", action="store_true", default=None, help="have the model rate every pair against its chunk (templates/judge.json)")
    quality.add_argument("--judge-threshold", type=int, help="lowest judge rating (1-5) a pair may have (default: 4)")
    quality.add_argument("--idk-template", type=Path, help="template that asks for I-don't-know candidates (default: built-in idk.json)")
    quality.add_argument("--idk-check-template", type=Path, help="template that checks a candidate against passages (default: built-in idk_check.json)")
    quality.add_argument("--judge-template", type=Path, help="template of the judge (default: built-in judge.json)")

    tune = parser.add_argument_group("fine-tune")
    tune.add_argument("--finetune", action="store_true", help="after the run, launch a fine-tuning job on the same endpoint and follow it")
    tune.add_argument("--base-model", help="with --finetune: the model to fine-tune (default: gpt-4o-mini-2024-07-18)")

    run = parser.add_argument_group("run")
    run.add_argument("--restart", action="store_true", help="discard the earlier run in the out folder and start over")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bar or notices; the summary still prints")
    return parser


def unescape(text: str) -> str:
    """``\\n``, ``\\t``, ``\\r`` and ``\\\\`` typed in a shell become the characters they name.

    A separator or stop sequence such as ``\\n\\n###\\n\\n`` cannot otherwise be typed on one line.
    """
    return re.sub(r"\\([ntr\\])", lambda m: {"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}[m.group(1)], text)


def _flags(args: argparse.Namespace) -> dict:
    names = (
        "out", "model", "base_url", "pairs_per_chunk", "template", "concurrency", "max_attempts", "timeout",
        "chunk_tokens", "overlap_tokens", "format", "system_message", "separator", "stop", "valid_fraction", "seed",
        "max_example_tokens", "idk_ratio", "dedupe_threshold", "grounding_threshold", "judge", "judge_threshold",
        "idk_template", "idk_check_template", "judge_template",
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
    for name in ("separator", "stop"):
        if flags[name] is not None:
            flags[name] = unescape(flags[name])
    if args.refusals:
        flags["refusals"] = tuple(args.refusals)
    return flags


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; the one place where an expected problem becomes an ``error:`` line and an exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"validate": validate_main, "eval": eval_main, "finetune": finetune_main, "follow": follow_main}
    try:
        if argv and argv[0] in commands:
            return commands[argv[0]](argv[1:])
        return generate_main(argv)
    except QagenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


def generate_main(argv: Sequence[str]) -> int:
    """``qagen FOLDER``: generate a dataset (and with --finetune, launch a job on it)."""
    args = build_parser().parse_args(argv)
    settings = resolve(args.folder, _flags(args), config_file=args.config)
    try:
        code = _generate(settings)
    except KeyboardInterrupt:
        print(
            f"\ninterrupted: answered chunks are saved in {settings.out}; run the same command again to continue.",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    if code != 0 or not args.finetune:
        return code
    from qagen.finetune.jobs import FinetuneOptions

    options = FinetuneOptions(out_dir=settings.out, base_url=settings.base_url, api_key=settings.api_key)
    if args.base_model:
        options = dataclasses.replace(options, base_model=args.base_model)
    return _launch_job(options)


def _generate(settings: Settings) -> int:
    from qagen.pipeline.runner import run  # imported here so `qagen --help` stays fast

    progress = TerminalProgress(sys.stderr, draw_bar=sys.stderr.isatty() and not settings.quiet, show_notes=not settings.quiet)
    report = run(settings, progress)
    print(summary(report))
    return _verdict(report)


def _verdict(report: Report) -> int:
    if report.complete:
        return 0
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
    return EXIT_INCOMPLETE


def validate_main(argv: Sequence[str]) -> int:
    """``qagen validate FILE.jsonl``: the dataset checks on any chat or prompt/completion file."""
    from qagen.dataset.validate import MAX_EXAMPLE_TOKENS, render_report, validate_file
    from qagen.documents.tokens import counter_for

    parser = argparse.ArgumentParser(
        prog="qagen validate",
        description="Check a chat or prompt/completion JSONL file before uploading it for fine-tuning.",
    )
    parser.add_argument("file", type=Path, help="the JSONL file")
    parser.add_argument("--model", default=DEFAULT_OPENAI_MODEL, help=f"model whose tokenizer counts tokens (default: {DEFAULT_OPENAI_MODEL})")
    parser.add_argument("--max-tokens", type=int, default=MAX_EXAMPLE_TOKENS, help=f"per-example token limit (default: {MAX_EXAMPLE_TOKENS})")
    parser.add_argument("--separator", help="legacy format: the separator every prompt must end with (default: inferred)")
    parser.add_argument("--stop", help="legacy format: the stop sequence every completion must end with (default: inferred)")
    parser.add_argument("--no-leading-space", action="store_true", help="legacy format: completions need not start with a space")
    parser.add_argument("--max-lines", type=int, default=50, help="problems listed at most (default: 50)")
    args = parser.parse_args(argv)
    report = validate_file(
        args.file,
        count_tokens=counter_for(args.model),
        max_tokens=args.max_tokens,
        separator=args.separator,
        stop=args.stop,
        leading_space=not args.no_leading_space,
    )
    print(render_report(report, max_lines=args.max_lines))
    return 0 if report.ok else 1


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _endpoint_model(name: str, base_url: str | None, *, timeout: float, max_attempts: int):
    """An OpenAI-compatible model for the commands that take --model/--base-url themselves."""
    from qagen.llm.client import OpenAIChatModel
    from qagen.documents.tokens import counter_for

    base_url, api_key = endpoint_from_env(base_url)
    if not base_url and not api_key:
        raise ConfigError(f"--model {name} needs OPENAI_API_KEY for OpenAI, or --base-url for a local server.")
    return OpenAIChatModel(
        name, base_url=base_url, api_key=api_key, timeout=timeout, max_attempts=max_attempts,
        count_tokens=counter_for(name), on_retry=lambda reason, wait: _say(f"retrying after {reason} in {wait:.1f} s"),
    )


def eval_main(argv: Sequence[str]) -> int:
    """``qagen eval OUT_DIR``: ask a model the held-out questions and score its answers."""
    import asyncio

    from qagen.evaluate.runner import evaluate, load_eval_items, render_eval, write_eval

    parser = argparse.ArgumentParser(
        prog="qagen eval",
        description="Ask a model the validation questions and the held-out I-don't-know probes of a run, and score its answers.",
    )
    parser.add_argument("out_dir", type=Path, help="the out folder of a qagen run")
    parser.add_argument("--model", help="model to evaluate: a name at the endpoint (e.g. ft:gpt-4o-mini:org::id)")
    parser.add_argument("--base-url", help="OpenAI-compatible endpoint (env OPENAI_BASE_URL; default OpenAI)")
    parser.add_argument("--adapter", type=Path, help="evaluate a LoRA adapter trained by `qagen finetune --trainer trl` instead")
    parser.add_argument("--base-model", help="with --adapter: the base model (default: the one the adapter names)")
    parser.add_argument("--judge-model", help="also have this model (same endpoint) rate each answer against the reference")
    parser.add_argument("--split", choices=("valid", "train"), default="valid", help="which questions to ask (default: valid)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight at once (default: 8)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for one reply (default: 120)")
    parser.add_argument("--max-attempts", type=int, default=6, help="attempts per request (default: 6)")
    parser.add_argument("--f1-threshold", type=float, default=0.5, help="token F1 at which an answer counts as correct (default: 0.5)")
    args = parser.parse_args(argv)
    if bool(args.model) == bool(args.adapter):
        raise ConfigError("give either --model (a model at an endpoint) or --adapter (a trained LoRA adapter).")
    items = load_eval_items(args.out_dir, split=args.split)
    if args.adapter:
        from qagen.finetune.trainer import LocalModel

        model = LocalModel(args.adapter, args.base_model)
    else:
        model = _endpoint_model(args.model, args.base_url, timeout=args.timeout, max_attempts=args.max_attempts)
    judge = None
    if args.judge_model:
        judge = _endpoint_model(args.judge_model, args.base_url, timeout=args.timeout, max_attempts=args.max_attempts)

    async def run() -> object:
        try:
            return await evaluate(
                items, model, concurrency=args.concurrency, judge_model=judge, f1_threshold=args.f1_threshold,
                say=_say, resume_dir=args.out_dir / "eval",
            )
        finally:
            await model.aclose()
            if judge is not None:
                await judge.aclose()

    try:
        report = asyncio.run(run())
    except KeyboardInterrupt:
        print(f"\ninterrupted: answers so far are saved in {args.out_dir / 'eval'}; run the same command again to continue.", file=sys.stderr)
        return EXIT_INTERRUPTED
    path = write_eval(report, args.out_dir)
    print(render_eval(report))
    print(f"scores written to {path}")
    return 0 if not report.failures else EXIT_INCOMPLETE


def finetune_main(argv: Sequence[str]) -> int:
    """``qagen finetune OUT_DIR``: launch and follow a job on the jobs API, or train a LoRA adapter locally."""
    from qagen.finetune import jobs as finetune, trainer

    choose = argparse.ArgumentParser(add_help=False)
    choose.add_argument("--trainer", choices=("openai", "trl"), default="openai")
    chosen, _ = choose.parse_known_args(argv)
    parser = argparse.ArgumentParser(
        prog="qagen finetune",
        description=(
            "Fine-tune a model on a qagen run's train.jsonl/valid.jsonl: on an OpenAI-compatible jobs API (OpenAI, "
            "Azure OpenAI), or with --trainer trl as a LoRA adapter on this machine (pip install 'qagen[train]'). "
            "See `qagen finetune --trainer trl --help` for the local trainer's flags."
        ),
    )
    parser.add_argument("out_dir", type=Path, help="the out folder of a qagen run")
    parser.add_argument("--trainer", choices=("openai", "trl"), default="openai", help="where to train (default: openai, the jobs API)")
    if chosen.trainer == "trl":
        parser.add_argument("--base-model", required=True, help="local folder or Hugging Face id of the model to train")
        parser.add_argument("--seed", type=int, default=0, help="training seed (default: 0)")
        trainer.add_trainer_arguments(parser)
    else:
        finetune.add_finetune_arguments(parser)
    args = parser.parse_args(argv)
    if args.trainer != "trl":
        return _launch_job(finetune.options_from_args(args, os.environ))
    options = trainer.options_from_args(args, out_dir=args.out_dir, base_model=args.base_model, seed=args.seed)
    result = trainer.train(options, _say)
    print(f"adapter   {result.adapter_dir}")
    print(f"log       {result.log_path}")
    print(f"loss      {result.first_loss:.4f} -> {result.last_loss:.4f} over {result.steps} steps"
          + (f"; validation loss {result.eval_loss:.4f}" if result.eval_loss is not None else ""))
    print(f"try it    qagen eval {args.out_dir} --adapter {result.adapter_dir}")
    return 0


def _launch_job(options) -> int:
    from qagen.finetune import jobs as finetune

    try:
        outcome = finetune.launch(options, _say)
    except KeyboardInterrupt:
        job_id = finetune.saved_job_id(options.out_dir)
        if job_id:
            print(f"\nstopped following: the job keeps running; follow it again with: qagen follow {job_id}", file=sys.stderr)
        else:
            print("\ninterrupted before a job was created; run the same command again to continue.", file=sys.stderr)
        return EXIT_INTERRUPTED
    if outcome is None:  # --dry-run
        return 0
    return 0 if outcome.succeeded else 1


def follow_main(argv: Sequence[str]) -> int:
    """``qagen follow JOB_ID``: follow any fine-tuning job until it ends."""
    from qagen.finetune import jobs as finetune

    parser = argparse.ArgumentParser(prog="qagen follow", description="Follow a fine-tuning job: status, events, losses, until it ends.")
    parser.add_argument("job_id", help="the job id, e.g. ftjob-abc123")
    finetune.add_follow_arguments(parser)
    args = parser.parse_args(argv)
    options = finetune.options_from_args(args, os.environ)
    try:
        outcome = finetune.follow(args.job_id, options, _say)
    except KeyboardInterrupt:
        print(f"\nstopped following: the job keeps running; follow it again with: qagen follow {args.job_id}", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0 if outcome.succeeded else 1
