"""Launching and following a fine-tuning job on an OpenAI-compatible jobs API.

``launch`` checks the dataset of a qagen out folder, uploads ``train.jsonl`` and
``valid.jsonl``, creates the job and follows it to a terminal status; ``follow`` follows
any job by id. The same jobs API is served by OpenAI and Azure OpenAI (``--base-url``).

Resumable: every step is recorded in ``OUT_DIR/.qagen/finetune.json`` before the next one
starts (file ids with the sha256 of the bytes they were uploaded from, then the job id),
so a rerun never uploads the same bytes twice nor creates a second job; it resumes
following instead. Retries follow qagen's one policy (the SDK's own are off): bounded
attempts, exponential backoff with jitter, the server's ``Retry-After`` honoured. Errors
no retry can fix become one sentence, among them the refusal to create a job that OpenAI
now gives many organisations as it winds down self-serve fine-tuning.

The client is the SDK's synchronous one: following is one request every few seconds, and
Ctrl-C (KeyboardInterrupt) then reaches the caller directly; the job keeps running.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import secrets
import shlex
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import openai
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from qagen import __version__
from qagen.errors import ConfigError, ModelError, QagenError
from qagen.journal import STATE_DIR, write_atomic
from qagen.llm import (
    BASE_BACKOFF_SECONDS,
    MAX_WAIT_SECONDS,
    NO_KEY,
    redact,
    server_message,
    describe_failure,
    is_retryable,
    retry_after_seconds,
)
from qagen.tokens import base_model_name, counter_for
from qagen.validate import MIN_EXAMPLES, FinetuneEstimate, ValidationReport, estimate_finetune, validate_file

DEFAULT_BASE_MODEL = "gpt-4o-mini-2024-07-18"
DEFAULT_POLL_INTERVAL = 10.0
TRAIN_FILE = "train.jsonl"
VALID_FILE = "valid.jsonl"
STATE_FILE = "finetune.json"
OPENAI_URL = "https://api.openai.com/v1"
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled", "canceled"})
KNOWN_STATUSES = frozenset({"validating_files", "queued", "running"}) | TERMINAL_STATUSES
MAX_SUFFIX_CHARS = 64
LEGACY_BASE_MODELS = ("babbage-002", "davinci-002")  # the only models that take prompt/completion data
EVENTS_PER_PAGE = 100
MAX_EVENT_PAGES = 50  # following an old job: its most recent 5,000 events are enough history
FILE_PROCESSING_TIMEOUT = 30 * 60.0
MAX_FILE_POLL_SECONDS = 2.0  # files are processed in seconds, jobs take minutes: poll files faster
PROBLEMS_SHOWN = 3

# How a refusal that is really "fine-tuning is closed to you" reads when it comes as a 400.
_FINETUNING = re.compile(r"fine[- ]?tun", re.IGNORECASE)
_CLOSED = re.compile(
    r"not (?:available|allowed|permitted|enabled|eligible|supported)|no longer|disabled|unavailable|"
    r"do(?:es)? not have access|cannot create|can't create|wind(?:ing)? down",
    re.IGNORECASE,
)
_TRAIN_LOSS = re.compile(r"training loss\s*[=:]\s*([-+\d.eE]+|nan)", re.IGNORECASE)
_VALID_LOSS = re.compile(r"validation loss\s*[=:]\s*([-+\d.eE]+|nan)", re.IGNORECASE)
_STEP = re.compile(r"step\s+(\d+)\s*/\s*(\d+)", re.IGNORECASE)

T = TypeVar("T")


class FinetuneError(QagenError):
    """The dataset is not ready for fine-tuning, or the service could not run the job."""


class FinetuneRefused(FinetuneError):
    """The service refused to create a fine-tuning job for this account or resource."""


# ---------------------------------------------------------------- options


@dataclass(frozen=True)
class FinetuneOptions:
    out_dir: Path
    base_model: str = DEFAULT_BASE_MODEL
    n_epochs: int | None = None  # None: the service's default ("auto")
    batch_size: int | None = None
    learning_rate_multiplier: float | None = None
    suffix: str | None = None  # at most 64 characters, added to the fine-tuned model's name
    seed: int | None = None
    base_url: str | None = None  # None: OpenAI; e.g. Azure OpenAI's https://<resource>.openai.azure.com/openai/v1
    # Never printed, logged or written: repr=False keeps it out of reprs and tracebacks.
    api_key: str | None = field(default=None, repr=False)
    dry_run: bool = False
    poll_interval: float = DEFAULT_POLL_INTERVAL  # seconds between two looks at the job
    timeout: float = 60.0  # seconds per request
    max_attempts: int = 6  # per request, counting the first

    @property
    def hyperparameters(self) -> dict[str, int | float]:
        """The hyperparameters given; the others are left to the service."""
        chosen = {
            "n_epochs": self.n_epochs,
            "batch_size": self.batch_size,
            "learning_rate_multiplier": self.learning_rate_multiplier,
        }
        return {name: value for name, value in chosen.items() if value is not None}


def check_options(options: FinetuneOptions) -> None:
    """Refuse values the service would refuse, before anything is sent."""
    if not options.base_model.strip():
        raise ConfigError("--base-model must not be empty.")
    for flag, value in (("--epochs", options.n_epochs), ("--batch-size", options.batch_size)):
        if value is not None and value < 1:
            raise ConfigError(f"{flag} must be at least 1 (got {value}).")
    if options.learning_rate_multiplier is not None and not options.learning_rate_multiplier > 0:
        raise ConfigError(f"--learning-rate-multiplier must be above 0 (got {options.learning_rate_multiplier}).")
    if options.suffix is not None and not 0 < len(options.suffix) <= MAX_SUFFIX_CHARS:
        raise ConfigError(f"--suffix must be 1 to {MAX_SUFFIX_CHARS} characters (got {len(options.suffix)}).")
    if not options.poll_interval > 0:
        raise ConfigError(f"--poll-interval must be above 0 seconds (got {options.poll_interval}).")
    if not options.timeout > 0 or options.max_attempts < 1:
        raise ConfigError("the request timeout must be above 0 and the number of attempts at least 1.")
    if options.base_url and not options.base_url.startswith(("http://", "https://")):
        raise ConfigError(f"--base-url must start with http:// or https:// (got {options.base_url}).")


def _positive(kind: type) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be above 0 (got {text})")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def add_follow_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags that following a job needs: --base-url, --poll-interval."""
    parser.add_argument(
        "--base-url",
        metavar="URL",
        help="an OpenAI-compatible jobs API, such as Azure OpenAI's https://<resource>.openai.azure.com/openai/v1 "
        "(default: OPENAI_BASE_URL, else OpenAI); the key is read from OPENAI_API_KEY",
    )
    parser.add_argument(
        "--poll-interval",
        type=_positive(float),
        default=DEFAULT_POLL_INTERVAL,
        metavar="SECONDS",
        help="seconds between two looks at the job (default: %(default)s)",
    )


def add_finetune_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``qagen finetune OUT_DIR`` (the caller adds the OUT_DIR positional as ``out_dir``)."""
    parser.add_argument(
        "--base-model",
        default=DEFAULT_BASE_MODEL,
        metavar="MODEL",
        help="model to fine-tune (default: %(default)s); babbage-002 or davinci-002 for prompt/completion data",
    )
    auto = "(default: chosen by the service)"
    parser.add_argument("--epochs", type=_positive(int), metavar="N", help=f"training epochs {auto}; --dry-run shows its estimate")
    parser.add_argument("--batch-size", type=_positive(int), metavar="N", help=f"examples per training step {auto}")
    parser.add_argument("--learning-rate-multiplier", type=_positive(float), metavar="X", help=f"scales the learning rate {auto}")
    parser.add_argument("--suffix", metavar="TEXT", help=f"up to {MAX_SUFFIX_CHARS} characters added to the fine-tuned model's name (default: none)")
    parser.add_argument("--seed", type=int, metavar="N", help=f"seed for a reproducible job {auto}")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="check the dataset and show the files, tokens, epochs and estimated billed tokens; sends nothing",
    )
    add_follow_arguments(parser)


def options_from_args(args: argparse.Namespace, env: Mapping[str, str]) -> FinetuneOptions:
    """Options from parsed flags and the environment: --base-url > OPENAI_BASE_URL; the key from OPENAI_API_KEY."""
    options = FinetuneOptions(
        out_dir=Path(getattr(args, "out_dir", None) or "."),
        base_model=getattr(args, "base_model", None) or DEFAULT_BASE_MODEL,
        n_epochs=getattr(args, "epochs", None),
        batch_size=getattr(args, "batch_size", None),
        learning_rate_multiplier=getattr(args, "learning_rate_multiplier", None),
        suffix=getattr(args, "suffix", None),
        seed=getattr(args, "seed", None),
        base_url=getattr(args, "base_url", None) or env.get("OPENAI_BASE_URL") or None,
        api_key=env.get("OPENAI_API_KEY") or None,
        dry_run=bool(getattr(args, "dry_run", False)),
        poll_interval=getattr(args, "poll_interval", None) or DEFAULT_POLL_INTERVAL,
    )
    check_options(options)
    return options


# ---------------------------------------------------------------- outcome and events


@dataclass(frozen=True)
class JobOutcome:
    job_id: str
    status: str
    fine_tuned_model: str | None
    error: str | None  # "code: message" from the service when the job failed
    trained_tokens: int | None
    train_loss: float | None = None  # the last losses the job reported
    valid_loss: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"


class FollowEvents(Protocol):
    def __call__(self, line: str) -> None: ...


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


def _check_format_fits(fmt: str, base_model: str, train: Path) -> None:
    legacy_model = base_model_name(base_model).startswith(LEGACY_BASE_MODELS)
    if fmt == "completion" and not legacy_model:
        raise FinetuneError(
            f"{train} holds prompt/completion examples, which only {' and '.join(LEGACY_BASE_MODELS)} take: "
            "pass --base-model davinci-002, or run qagen again with --format chat."
        )
    if fmt == "chat" and legacy_model:
        raise FinetuneError(
            f"{base_model} takes prompt/completion examples but {train} holds chat examples: "
            "run qagen again with --format completion, or choose a chat model with --base-model."
        )


def preflight(options: FinetuneOptions) -> Preflight:
    """Check the out folder's dataset as the service would, and estimate tokens and epochs. Sends nothing."""
    check_options(options)
    out = options.out_dir
    if not out.is_dir():
        raise _not_ready(out, "does not exist")
    train_path = out / TRAIN_FILE
    if not train_path.is_file():
        raise _not_ready(out, f"holds no {TRAIN_FILE}")
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
    _check_format_fits(fmt, options.base_model, train.path)
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


def _endpoint(options: FinetuneOptions) -> str:
    return (options.base_url or OPENAI_URL).rstrip("/")


def describe_plan(pre: Preflight, options: FinetuneOptions) -> str:
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
    lines.append(f"  base model       {options.base_model} at {_endpoint(options)}")
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
    state = _read_state(out)
    for name, saved in sorted(state.get("files", {}).items()):
        current = {TRAIN_FILE: pre.train, VALID_FILE: pre.valid}.get(name)
        if current is not None and saved.get("sha256") == current.sha256 and saved.get("endpoint") == _endpoint(options):
            lines.append(f"  already uploaded {name} as {saved.get('file_id')}: it would be reused")
    if state.get("job_id"):
        lines.append(f"  existing job     {state['job_id']}: a launch would follow it instead of creating another")
    return "\n".join(lines)


# ---------------------------------------------------------------- state


def state_path(out_dir: Path) -> Path:
    return out_dir / STATE_DIR / STATE_FILE


def saved_job_id(out_dir: Path) -> str | None:
    """The job a launch in ``out_dir`` created (for "follow it with: qagen follow JOB_ID" after Ctrl-C); None before one exists."""
    try:
        job_id = _read_state(out_dir).get("job_id")
    except FinetuneError:
        return None
    return job_id if isinstance(job_id, str) else None


def _read_state(out: Path) -> dict:
    path = state_path(out)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = None
    if not isinstance(data, dict):
        raise FinetuneError(f"{path} is damaged; delete it to start over (a job it named keeps running; follow it with qagen follow JOB_ID).")
    return data


def _write_state(out: Path, state: dict) -> None:
    path = state_path(out)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FinetuneError(f"cannot create {path.parent}: {exc.strerror or exc}.") from None
    write_atomic(path, json.dumps(state, indent=2, sort_keys=True) + "\n")


# ---------------------------------------------------------------- the service, with retries and plain errors


class _Service:
    """One client, qagen's retry policy, and the service's errors as one sentence each."""

    def __init__(self, options: FinetuneOptions, say: FollowEvents) -> None:
        if options.base_url is None and not options.api_key:
            raise ConfigError(
                "fine-tuning on OpenAI needs OPENAI_API_KEY; set it, or pass --base-url for another "
                "OpenAI-compatible jobs API such as Azure OpenAI."
            )
        self.options = options
        self.say = say
        self.where = options.base_url or "the OpenAI API"
        self.is_openai = options.base_url is None or "api.openai.com" in options.base_url
        self.client = openai.OpenAI(
            api_key=options.api_key or NO_KEY, base_url=options.base_url, timeout=options.timeout, max_retries=0
        )

    def __enter__(self) -> _Service:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        backoff = min(MAX_WAIT_SECONDS, BASE_BACKOFF_SECONDS * 2 ** (state.attempt_number - 1))
        wait = random.uniform(backoff / 2, backoff)
        asked = retry_after_seconds(getattr(getattr(exc, "response", None), "headers", None))
        if asked is not None:
            wait = min(MAX_WAIT_SECONDS, max(asked, 0.05))
        # tenacity asks for the wait before it checks the stop condition: no "retrying" after the last attempt.
        if exc is not None and state.attempt_number < self.options.max_attempts:
            self.say(f"{describe_failure(exc)} from {self.where}; retrying in {wait:.1f} s")
        return wait

    def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``function(*args, **kwargs)``, retried on 429, 5xx, timeouts and dropped connections."""
        retrying = Retrying(
            stop=stop_after_attempt(self.options.max_attempts),
            wait=self._wait,
            retry=retry_if_exception(is_retryable),
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                result = function(*args, **kwargs)
        return result

    @contextmanager
    def explained(self, doing: str, *, creating: bool = False, not_found: str | None = None, later: str = "") -> Iterator[None]:
        """Turn what escapes the retries into one sentence: ``doing`` says what qagen was doing."""
        try:
            yield
        except openai.APIStatusError as exc:
            if is_retryable(exc):
                raise self._gave_up(doing, exc, later) from None
            if exc.status_code == 404 and not_found is not None:
                raise FinetuneError(f"{not_found} at {self.where} (404): {self._detail(exc)}.") from None
            raise self._fatal(exc, doing, creating=creating) from None
        except Exception as exc:
            if is_retryable(exc):
                raise self._gave_up(doing, exc, later) from None
            raise

    def _detail(self, exc: openai.APIStatusError) -> str:
        return server_message(exc, self.options.api_key) or "no reason given"

    def _gave_up(self, doing: str, exc: BaseException, later: str) -> FinetuneError:
        attempts = self.options.max_attempts
        again = later or "run the same command again later: it resumes where it stopped"
        return FinetuneError(
            f"{self.where} kept failing while {doing} ({describe_failure(exc)}, {attempts} attempts); {again}."
        )

    def _fatal(self, exc: openai.APIStatusError, doing: str, *, creating: bool) -> QagenError:
        status, detail = exc.status_code, self._detail(exc)
        if status == 401:
            if self.options.api_key is None:
                return ModelError(f"{self.where} requires an API key (401): set OPENAI_API_KEY.")
            return ModelError(f"{self.where} rejected the API key (401): check OPENAI_API_KEY. Server said: {detail}.")
        closed = status == 400 and _FINETUNING.search(detail) and _CLOSED.search(detail)
        if status == 403 or (creating and closed):
            return FinetuneRefused(self._refusal(doing, status, detail, creating=creating))
        model = self.options.base_model
        if creating and (status == 404 or getattr(exc, "param", None) == "model"):
            return ModelError(
                f"base model {model} is not available for fine-tuning at {self.where} ({status}): {detail}; "
                f"check --base-model (for example {DEFAULT_BASE_MODEL})."
            )
        if status == 404:
            return ModelError(f"{self.where} answered 404 while {doing}: {detail}; check that --base-url ends in /v1.")
        return FinetuneError(f"{self.where} rejected a request while {doing} ({status}): {detail}.")

    def _refusal(self, doing: str, status: int, detail: str, *, creating: bool) -> str:
        out = self.options.out_dir
        azure = f"qagen finetune {out} --base-url https://<resource>.openai.azure.com/openai/v1, with that resource's key in OPENAI_API_KEY"
        trl = f"qagen finetune {out} --trainer trl --base-model <hf model>"
        what = "to create the fine-tuning job" if creating else f"access while {doing}"
        refused = f"{self.where} refused {what} ({status}: \"{detail}\")"
        own_gpu = f"the open trainer on your own GPU ({trl})"
        if self.is_openai:
            return (
                f"{refused}; OpenAI is winding down self-serve fine-tuning, so use Azure OpenAI, which serves the same "
                f"jobs API ({azure}), or {own_gpu}."
            )
        check = f"check that this service lets your key fine-tune {self.options.base_model}"
        if "azure" in (self.options.base_url or "").lower():
            return f"{refused}; {check}, or use {own_gpu}."
        return f"{refused}; {check}, or use Azure OpenAI, which serves the same jobs API ({azure}), or {own_gpu}."


# ---------------------------------------------------------------- uploads and job creation


def _uploaded_name(out: Path, name: str) -> str:
    # The folder's name tells the user's uploads apart in the service's file list.
    folder = out.resolve().name
    return f"{folder}-{name}" if folder else name


def _wait_processed(service: _Service, file_id: str, name: str) -> bool:
    """Wait until the service has processed an upload; False when the file is gone (deleted, expired)."""
    deadline = time.monotonic() + FILE_PROCESSING_TIMEOUT
    with service.explained(f"checking the upload of {name}"):
        while True:
            try:
                uploaded = service.call(service.client.files.retrieve, file_id)
            except openai.NotFoundError:
                return False
            status = getattr(uploaded, "status", None)
            if status in (None, "processed"):  # servers without a processing step send no status
                return True
            if status in ("error", "deleted", "deleting"):
                details = getattr(uploaded, "status_details", None) or status
                raise FinetuneError(
                    f"{service.where} could not process {name} ({file_id}): {redact(str(details), service.options.api_key)}."
                )
            if time.monotonic() > deadline:
                minutes = FILE_PROCESSING_TIMEOUT / 60
                raise FinetuneError(
                    f"{service.where} is still processing {name} ({file_id}) after {minutes:.0f} minutes; run the same command again later."
                )
            time.sleep(min(service.options.poll_interval, MAX_FILE_POLL_SECONDS))


def _ensure_uploaded(service: _Service, state: dict, checked: DatasetFile) -> str:
    """The id of an uploaded, processed copy of ``checked``: reused when the same bytes went to the same service."""
    out, endpoint = service.options.out_dir, _endpoint(service.options)
    files = state.setdefault("files", {})
    saved = files.get(checked.name) or {}
    if saved.get("file_id") and saved.get("endpoint") == endpoint:
        if saved.get("sha256") == checked.sha256:
            if _wait_processed(service, saved["file_id"], checked.name):
                service.say(f"reusing {checked.name}, uploaded earlier as {saved['file_id']}")
                return saved["file_id"]
            service.say(f"{saved['file_id']} is gone from {service.where}; uploading {checked.name} again")
        else:
            service.say(f"{checked.name} changed since it was uploaded as {saved['file_id']}; uploading it again")
    data = checked.path.read_bytes()
    if hashlib.sha256(data).hexdigest() != checked.sha256:
        raise FinetuneError(f"{checked.path} changed while qagen was launching; run the same command again.")
    service.say(f"uploading {checked.name} ({len(data):,} bytes, {checked.examples:,} examples)")
    with service.explained(f"uploading {checked.name}"):
        uploaded = service.call(
            service.client.files.create, file=(_uploaded_name(out, checked.name), data), purpose="fine-tune"
        )
    files[checked.name] = {"file_id": uploaded.id, "sha256": checked.sha256, "endpoint": endpoint}
    _write_state(out, state)
    if not _wait_processed(service, uploaded.id, checked.name):
        raise FinetuneError(f"{service.where} lost {checked.name} ({uploaded.id}) right after its upload; run the same command again.")
    return uploaded.id


def _job_with_token(service: _Service, token: str) -> Any | None:
    """A job this folder already created whose reply was lost (timeout, dropped connection), if the service lists it."""
    try:
        page = service.client.fine_tuning.jobs.list(limit=20)
    except openai.APIStatusError as exc:
        if is_retryable(exc):
            raise
        return None  # a service that cannot list jobs: nothing to find
    for job in page.data or []:
        if (getattr(job, "metadata", None) or {}).get("qagen_launch") == token:
            return job
    return None


def _create_job(service: _Service, state: dict, pre: Preflight, train_id: str, valid_id: str | None) -> str:
    options, out = service.options, service.options.out_dir
    # Saved before asking, so that a reply lost in transit (or a crash) never leads to a second job.
    token = state.setdefault("launch_token", secrets.token_hex(8))
    _write_state(out, state)
    request: dict[str, Any] = {
        "model": options.base_model,
        "training_file": train_id,
        "method": {"type": "supervised", "supervised": {"hyperparameters": options.hyperparameters}},
        "metadata": {"qagen_out": out.resolve().name[:512], "qagen_version": __version__, "qagen_launch": token},
    }
    if valid_id is not None:
        request["validation_file"] = valid_id
    if options.suffix:
        request["suffix"] = options.suffix
    if options.seed is not None:
        request["seed"] = options.seed
    # Look for the job first when an earlier attempt (this run's, or a crashed run's) may have created it.
    look_first = bool(state.get("create_attempted"))

    def create() -> Any:
        nonlocal look_first
        if look_first:
            existing = _job_with_token(service, token)
            if existing is not None:
                return existing
        look_first = True
        return service.client.fine_tuning.jobs.create(**request)

    state["create_attempted"] = True
    _write_state(out, state)
    with service.explained("creating the fine-tuning job", creating=True):
        job = service.call(create)
    state.update(
        job_id=job.id,
        endpoint=_endpoint(options),
        job_files={TRAIN_FILE: pre.train.sha256, VALID_FILE: pre.valid.sha256 if pre.valid else None},
        base_model=options.base_model,
        hyperparameters=options.hyperparameters,
        suffix=options.suffix,
        seed=options.seed,
        created_at=int(time.time()),
    )
    _write_state(out, state)
    service.say(f"created fine-tuning job {job.id} of {options.base_model} at {service.where}")
    return job.id


def _resumable_job(state: dict, pre: Preflight, options: FinetuneOptions, say: FollowEvents) -> str:
    """The saved job id, when that job was made from the same data at the same service; else a refusal."""
    job_id, path = state["job_id"], state_path(options.out_dir)
    endpoint = _endpoint(options)
    old = state.get("endpoint", endpoint)
    if old != endpoint:
        raise FinetuneError(
            f"fine-tuning job {job_id} of {options.out_dir} runs at {old}, not {endpoint}: follow it with --base-url {old}, "
            f"or delete {path} to launch a new job."
        )
    current = {TRAIN_FILE: pre.train.sha256, VALID_FILE: pre.valid.sha256 if pre.valid else None}
    changed = [name for name, digest in current.items() if state.get("job_files", {}).get(name) != digest]
    if changed:
        raise FinetuneError(
            f"fine-tuning job {job_id} was created from an earlier version of {' and '.join(changed)} in {options.out_dir}; "
            f"to fine-tune on the new data, pass a new out folder or delete {path} (job {job_id} is not affected)."
        )
    differs = [
        name
        for name, now in (("base model", options.base_model), ("hyperparameters", options.hyperparameters),
                          ("suffix", options.suffix), ("seed", options.seed))
        if state.get(name.replace(" ", "_")) != now
    ]
    say(f"resuming: job {job_id} already exists for this dataset; following it")
    if differs:
        say(f"note: the {', '.join(differs)} given now differ from job {job_id}'s and are not applied (delete {path} to launch another job)")
    return job_id


def launch(options: FinetuneOptions, say: FollowEvents) -> JobOutcome | None:
    """Check, upload, create, follow. A dry run says the plan and returns None without sending anything."""
    pre = preflight(options)
    if options.dry_run:
        for line in describe_plan(pre, options).splitlines():
            say(line)
        return None
    out = options.out_dir
    state = _read_state(out)
    if state.get("job_id"):
        job_id = _resumable_job(state, pre, options, say)
        with _Service(options, say) as service:
            return _follow(service, job_id, launched_here=True)
    with _Service(options, say) as service:
        train_id = _ensure_uploaded(service, state, pre.train)
        valid_id = _ensure_uploaded(service, state, pre.valid) if pre.valid else None
        job_id = _create_job(service, state, pre, train_id, valid_id)
        say(f"following job {job_id} (Ctrl-C stops following, not the job)")
        return _follow(service, job_id, launched_here=True)


# ---------------------------------------------------------------- following


def follow(job_id: str, options: FinetuneOptions, say: FollowEvents) -> JobOutcome:
    """Say the job's status changes and events until it succeeds, fails or is cancelled."""
    if not job_id.strip():
        raise ConfigError("give the id of a fine-tuning job to follow (such as ftjob-abc123).")
    check_options(options)
    with _Service(options, say) as service:
        return _follow(service, job_id.strip(), launched_here=False)


def cancel(job_id: str, options: FinetuneOptions, say: FollowEvents) -> JobOutcome:
    """Ask the service to cancel a job; the outcome is the job as the service then reports it."""
    check_options(options)
    with _Service(options, say) as service:
        with service.explained(f"cancelling job {job_id}", not_found=f"there is no fine-tuning job {job_id}"):
            job = service.call(service.client.fine_tuning.jobs.cancel, job_id)
        say(_status_line(job_id, job))
        return _outcome(job, None, options.api_key)


@dataclass
class _Losses:
    train: float | None = None
    valid: float | None = None


def _float(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _metrics(event: Any) -> tuple[str, float | None, float | None] | None:
    """(step text, training loss, validation loss) of a metrics event, from its data or its message."""
    data = getattr(event, "data", None)
    message = str(getattr(event, "message", "") or "")
    if isinstance(data, Mapping) and "train_loss" in data:
        train = _float(data.get("train_loss"))
        valid = _float(data.get("valid_loss", data.get("full_valid_loss")))
        step = data.get("step")
        total = data.get("total_steps")
        where = f"step {step}/{total}" if step is not None and total else f"step {step}" if step is not None else "metrics"
        return where, train, valid
    train_match = _TRAIN_LOSS.search(message)
    if train_match is None:
        return None
    valid_match = _VALID_LOSS.search(message)
    step_match = _STEP.search(message)
    where = f"step {step_match.group(1)}/{step_match.group(2)}" if step_match else "metrics"
    return where, _float(train_match.group(1)), _float(valid_match.group(1)) if valid_match else None


def _event_line(event: Any, losses: _Losses) -> str:
    metrics = _metrics(event)
    if metrics is not None:
        where, train, valid = metrics
        losses.train = train if train is not None else losses.train
        losses.valid = valid if valid is not None else losses.valid
        parts = [f"training loss {train:.4f}" if train is not None else None, f"validation loss {valid:.4f}" if valid is not None else None]
        return f"{where}: " + ", ".join(p for p in parts if p)
    message = str(getattr(event, "message", "") or "").strip()
    level = getattr(event, "level", "info")
    return message if level in (None, "info") else f"{level}: {message}"


def _new_events(service: _Service, job_id: str, seen: set[str]) -> list[Any]:
    """Events not said yet, oldest first. The API lists newest first; ``after`` pages towards older ones."""
    fresh: list[Any] = []
    after: str | None = None
    for _ in range(MAX_EVENT_PAGES):
        kwargs: dict[str, Any] = {"limit": EVENTS_PER_PAGE}
        if after is not None:
            kwargs["after"] = after
        page = service.call(service.client.fine_tuning.jobs.list_events, job_id, **kwargs)
        data = list(page.data or [])
        reached_seen = False
        for event in data:
            if event.id in seen:
                reached_seen = True
                break
            fresh.append(event)
        if reached_seen or not data or not getattr(page, "has_more", False):
            break
        after = data[-1].id
    fresh.reverse()
    seen.update(event.id for event in fresh)
    return fresh


def _status_line(job_id: str, job: Any) -> str:
    status = str(job.status)
    if status not in KNOWN_STATUSES:
        return f"job {job_id}: {status} (a status qagen does not know; still following)"
    line = f"job {job_id}: {status.replace('_', ' ')}"
    finish = getattr(job, "estimated_finish", None)
    if status == "running" and finish:
        line += f" (estimated finish {time.strftime('%Y-%m-%d %H:%M', time.localtime(finish))})"
    return line


def _outcome(job: Any, losses: _Losses | None, secret: str | None) -> JobOutcome:
    error = None
    if job.status == "failed":
        detail = getattr(job, "error", None)
        code = getattr(detail, "code", None)
        message = getattr(detail, "message", None)
        error = ": ".join(str(part) for part in (code, message) if part) or "the service gave no reason"
        error = redact(error, secret)
    return JobOutcome(
        job_id=job.id,
        status=str(job.status),
        fine_tuned_model=getattr(job, "fine_tuned_model", None),
        error=error,
        trained_tokens=getattr(job, "trained_tokens", None),
        train_loss=losses.train if losses else None,
        valid_loss=losses.valid if losses else None,
    )


def _sample_request(out: Path, model: str) -> tuple[str, dict]:
    """(path, body) of a request asking the fine-tuned model the first question of the dataset."""
    for name in (VALID_FILE, TRAIN_FILE):
        try:
            with open(out / name, encoding="utf-8") as handle:
                example = json.loads(handle.readline())
        except (OSError, ValueError):
            continue
        if isinstance(example, dict) and isinstance(example.get("messages"), list):
            # The same system message as in training, and the question without its answer.
            asked = [m for m in example["messages"] if isinstance(m, dict) and m.get("role") in ("system", "user")]
            if asked:
                return "/chat/completions", {"model": model, "messages": asked}
        if isinstance(example, dict) and isinstance(example.get("prompt"), str):
            return "/completions", {"model": model, "prompt": example["prompt"], "max_tokens": 200}
    return "/chat/completions", {"model": model, "messages": [{"role": "user", "content": "What do the documents cover?"}]}


def try_it_command(model: str, options: FinetuneOptions) -> str:
    """A ready-to-paste command that asks the fine-tuned model a question from the dataset."""
    path, body = _sample_request(options.out_dir, model)
    url = _endpoint(options) + path
    return (
        f"curl {shlex.quote(url)} -H \"Authorization: Bearer $OPENAI_API_KEY\" -H 'Content-Type: application/json' "
        f"-d {shlex.quote(json.dumps(body, ensure_ascii=False))}"
    )


def _record_outcome(out: Path, outcome: JobOutcome) -> None:
    try:
        state = _read_state(out)
    except FinetuneError:
        return  # a damaged state file is reported by the next launch; the outcome is said anyway
    if state.get("job_id") != outcome.job_id:
        return
    state.update(status=outcome.status, fine_tuned_model=outcome.fine_tuned_model, error=outcome.error)
    _write_state(out, state)


def _outcome_lines(outcome: JobOutcome, service: _Service, launched_here: bool) -> list[str]:
    options = service.options
    if outcome.status == "succeeded":
        facts = [f"fine-tuned model {outcome.fine_tuned_model}"]
        if outcome.trained_tokens:
            facts.append(f"{outcome.trained_tokens:,} trained tokens")
        if outcome.train_loss is not None:
            last = f"last training loss {outcome.train_loss:.4f}"
            if outcome.valid_loss is not None:
                last += f", validation loss {outcome.valid_loss:.4f}"
            facts.append(last)
        lines = [f"job {outcome.job_id} succeeded: " + "; ".join(facts)]
        if outcome.fine_tuned_model:
            lines.append("try it: " + try_it_command(outcome.fine_tuned_model, options))
            if launched_here:
                endpoint = f" --base-url {options.base_url}" if options.base_url else ""
                lines.append(f"evaluate it: qagen eval {options.out_dir} --model {outcome.fine_tuned_model}{endpoint}")
            if options.base_url and "azure" in options.base_url:
                lines.append("on Azure OpenAI, deploy the fine-tuned model first and use the deployment name as the model")
        return lines
    restart = f"; to launch a new job, delete {state_path(options.out_dir)} and run qagen finetune again" if launched_here else ""
    if outcome.status == "failed":
        return [f"job {outcome.job_id} failed: {outcome.error}{restart}"]
    return [f"job {outcome.job_id} was {outcome.status}{restart}"]


def _follow(service: _Service, job_id: str, *, launched_here: bool) -> JobOutcome:
    options, say = service.options, service.say
    seen: set[str] = set()
    losses = _Losses()
    last_status: str | None = None
    later = f"the job keeps running: follow it again with: qagen follow {job_id}"
    while True:
        with service.explained(f"following job {job_id}", not_found=f"there is no fine-tuning job {job_id}", later=later):
            job = service.call(service.client.fine_tuning.jobs.retrieve, job_id)
            if job.status != last_status:
                say(_status_line(job_id, job))
                last_status = job.status
            for event in _new_events(service, job_id, seen):
                say(_event_line(event, losses))
        if job.status in TERMINAL_STATUSES:
            break
        time.sleep(options.poll_interval)
    outcome = _outcome(job, losses, options.api_key)
    _record_outcome(options.out_dir, outcome)
    for line in _outcome_lines(outcome, service, launched_here):
        say(line)
    return outcome
