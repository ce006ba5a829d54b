"""Following a batch on the Batch API until it ends, with a progress line.

A batch can take up to its 24 hours: it is looked at after ``first_wait`` seconds, then each wait is
half as long again as the one before, up to ``MAX_WAIT`` (30 s), so a quick batch is read quickly
and a slow one costs a request every half minute. The clock is injectable: a test moves it without
waiting. A look that fails after the SDK's retries stops the run with a sentence saying that a rerun
follows the same batch (its id is saved).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai

from qagen.errors import ModelError
from qagen.llm.client import Clock
from qagen.redaction import redact

MAX_WAIT = 30.0
GROWTH = 1.5
TERMINAL = frozenset({"completed", "expired", "failed", "cancelled"})


def progress_line(batch: Any, label: str) -> str:
    counts = getattr(batch, "request_counts", None)
    total, completed, failed_count = (getattr(counts, name, None) or 0 for name in ("total", "completed", "failed"))
    done = f", {completed} of {total} requests done" if total else ""
    failed = f", {failed_count} failed" if failed_count else ""
    return f"batch {batch.id}{label}: {batch.status}{done}{failed}"


async def follow(
    client: openai.AsyncOpenAI, batch_id: str, *, clock: Clock, first_wait: float,
    note: Callable[[str], None], label: str = "",
) -> Any:
    """The batch once it is completed, expired, failed or cancelled; ``note`` hears each change."""
    wait = first_wait
    shown = ""
    while True:
        try:
            batch = await client.batches.retrieve(batch_id)
        except (openai.APIConnectionError, openai.APIStatusError) as exc:
            raise ModelError(
                f"lost contact with the batch service while following batch {batch_id} ({redact(str(exc))[:200]}); "
                "run the same command again: it follows the same batch, nothing is submitted twice."
            ) from None
        line = progress_line(batch, label)
        if line != shown:
            note(line)
            shown = line
        if batch.status in TERMINAL:
            return batch
        await clock.sleep(wait)
        wait = min(MAX_WAIT, wait * GROWTH)
