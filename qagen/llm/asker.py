"""Asking the model: bounded-concurrency fan-out, recorded in the journal.

A fixed pool of ``concurrency`` workers takes requests in order. Each answer is
appended to the journal the moment it arrives, so an interruption loses at most the
requests in flight, and a request the journal already answers is never sent again.
A request that still fails after every retry comes back as a ``Failure`` (and stays out
of the journal, so a rerun asks it again), and so does one the endpoint refuses as too
large (413), marked as one a rerun cannot help; an error no retry can fix (bad key,
unknown model) stops every worker at once. A failure's detail is redacted: it is written
to the rejects and the report. An answer that cannot be recorded (a full disk) stops
new requests, but those in flight finish, so what they cost is recorded where there is room.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from qagen.errors import ModelError, OutputError
from qagen.outfolder.journal import Journal, JournalEntry
from qagen.outfolder.lines import without_surrogates
from qagen.llm.budget import NOT_SENT
from qagen.llm.client import RequestFailed, describe_failure, failure_detail, is_retryable
from qagen.llm.model import ChatModel
from qagen.records import Completion, Request


@dataclass(frozen=True)
class Failure:
    key: str  # the request key: a chunk id, or a content hash for idk and judge requests
    reason: str  # e.g. "HTTP 503", "timeout", "request_too_large"
    detail: str  # redacted: safe to write
    rerun_helps: bool = True  # False for a request too large for the endpoint: asking again gets the same refusal


async def ask_all(
    requests: Sequence[Request],
    model: ChatModel,
    *,
    concurrency: int,
    on_answer: Callable[[Request, Completion], None],
    on_failure: Callable[[Request, str], None] = lambda request, reason: None,
    stop_if_first_fails: bool = False,
    probe_first: bool = True,
) -> list[Failure]:
    """Ask every request; failures come back in request order.

    With ``probe_first``, one request goes alone before the others: a wrong key or model name then costs
    one request, not ``concurrency``. Once the endpoint has answered in a run it is not needed again.

    With ``stop_if_first_fails``, a first request that fails after every retry raises
    ModelError: an endpoint that is down then stops a run at once instead of failing
    every request in turn. An OutputError from ``on_answer`` stops new requests; once
    those in flight are answered, the last such error is raised (it tells how things ended).
    """
    queue: asyncio.Queue[Request] = asyncio.Queue()
    for request in requests:
        queue.put_nowait(request)
    failures: list[Failure] = []
    stopped: list[OutputError] = []

    async def ask(request: Request) -> None:
        try:
            completion = await model.complete(request)
        except Exception as exc:
            # qagen's client raises RequestFailed; another ChatModel may raise what it likes.
            if not (isinstance(exc, RequestFailed) or is_retryable(exc)):
                raise
            rerun_helps = exc.rerun_helps if isinstance(exc, RequestFailed) else True
            failures.append(Failure(request.key, describe_failure(exc), failure_detail(exc), rerun_helps))
            on_failure(request, describe_failure(exc))
            return
        # A lone surrogate (a server's broken escape) could be written to no UTF-8 file.
        text = without_surrogates(completion.text)
        if text != completion.text:
            completion = dataclasses.replace(completion, text=text)
        try:
            on_answer(request, completion)
        except OutputError as exc:
            stopped.append(exc)

    async def worker() -> None:
        while not stopped:
            try:
                request = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await ask(request)

    if probe_first and not queue.empty():
        await ask(queue.get_nowait())
        if stopped:
            raise stopped[-1]
        # A first request the --max-cost cap kept back says nothing of the endpoint.
        if failures and failures[0].rerun_helps and failures[0].reason != NOT_SENT and stop_if_first_fails:
            first = failures[0]
            raise ModelError(
                f"the model endpoint did not answer after every retry ({first.reason}: {first.detail}); "
                "check that the server is running and the URL is right, then run the same command again."
            )
    workers = [asyncio.create_task(worker()) for _ in range(min(concurrency, queue.qsize()))]
    try:
        await asyncio.gather(*workers)
    finally:
        # On a fatal error or Ctrl-C, stop the other workers; answered requests are already journaled.
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    if stopped:
        raise stopped[-1]
    order = {r.key: i for i, r in enumerate(requests)}
    return sorted(failures, key=lambda f: order[f.key])


class Sender(Protocol):
    """The sending step: ``ask_all``'s signature, so a batch job can take its place."""

    async def __call__(
        self, requests: Sequence[Request], model: ChatModel, *, concurrency: int,
        on_answer: Callable[[Request, Completion], None], on_failure: Callable[[Request, str], None] = ...,
        stop_if_first_fails: bool = ..., probe_first: bool = ...,
    ) -> list[Failure]: ...


class Asker:
    """Asks a model through the journal; knows every answer of this run and the earlier ones."""

    def __init__(
        self,
        model: ChatModel,
        journal: Journal,
        answered: dict[str, JournalEntry],
        *,
        concurrency: int,
        before_send: Callable[[Sequence[Request]], None] | None = None,
        send: Sender | None = None,
    ) -> None:
        self.model = model
        self._before_send = before_send  # sees each batch of requests about to be sent (e.g. to warn of their size)
        self.answered = answered
        self.answered_now = 0  # requests answered by this run (not counting retries)
        self.failed_now = 0  # requests of this run that got no answer (each once, not counting retries), or were not sent
        self.used: set[str] = set()  # keys of every request this run needed, answered now or earlier
        self._journal = journal
        self._concurrency = concurrency
        # How pending requests travel: one at a time (ask_all), or as a batch job (qagen.llm.batch.sender).
        self._send: Sender = send or ask_all

    async def ask(
        self,
        requests: Sequence[Request],
        *,
        on_answer: Callable[[Request, Completion], None] | None = None,
        on_failure: Callable[[Request, str], None] | None = None,
        stop_if_first_fails: bool = False,
    ) -> tuple[dict[str, Completion], list[Failure]]:
        """Answers by request key (from the journal or the model), and the requests that failed.

        ``on_answer`` hears of each answer as it arrives (not of those the journal already had).
        """
        self.used.update(r.key for r in requests)
        pending = [r for r in requests if r.key not in self.answered]
        if pending and self._before_send is not None:
            self._before_send(pending)

        def answered(request: Request, completion: Completion) -> None:
            entry = JournalEntry(request.key, completion)
            self._journal.append(entry)  # OutputError when it could not be: the answer is then not kept
            self.answered[request.key] = entry
            self.answered_now += 1
            if on_answer is not None:
                on_answer(request, completion)
            self._journal.check_room()

        failures = await self._send(
            pending, self.model, concurrency=self._concurrency, on_answer=answered,
            on_failure=on_failure or (lambda request, reason: None), stop_if_first_fails=stop_if_first_fails,
            probe_first=self.answered_now == 0,  # an endpoint that answered in this run has shown key and model work
        )
        self.failed_now += len(failures)
        answers = {r.key: self.answered[r.key].completion for r in requests if r.key in self.answered}
        return answers, failures

    def tokens(self) -> tuple[int, int]:
        """Prompt and completion tokens of every answer this run used."""
        entries = [self.answered[key] for key in self.used if key in self.answered]
        return sum(e.completion.prompt_tokens for e in entries), sum(e.completion.completion_tokens for e in entries)
