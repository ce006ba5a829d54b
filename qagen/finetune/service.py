"""The fine-tuning service: one client, qagen's retry policy, plain errors, uploads, job creation.

``FinetuneService`` wraps the SDK's synchronous client with qagen's one retry policy (the
SDK's own retries are off): bounded attempts, exponential backoff with jitter, the server's
``Retry-After`` honoured. What no retry can fix becomes one sentence, among them the refusal
to create a job that OpenAI now gives many organisations as it winds down self-serve
fine-tuning. ``ensure_uploaded`` and ``create_job`` record each step in the state file
(``qagen.finetune.state``) before the next one, so a rerun reuses uploads and never creates
a second job. A request whose reply is lost (a timeout, a dropped connection, a crash) may
still have been carried out, so it is never simply sent again: every later attempt first
looks for what it may have made, an upload by its name (which holds the bytes' digest) and
size, a job by the launch token in its metadata (or, where a service lists no metadata, by
its files, model and suffix), through every page of the service's listing.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

import openai
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from qagen import __version__
from qagen.errors import ConfigError, ModelError, QagenError
from qagen.finetune.errors import FinetuneError, FinetuneRefused
from qagen.options import DEFAULT_BASE_MODEL
from qagen.settings import FinetuneSettings
from qagen.finetune.preflight import TRAIN_FILE, VALID_FILE, DatasetFile, Preflight
from qagen.finetune.state import write_state
from qagen.llm.client import NO_KEY, describe_failure, is_retryable, retry_wait, server_message
from qagen.redaction import redact, register_secret

FILE_PROCESSING_TIMEOUT = 30 * 60.0
MAX_FILE_POLL_SECONDS = 2.0  # files are processed in seconds, jobs take minutes: poll files faster
_GONE = ("error", "deleted", "deleting")  # file statuses that will never become "processed"
# How far the service's clock may be behind ours: listings of files and jobs are searched down
# to this long before the first attempt, never further back through an account's history.
CLOCK_SKEW = 10 * 60
LIST_PAGE_SIZE = 100  # items per page of a listing; the SDK fetches the next page as the search goes on

# How a refusal that is really "fine-tuning is closed to you" reads when it comes as a 400.
_FINETUNING = re.compile(r"fine[- ]?tun", re.IGNORECASE)
_CLOSED = re.compile(
    r"not (?:available|allowed|permitted|enabled|eligible|supported)|no longer|disabled|unavailable|"
    r"do(?:es)? not have access|cannot create|can't create|wind(?:ing)? down",
    re.IGNORECASE,
)

T = TypeVar("T")


class FollowEvents(Protocol):
    def __call__(self, line: str) -> None: ...


# ---------------------------------------------------------------- the service, with retries and plain errors


class FinetuneService:
    """One client, qagen's retry policy, and the service's errors as one sentence each."""

    def __init__(self, options: FinetuneSettings, say: FollowEvents) -> None:
        if options.base_url is None and not options.api_key:
            raise ConfigError(
                "fine-tuning on OpenAI needs OPENAI_API_KEY; set it, or pass --base-url for another "
                "OpenAI-compatible jobs API such as Azure OpenAI."
            )
        self.options = options
        register_secret(options.api_key)
        # Every line said passes here: the service's event messages and errors may echo the key.
        self.say: FollowEvents = lambda line: say(redact(line, options.api_key))
        self.where = options.base_url or "the OpenAI API"
        self.is_openai = options.base_url is None or "api.openai.com" in options.base_url
        self.client = openai.OpenAI(
            api_key=options.api_key or NO_KEY, base_url=options.base_url, timeout=options.timeout, max_retries=0
        )

    def __enter__(self) -> FinetuneService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        wait = retry_wait(exc, state.attempt_number, self.options.max_retry_wait)
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

    def check_access(self) -> None:
        """One cheap request that the jobs API is there and takes the key, before anything is spent."""
        with self.explained("checking access to the fine-tuning jobs API", not_found="there is no fine-tuning jobs API"):
            self.call(self.client.fine_tuning.jobs.list, limit=1)

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


def _uploaded_name(out: Path, checked: DatasetFile) -> str:
    # The folder's name tells the user's uploads apart in the service's file list; the digest
    # tells a stored copy of these very bytes from an older upload of the same file.
    folder = out.resolve().name
    name = f"{checked.sha256[:12]}-{checked.name}"
    return f"{folder}-{name}" if folder else name


def _recent(listing: Iterable[Any], since: float) -> Iterator[Any]:
    """The items of a newest-first listing (the SDK pages through it) created at ``since`` or later."""
    for item in listing:
        created = getattr(item, "created_at", None)
        if isinstance(created, (int, float)) and created < since:
            return
        yield item


def _stored_copy(service: FinetuneService, filename: str, size: int, since: float) -> Any | None:
    """A file an earlier attempt stored though its reply was lost (a timeout), matched by name and size."""
    try:
        for stored in _recent(service.client.files.list(purpose="fine-tune", order="desc", limit=LIST_PAGE_SIZE), since):
            if stored.filename == filename and stored.bytes == size and getattr(stored, "status", None) not in _GONE:
                return stored
    except openai.APIStatusError as exc:
        if is_retryable(exc):
            raise
        service.say(f"{service.where} does not list its files ({exc.status_code}), so an upload whose reply was lost may be stored twice")
    return None


def _wait_processed(service: FinetuneService, file_id: str, name: str) -> bool:
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
            if status in _GONE:
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


def ensure_uploaded(service: FinetuneService, state: dict, checked: DatasetFile) -> str:
    """The id of an uploaded, processed copy of ``checked``: reused when the same bytes went to the same service."""
    out, endpoint = service.options.out_dir, service.options.jobs_endpoint
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
    filename = _uploaded_name(out, checked)
    # An upload whose reply is lost (timeout, dropped connection, crash) may still have been
    # stored: saved before the first attempt, this mark makes every later attempt, in this run
    # or the next, look for the stored copy before sending the bytes again.
    uploading = state.setdefault("uploading", {})
    mark = uploading.get(checked.name) or {}
    if (mark.get("sha256"), mark.get("endpoint")) != (checked.sha256, endpoint):
        mark = uploading[checked.name] = {"sha256": checked.sha256, "endpoint": endpoint, "since": int(time.time())}
        look_first = False
    else:
        look_first = True
    write_state(out, state)
    since = mark["since"] - CLOCK_SKEW

    def upload() -> Any:
        nonlocal look_first
        if look_first:
            stored = _stored_copy(service, filename, len(data), since)
            if stored is not None:
                service.say(f"found {checked.name} at {service.where} as {stored.id}, stored by an upload whose reply was lost; not sending it again")
                return stored
        look_first = True
        return service.client.files.create(file=(filename, data), purpose="fine-tune")

    service.say(f"uploading {checked.name} ({len(data):,} bytes, {checked.examples:,} examples)")
    with service.explained(f"uploading {checked.name}"):
        uploaded = service.call(upload)
    files[checked.name] = {"file_id": uploaded.id, "sha256": checked.sha256, "endpoint": endpoint}
    del uploading[checked.name]
    write_state(out, state)
    if not _wait_processed(service, uploaded.id, checked.name):
        raise FinetuneError(f"{service.where} lost {checked.name} ({uploaded.id}) right after its upload; run the same command again.")
    return uploaded.id


def _job_created_earlier(service: FinetuneService, token: str, request: dict[str, Any], since: float) -> Any | None:
    """A job an earlier attempt created though its reply was lost (timeout, dropped connection, crash).

    Found by the launch token in its metadata; on a service that lists jobs without their
    metadata, by its model and suffix. Either way it must have been made from the same training
    and validation files (uploaded by this folder): a job from data since changed is not this one.
    """
    try:
        for job in _recent(service.client.fine_tuning.jobs.list(limit=LIST_PAGE_SIZE), since):
            metadata = getattr(job, "metadata", None) or {}
            if not _same_files(job, request):
                continue
            if metadata.get("qagen_launch") == token or (not metadata and _same_model_and_suffix(job, request)):
                return job
    except openai.APIStatusError as exc:
        if is_retryable(exc):
            raise
        service.say(f"{service.where} does not list its jobs ({exc.status_code}), so a job whose reply was lost may be created twice")
    return None


def _same_files(job: Any, request: dict[str, Any]) -> bool:
    return (getattr(job, "training_file", None), getattr(job, "validation_file", None)) == (
        request["training_file"], request.get("validation_file")
    )


def _same_model_and_suffix(job: Any, request: dict[str, Any]) -> bool:
    model = str(getattr(job, "model", "") or "")
    # A service may name the dated snapshot of the model it was asked for.
    same_model = model == request["model"] or model.startswith(request["model"] + "-")
    return same_model and getattr(job, "user_provided_suffix", None) == request.get("suffix")


def create_job(service: FinetuneService, state: dict, pre: Preflight, train_id: str, valid_id: str | None) -> str:
    options, out = service.options, service.options.out_dir
    # Saved before asking, so that a reply lost in transit (or a crash) never leads to a second job.
    token = state.setdefault("launch_token", secrets.token_hex(8))
    write_state(out, state)
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
    state["create_attempted"] = True
    state.setdefault("create_attempted_at", int(time.time()))
    write_state(out, state)
    since = state["create_attempted_at"] - CLOCK_SKEW

    def create() -> Any:
        nonlocal look_first
        if look_first:
            existing = _job_created_earlier(service, token, request, since)
            if existing is not None:
                service.say(f"found job {existing.id}, created by an attempt whose reply was lost; not creating another")
                return existing
        look_first = True
        return service.client.fine_tuning.jobs.create(**request)

    with service.explained("creating the fine-tuning job", creating=True):
        job = service.call(create)
    state.update(
        job_id=job.id,
        endpoint=options.jobs_endpoint,
        job_files={TRAIN_FILE: pre.train.sha256, VALID_FILE: pre.valid.sha256 if pre.valid else None},
        base_model=options.base_model,
        hyperparameters=options.hyperparameters,
        suffix=options.suffix,
        seed=options.seed,
        created_at=int(time.time()),
    )
    write_state(out, state)
    service.say(f"created fine-tuning job {job.id} of {options.base_model} at {service.where}")
    return job.id
