"""Launching and following a fine-tuning job on an OpenAI-compatible jobs API.

``launch`` checks the dataset of a qagen out folder, uploads ``train.jsonl`` and
``valid.jsonl``, creates the job and follows it to a terminal status; ``follow`` follows
any job by id. The same jobs API is served by OpenAI and Azure OpenAI (``--base-url``).

Resumable: every step is recorded in ``OUT_DIR/.qagen/finetune.json`` before the next one
starts (file ids with the sha256 of the bytes they were uploaded from, then the job id),
so a rerun never uploads the same bytes twice nor creates a second job; it resumes
following instead. A lock on the out folder (``qagen.outfolder.lock``) keeps a second launch
from doing the same steps at the same time. Retries follow qagen's one policy (the SDK's own are off): bounded
attempts, exponential backoff with jitter, the server's ``Retry-After`` honoured. Errors
no retry can fix become one sentence, among them the refusal to create a job that OpenAI
now gives many organisations as it winds down self-serve fine-tuning.

The client is the SDK's synchronous one: following is one request every few seconds, and
Ctrl-C (KeyboardInterrupt) then reaches the caller directly; the job keeps running.

The parts live in their own modules, and the names callers import from here stay importable:
``qagen.finetune_options`` (options, flags, errors), ``qagen.finetune_plan`` (preflight and
the dry-run plan), ``qagen.finetune_state`` (the state file) and ``qagen.finetune_service``
(client, retries, uploads, job creation). This module launches, follows and cancels: it reads
the job's events and losses and says the outcome.
"""

from __future__ import annotations

import contextlib
import json
import re
import shlex
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ContextManager

from qagen.errors import ConfigError
from qagen.finetune.errors import FinetuneError
from qagen.finetune.preflight import TRAIN_FILE, VALID_FILE, Preflight, check_format_fits, describe_plan, preflight
from qagen.finetune.service import FinetuneService, FollowEvents, create_job, ensure_uploaded
from qagen.finetune.state import read_state, state_path, write_state
from qagen.redaction import redact
from qagen.outfolder.lock import FolderLock
from qagen.settings import FinetuneSettings

TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled", "canceled"})
# The statuses a job leaves by itself. Any other one (paused, expired, one added later) may
# never change without someone acting, so following stops there instead of waiting forever.
MOVING_STATUSES = ("validating_files", "queued", "running")
EVENTS_PER_PAGE = 100
MAX_EVENT_PAGES = 50  # following an old job: its most recent 5,000 events are enough history

_TRAIN_LOSS = re.compile(r"training loss\s*[=:]\s*([-+\d.eE]+|nan)", re.IGNORECASE)
_VALID_LOSS = re.compile(r"validation loss\s*[=:]\s*([-+\d.eE]+|nan)", re.IGNORECASE)
_STEP = re.compile(r"step\s+(\d+)\s*/\s*(\d+)", re.IGNORECASE)


# ---------------------------------------------------------------- outcome


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

    @property
    def ended(self) -> bool:
        """False when following stopped at a status the job may stay in (paused, expired, unknown)."""
        return self.status in TERMINAL_STATUSES


# ---------------------------------------------------------------- launching


def _resumable_job(state: dict, pre: Preflight, options: FinetuneSettings, say: FollowEvents) -> str:
    """The saved job id, when that job was made from the same data at the same service; else a refusal."""
    job_id, path = state["job_id"], state_path(options.out_dir)
    endpoint = options.jobs_endpoint
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


def launch(options: FinetuneSettings, say: FollowEvents) -> JobOutcome | None:
    """Check, upload, create, follow. A dry run says the plan and returns None without sending anything."""
    with contextlib.ExitStack() as open_service:
        # From checking the dataset to saving the job's id in the state, this is the only launch in the
        # folder and no generation run is rewriting the dataset; following needs no lock.
        with _launch_lock(options):
            pre = preflight(options)
            if options.dry_run:
                for line in describe_plan(pre, options).splitlines():
                    say(line)
                return None
            service = open_service.enter_context(FinetuneService(options, say))
            state = read_state(options.out_dir)
            if state.get("job_id"):
                job_id = _resumable_job(state, pre, options, say)
            else:
                train_id = ensure_uploaded(service, state, pre.train)
                valid_id = ensure_uploaded(service, state, pre.valid) if pre.valid else None
                job_id = create_job(service, state, pre, train_id, valid_id)
                say(f"following job {job_id} (Ctrl-C stops following, not the job)")
        return _follow(service, job_id, launched_here=True)


def _launch_lock(options: FinetuneSettings) -> ContextManager[object]:
    # A dry run writes nothing; a folder that does not exist is left for preflight to refuse.
    if options.dry_run or not options.out_dir.is_dir():
        return contextlib.nullcontext()
    return FolderLock(options.out_dir)


def check_before_generating(options: FinetuneSettings, data_format: str, say: FollowEvents) -> None:
    """What a launch after a generation run needs and can be checked before it: a key, a jobs API that
    takes it, and a base model that trains on the format the run will write. Sends one listing request."""
    check_format_fits(data_format, options.base_model, f"--format {data_format} writes", again="use")
    with FinetuneService(options, say) as service:
        service.check_access()


# ---------------------------------------------------------------- following


def follow(job_id: str, options: FinetuneSettings, say: FollowEvents) -> JobOutcome:
    """Say the job's status changes and events until it succeeds, fails or is cancelled."""
    if not job_id.strip():
        raise ConfigError("give the id of a fine-tuning job to follow (such as ftjob-abc123).")
    with FinetuneService(options, say) as service:
        return _follow(service, job_id.strip(), launched_here=False)


def cancel(job_id: str, options: FinetuneSettings, say: FollowEvents) -> JobOutcome:
    """Ask the service to cancel a job; the outcome is the job as the service then reports it."""
    with FinetuneService(options, say) as service:
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


def _new_events(service: FinetuneService, job_id: str, seen: set[str]) -> list[Any]:
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


def try_it_command(model: str, options: FinetuneSettings) -> str:
    """A ready-to-paste command that asks the fine-tuned model a question from the dataset."""
    path, body = _sample_request(options.out_dir, model)
    url = options.jobs_endpoint + path
    return (
        f"curl {shlex.quote(url)} -H \"Authorization: Bearer $OPENAI_API_KEY\" -H 'Content-Type: application/json' "
        f"-d {shlex.quote(json.dumps(body, ensure_ascii=False))}"
    )


def _record_outcome(out: Path, outcome: JobOutcome) -> None:
    try:
        state = read_state(out)
    except FinetuneError:
        return  # a damaged state file is reported by the next launch; the outcome is said anyway
    if state.get("job_id") != outcome.job_id:
        return
    state.update(status=outcome.status, fine_tuned_model=outcome.fine_tuned_model, error=outcome.error)
    write_state(out, state)


def _outcome_lines(outcome: JobOutcome, service: FinetuneService, launched_here: bool) -> list[str]:
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
    if not outcome.ended:
        act = "resume it at the service" if outcome.status == "paused" else "see what it needs at the service"
        return [
            f"job {outcome.job_id} is {outcome.status}, a status it may stay in, so qagen stopped following it "
            f"(it follows only {', '.join(MOVING_STATUSES)}): {act}, then follow it again with: qagen follow {outcome.job_id}"
        ]
    restart = f"; to launch a new job, delete {state_path(options.out_dir)} and run qagen finetune again" if launched_here else ""
    if outcome.status == "failed":
        return [f"job {outcome.job_id} failed: {outcome.error}{restart}"]
    return [f"job {outcome.job_id} was {outcome.status}{restart}"]


def _follow(service: FinetuneService, job_id: str, *, launched_here: bool) -> JobOutcome:
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
        if job.status not in MOVING_STATUSES:
            break
        time.sleep(options.poll_interval)
    outcome = _outcome(job, losses, options.api_key)
    _record_outcome(options.out_dir, outcome)
    for line in _outcome_lines(outcome, service, launched_here):
        say(line)
    return outcome
