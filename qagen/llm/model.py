"""The model behind one async method: all the pipeline knows about a model.

``OpenAIChatModel`` (``qagen.llm.client``) and ``OfflineModel`` (``qagen.llm.offline``) ship;
a library user may pass any object with this shape to ``qagen.generate(model=...)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from qagen.records import Completion, Request


@runtime_checkable
class ChatModel(Protocol):
    name: str  # shown in the report and the summary

    async def complete(self, request: Request) -> Completion:
        """The reply to one request; raise to fail it (qagen's own client retries what is worth retrying)."""
        ...

    async def aclose(self) -> None:
        """Release connections; called once at the end of a run qagen made the model for."""
        ...


RetryListener = Callable[[str, float], None]  # (what went wrong, seconds until the next attempt)
