"""The asker's sending step as Batch API jobs: upload, create, follow, read back, retry.

``BatchSender`` has the signature of ``qagen.llm.asker.ask_all``, so the stages do not know how their
requests travel. For the pending requests of a step it

1. answers what the call cache holds (those are not put in a file),
2. follows the batches ``.qagen/batches.json`` names for any of them (a rerun after a kill),
3. writes the rest as input files split at the service's limits, and for each one uploads it
   (``purpose="batch"``) and creates its batch (24 h window), saving each id the moment it exists,
4. follows each batch to its end and reads its output and error files back by ``custom_id``: every
   answer goes through the same ``on_answer`` as an online answer (the journal, then the stage),
5. sends the lines that failed in a way worth retrying (429, 5xx, expired, cancelled, missing) in a
   follow-up batch, up to ``rounds`` batches in all, then online with ``retry_online``, or reports
   them failed (a rerun asks them again).

A line refused as no retry can fix (a wrong key, an unknown model, a bad request) stops the run with
one sentence, as it would online; a prompt over the context window fails just that request, so the
generation stage splits its chunk and asks the halves (in another batch).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import openai

from qagen.errors import ModelError
from qagen.llm.asker import Failure, ask_all
from qagen.llm.batch.follower import follow
from qagen.llm.batch.requestfile import CHAT_URL, MAX_BYTES, MAX_LINES, split_requests
from qagen.llm.batch.results import (
    LineOutcome,
    MalformedOutput,
    fatal_error,
    read_outcomes,
)
from qagen.llm.batch.state import BatchState, Part
from qagen.llm.cache import CachedModel
from qagen.llm.client import Clock
from qagen.llm.failures import server_message
from qagen.llm.model import ChatModel
from qagen.records import Completion, Request
from qagen.redaction import redact

COMPLETION_WINDOW: Literal["24h"] = "24h"
ROUNDS = 3  # batches a request may go in: the first and two follow-ups


@dataclass
class BatchCounts:
    """For the report: requests put in a batch, answered by one, sent again, and failed in the end."""

    batched: int = 0
    answered: int = 0
    retried: int = 0
    failed: int = 0
    batches: int = 0
    cache_hits: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"batches": self.batches, "batched": self.batched, "answered": self.answered,
                "retried": self.retried, "failed": self.failed}


class BatchSender:
    def __init__(
        self,
        client: openai.AsyncOpenAI,
        body_of: Callable[[Request], dict[str, Any]],
        state: BatchState,
        *,
        model_name: str,
        where: str,
        note: Callable[[str], None],
        warn: Callable[[str], None],
        cache: CachedModel | None = None,
        retry_online: bool = False,
        clock: Clock | None = None,
        first_wait: float = 1.0,
        max_lines: int = MAX_LINES,
        max_bytes: int = MAX_BYTES,
        rounds: int = ROUNDS,
    ) -> None:
        self._client = client
        self._body_of = body_of
        self._state = state
        self._model_name = model_name
        self._where = where
        self._note = note  # progress
        self._warn = warn  # what the report keeps too
        self._cache = cache
        self._retry_online = retry_online
        self._clock = clock or Clock()
        self._first_wait = first_wait
        self._max_lines, self._max_bytes = max_lines, max_bytes
        self._rounds = max(1, rounds)
        self.counts = BatchCounts()

    async def aclose(self) -> None:
        await self._client.close()

    async def __call__(
        self, requests: Sequence[Request], model: ChatModel, *, concurrency: int,
        on_answer: Callable[[Request, Completion], None],
        on_failure: Callable[[Request, str], None] = lambda request, reason: None,
        stop_if_first_fails: bool = False,
        probe_first: bool = True,  # a batch goes whole: there is no request to send alone first
    ) -> list[Failure]:
        todo: dict[str, Request] = {}
        for request in requests:
            cached = self._cache.lookup(request) if self._cache is not None else None
            if cached is not None:
                self.counts.cache_hits += 1
                on_answer(request, cached)
            else:
                todo[request.key] = request
        failures: list[Failure] = []
        round_ = 1
        while todo:
            parts = self._state.open_parts(set(todo))
            covered = {key for part in parts for key in part.keys}
            round_ = max([round_, *(part.round for part in parts)])
            new = [request for key, request in todo.items() if key not in covered]
            if round_ == 1:
                self.counts.batched += len(todo)  # new, or in a batch an earlier run submitted
            if new:
                parts += await self._upload(new, round_)
            labels = [f" (file {index} of {len(parts)})" if len(parts) > 1 else "" for index in range(1, len(parts) + 1)]
            for part, label in zip(parts, labels):  # every batch of the step runs on the service at once
                await self._create(part, label)
            retry: dict[str, tuple[Request, LineOutcome]] = {}
            fatal: LineOutcome | None = None
            for part, label in zip(parts, labels):
                outcomes = await self._follow(part, label)
                for key in part.keys:
                    if key not in todo:
                        continue  # answered by an earlier run, or another step's
                    outcome = outcomes.get(key)
                    if outcome is None:
                        outcome = LineOutcome(key, reason="not answered", detail="the batch's output has no line for it", retry=True)
                    if outcome.fatal is not None:
                        fatal = fatal or outcome
                        continue
                    request = todo[key]
                    if outcome.completion is not None:
                        on_answer(request, outcome.completion)
                        if self._cache is not None:
                            self._cache.store(request, outcome.completion)
                        self.counts.answered += 1
                    elif outcome.retry:
                        retry[key] = (request, outcome)
                    else:
                        failures.append(Failure(key, outcome.reason, outcome.detail, rerun_helps=False))
                        on_failure(request, outcome.reason)
                        self.counts.failed += 1
                # Read even when a line was refused: a rerun with the fault fixed must submit again, not read the refusal.
                self._state.finished(part)
                if fatal is not None:
                    raise fatal_error(fatal)
            todo = {key: request for key, (request, _) in retry.items()}
            if not todo:
                break
            if round_ < self._rounds:
                self._warn(f"{len(todo)} requests got no answer in the batch; sending them again in a follow-up batch")
                self.counts.retried += len(todo)
                round_ += 1
                continue
            failures += await self._give_up(retry, model, concurrency, on_answer, on_failure)
            break
        order = {r.key: i for i, r in enumerate(requests)}
        return sorted(failures, key=lambda f: order[f.key])

    async def _give_up(
        self, retry: dict[str, tuple[Request, LineOutcome]], model: ChatModel, concurrency: int,
        on_answer: Callable[[Request, Completion], None], on_failure: Callable[[Request, str], None],
    ) -> list[Failure]:
        """The lines every batch failed: online with ``retry_online``, else failures a rerun asks again."""
        if self._retry_online:
            self._warn(f"{len(retry)} requests got no answer in {self._rounds} batches; asking them online")
            self.counts.retried += len(retry)

            def answered(request: Request, completion: Completion) -> None:
                on_answer(request, completion)
                self.counts.answered += 1

            failures = await ask_all([request for request, _ in retry.values()], model, concurrency=concurrency,
                                     on_answer=answered, on_failure=on_failure)
            self.counts.failed += len(failures)
            return failures
        failures = []
        for key, (request, outcome) in retry.items():
            failures.append(Failure(key, outcome.reason, outcome.detail))
            on_failure(request, outcome.reason)
        self.counts.failed += len(failures)
        return failures

    async def _upload(self, requests: list[Request], round_: int) -> list[Part]:
        files = split_requests(requests, self._body_of, max_lines=self._max_lines, max_bytes=self._max_bytes)
        parts = []
        for index, file in enumerate(files, 1):
            name = f"qagen-batch-{round_}-{index}-of-{len(files)}.jsonl"
            uploaded = await self._service(
                f"uploading the batch file {name}",
                self._client.files.create(file=(name, file.text.encode("utf-8"), "application/jsonl"), purpose="batch"))
            parts.append(self._state.uploaded(list(file.keys), uploaded.id, round_))
        return parts

    async def _create(self, part: Part, label: str) -> None:
        """The part's batch, unless an earlier run created it; its id saved before anything else."""
        if part.batch_id is not None:
            self._note(f"batch {part.batch_id}{label}: following the batch an earlier run submitted")
            return
        batch = await self._service(
            f"creating a batch of file {part.file_id}",
            self._client.batches.create(input_file_id=part.file_id, endpoint=CHAT_URL, completion_window=COMPLETION_WINDOW))
        self._state.created(part, batch.id)
        self.counts.batches += 1
        self._note(f"batch {batch.id}{label}: submitted, {len(part.keys)} requests")

    async def _follow(self, part: Part, label: str) -> dict[str, LineOutcome]:
        """The part's batch followed to its end; its lines by key."""
        assert part.batch_id is not None
        batch = await follow(self._client, part.batch_id, clock=self._clock, first_wait=self._first_wait,
                             note=self._note, label=label)
        if batch.status != "completed":
            errors = getattr(getattr(batch, "errors", None), "data", None) or []
            said = "; ".join(redact(str(getattr(e, "message", "") or "")) for e in errors[:3] if getattr(e, "message", None))
            self._warn(f"batch {batch.id} ended {batch.status}{': ' + said if said else ''}; "
                       "the requests it did not answer are sent again")
        outcomes: dict[str, LineOutcome] = {}
        for file_id in (batch.error_file_id, batch.output_file_id):  # output last: its answer wins over an error line
            if not file_id:
                continue
            content = await self._service(f"downloading file {file_id} of batch {batch.id}", self._client.files.content(file_id))
            try:
                text = content.content.decode("utf-8")
            except UnicodeDecodeError:
                raise MalformedOutput(f"file {file_id} of batch {batch.id} is not UTF-8 text.") from None
            for outcome in read_outcomes(text, model=self._model_name, where=self._where, name=f"file {file_id}"):
                outcomes[outcome.key] = outcome
        return outcomes

    async def _service(self, doing: str, call: Any) -> Any:
        """A files or batches call; its refusal as one sentence."""
        try:
            return await call
        except openai.APIStatusError as exc:
            said = server_message(exc, None)
            if exc.status_code == 401:
                raise ModelError(f"{self._where} rejected the API key (401) while {doing}: check OPENAI_API_KEY. Server said: {said}.") from None
            if exc.status_code == 404:
                raise ModelError(f"{self._where} has no Batch API (404 while {doing}): run without --batch, or use "
                                 f"--batch-export for a batch engine. Server said: {said}.") from None
            raise ModelError(f"{self._where} refused {doing} ({exc.status_code}): {said}; "
                             "run the same command again to continue.") from None
        except openai.APIConnectionError as exc:
            raise ModelError(f"{self._where} could not be reached while {doing} ({redact(str(exc))[:200]}); "
                             "run the same command again to continue (nothing is submitted twice).") from None


def batch_client(*, base_url: str | None, api_key: str | None, timeout: float, max_attempts: int) -> openai.AsyncOpenAI:
    """The SDK client for the files and batches calls: its own retries (429, 5xx, dropped connections) are enough there."""
    from qagen.llm.client import NO_KEY

    return openai.AsyncOpenAI(api_key=api_key or NO_KEY, base_url=base_url, timeout=timeout, max_retries=max(0, max_attempts - 1))
