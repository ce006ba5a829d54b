"""Preflight and the dry-run plan of a fine-tuning launch; nothing here touches the network.

``preflight`` checks an out folder's ``train.jsonl`` and ``valid.jsonl`` as the service would
(with ``qagen.validate``), checks that their format fits the base model, and estimates tokens,
epochs and billed tokens; ``describe_plan`` says what a launch would do, for ``--dry-run``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qagen.finetune.errors import FinetuneError
from qagen.settings import FinetuneSettings
from qagen.finetune.state import read_state
from qagen.documents.tokens import base_model_name, counter_for
from qagen.dataset.checks import MIN_EXAMPLES
from qagen.dataset.estimate import FinetuneEstimate, estimate_finetune
from qagen.dataset.validate import ValidationReport, validate_file
from qagen.outfolder import unfinished_switch

TRAIN_FILE = "train.jsonl"
VALID_FILE = "valid.jsonl"
LEGACY_BASE_MODELS = ("babbage-002", "davinci-002")  # the only models that take prompt/completion data
PROBLEMS_SHOWN = 3


# ---------------------------------------------------------------- preflight


@dataclass(frozen=True)
class DatasetFile:
    name: str  # train.jsonl or valid.jsonl
    path: Path
    sha256: str  # of the bytes on disk when checked; uploads are compared against it
    report: ValidationReport

    @property
    def examples(self) -> int:
        return self.report.examples

    @property
    def tokens(self) -> int:
        return self.report.tokens.total if self.report.tokens else 0


@dataclass(frozen=True)
class Preflight:
    train: DatasetFile
    valid: DatasetFile | None  # None when valid.jsonl is missing or empty
    format: str  # "chat" or "completion"
    estimate: FinetuneEstimate  # with the epochs the service picks by default
    n_epochs: int  # --epochs, else the estimate of the service's default
    billed_tokens: int
    token_counter: str  # which encoding counted, and whether exactly

    @property
    def warnings(self) -> int:
        return sum(f.report.warnings for f in (self.train, self.valid) if f is not None)


def _not_ready(out: Path, what: str) -> FinetuneError:
    return FinetuneError(f"{out} {what}: run qagen FOLDER -o {out} first.")


def _problems_sentence(checked: DatasetFile, problems: list) -> str:
    shown = "; ".join(
        f"line {f.line}: {f.message.rstrip('.')}" if f.line is not None else f.message.rstrip(".")
        for f in problems[:PROBLEMS_SHOWN]
    )
    more = f"; and {len(problems) - PROBLEMS_SHOWN} more" if len(problems) > PROBLEMS_SHOWN else ""
    count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
    return (
        f"{checked.path} has {count} that the fine-tuning service would refuse or train badly on "
        f"({shown}{more}); see them all with: qagen validate {checked.path}"
    )


def _check_file(path: Path, count_tokens: Callable[[str], int], *, training: bool) -> DatasetFile:
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise FinetuneError(f"cannot read {path}: {exc.strerror or exc}.") from None
    checked = DatasetFile(name=path.name, path=path, sha256=digest, report=validate_file(path, count_tokens=count_tokens))
    # The minimum count applies to training data only; a small validation file is still useful.
    problems = [f for f in checked.report.findings if f.is_error and f.code != "too_few_examples"]
    if problems:
        raise FinetuneError(_problems_sentence(checked, problems))
    if training and checked.examples < MIN_EXAMPLES:
        raise FinetuneError(
            f"{path} has only {checked.examples} examples and fine-tuning needs at least {MIN_EXAMPLES}: "
            "add documents or raise -n (pairs per chunk), and run qagen again."
        )
    return checked


def check_format_fits(fmt: str, base_model: str, data: str, again: str = "run qagen again with") -> None:
    """Refuse a base model that cannot train on ``fmt`` examples; ``data`` names where they are (or will be)."""
    legacy_model = base_model_name(base_model).startswith(LEGACY_BASE_MODELS)
    if fmt == "completion" and not legacy_model:
        raise FinetuneError(
            f"{data} prompt/completion examples, which only {' and '.join(LEGACY_BASE_MODELS)} take: "
            f"pass --base-model davinci-002, or {again} --format chat."
        )
    if fmt == "chat" and legacy_model:
        raise FinetuneError(
            f"{base_model} takes prompt/completion examples but {data} chat examples: "
            f"{again} --format completion, or choose a chat model with --base-model."
        )


def preflight(options: FinetuneSettings) -> Preflight:
    """Check the out folder's dataset as the service would, and estimate tokens and epochs. Sends nothing."""
    out = options.out_dir
    if not out.is_dir():
        raise _not_ready(out, "does not exist")
    train_path = out / TRAIN_FILE
    if not train_path.is_file():
        raise _not_ready(out, f"holds no {TRAIN_FILE}")
    if mixed := unfinished_switch(out):
        raise FinetuneError(mixed)
    counter = counter_for(options.base_model)
    train = _check_file(train_path, counter, training=True)
    valid_path = out / VALID_FILE
    valid = None
    if valid_path.is_file() and valid_path.stat().st_size > 0:
        valid = _check_file(valid_path, counter, training=False)
        if valid.examples == 0:
            valid = None
    fmt = train.report.format
    if valid is not None and valid.report.format != fmt:
        raise FinetuneError(f"{valid.path} is in {valid.report.format} format but {train.path} in {fmt}: run qagen again.")
    check_format_fits(fmt, options.base_model, f"{train.path} holds")
    estimate = train.report.estimate or estimate_finetune([])
    n_epochs = options.n_epochs or estimate.n_epochs
    return Preflight(
        train=train,
        valid=valid,
        format=fmt,
        estimate=estimate,
        n_epochs=n_epochs,
        billed_tokens=n_epochs * estimate.tokens_per_epoch,
        token_counter=counter.describe(),
    )


# ---------------------------------------------------------------- the dry-run plan


def describe_plan(pre: Preflight, options: FinetuneSettings) -> str:
    """What a launch would do, for --dry-run; reads the out folder only, sends nothing."""
    out = options.out_dir
    train = pre.train
    lines = [
        f"fine-tuning plan for {out} (dry run: nothing is sent)",
        f"  training file    {train.path}: {pre.format} format, {train.examples:,} examples, {train.tokens:,} tokens",
    ]
    if pre.valid:
        lines.append(f"  validation file  {pre.valid.path}: {pre.valid.examples:,} examples, {pre.valid.tokens:,} tokens")
    else:
        lines.append(f"  validation file  none ({VALID_FILE} is missing or empty: the job reports no validation loss)")
    lines.append(f"  base model       {options.base_model} at {options.jobs_endpoint}")
    lines.append(f"  token counts     {pre.token_counter}")
    if options.n_epochs:
        epochs = f"{options.n_epochs} (--epochs)"
    else:
        epochs = f"{pre.n_epochs} (estimate of the service's default for {train.examples:,} examples)"
    lines.append(f"  epochs           {epochs}")
    chosen = options.hyperparameters
    lines.append(f"  batch size       {chosen.get('batch_size', 'auto')}")
    lines.append(f"  lr multiplier    {chosen.get('learning_rate_multiplier', 'auto')}")
    lines.append(f"  suffix, seed     {options.suffix or 'none'}, {options.seed if options.seed is not None else 'auto'}")
    lines.append(
        f"  billed tokens    about {pre.billed_tokens:,} ({pre.n_epochs} epochs x {pre.estimate.tokens_per_epoch:,} training tokens)"
    )
    if pre.estimate.truncated_examples:
        lines.append(f"  truncated        {pre.estimate.truncated_examples} examples are over the token limit")
    if pre.warnings:
        lines.append(f"  warnings         {pre.warnings} (see them with: qagen validate {train.path})")
    state = read_state(out)
    for name, saved in sorted(state.get("files", {}).items()):
        current = {TRAIN_FILE: pre.train, VALID_FILE: pre.valid}.get(name)
        if current is not None and saved.get("sha256") == current.sha256 and saved.get("endpoint") == options.jobs_endpoint:
            lines.append(f"  already uploaded {name} as {saved.get('file_id')}: it would be reused")
    if state.get("job_id"):
        lines.append(f"  existing job     {state['job_id']}: a launch would follow it instead of creating another")
    return "\n".join(lines)
