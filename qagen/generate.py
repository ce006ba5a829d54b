"""Bounded-concurrency fan-out of requests to a model, recorded in the journal.

A fixed pool of ``concurrency`` workers takes requests in chunk order. Each answer is
appended to the journal the moment it arrives, so an interruption loses at most the
requests in flight. A request that still fails after every retry is returned as a
failure (and left out of the journal, so a rerun asks it again); an error no retry can
fix (bad key, unknown model) stops every worker at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from qagen.journal import Journal, JournalEntry
from qagen.llm import ChatModel, describe_failure, is_retryable
from qagen.parsing import parse_reply
from qagen.progress import Reporter
from qagen.records import Request


@dataclass(frozen=True)
class Failure:
    chunk_id: str
    reason: str  # e.g. "HTTP 503", "timeout"
    detail: str


async def ask_all(
    requests: Sequence[Request],
    model: ChatModel,
    journal: Journal,
    *,
    concurrency: int,
    reporter: Reporter,
) -> list[Failure]:
    queue: asyncio.Queue[Request] = asyncio.Queue()
    for request in requests:
        queue.put_nowait(request)
    failures: list[Failure] = []

    async def ask(request: Request) -> None:
        try:
            completion = await model.complete(request)
        except Exception as exc:
            if not is_retryable(exc):
                raise
            failures.append(Failure(request.chunk_id, describe_failure(exc), str(exc)[:300]))
            reporter.chunk_failed(request.chunk_id, describe_failure(exc))
            return
        journal.append(JournalEntry(request.chunk_id, completion))
        pairs = len(parse_reply(completion.text, truncated=completion.truncated).items)
        reporter.chunk_done(pairs, completion.prompt_tokens, completion.completion_tokens)

    async def worker() -> None:
        while True:
            try:
                request = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await ask(request)

    # One request alone first: a wrong key or model name then costs one request, not `concurrency`.
    if not queue.empty():
        await ask(queue.get_nowait())
    workers = [asyncio.create_task(worker()) for _ in range(min(concurrency, queue.qsize()))]
    try:
        await asyncio.gather(*workers)
    finally:
        # On a fatal error or Ctrl-C, stop the other workers; answered chunks are already journaled.
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    order = {r.chunk_id: i for i, r in enumerate(requests)}
    return sorted(failures, key=lambda f: order[f.chunk_id])

