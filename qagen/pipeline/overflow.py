"""A chunk whose prompt is over the model's context window is that chunk's problem, not the run's.

Before sending, a chunk too long for a known window (``--max-context``, or the model's entry in
``qagen.llm.context``) is cut in halves by the chunker's own rules, again and again, until its
prompt leaves the reply room. A chunk the server refuses as over its window (``context_too_long``)
is cut the same way and its pieces are asked instead. A piece that cannot be cut further (below
``2 * MIN_PIECE_TOKENS``) and still does not fit is rejected with that reason; the run goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from qagen.documents.chunking import split_chunk
from qagen.documents.tokens import TokenCounter
from qagen.llm.context import context_window_for, cuts_reply_short, leaves_no_room
from qagen.records import Chunk, Request
from qagen.settings import Settings

# The smallest --chunk-size: a piece this small that still does not fit says the template and its
# max_tokens leave no room, which no further cut can mend.
MIN_PIECE_TOKENS = 50

# Request key prefixes (qagen.llm.keys.request_key) as a warning names them; a chunk id has none.
_KINDS = {"idk": "I-don't-know", "idk-check": "I-don't-know check", "judge": "judge"}


def context_window(settings: Settings) -> int | None:
    """The window prompts are fitted to: --max-context, else the model's known one, else none."""
    if settings.offline:
        return None
    return settings.max_context or context_window_for(settings.model)


def halves(chunk: Chunk, counter: TokenCounter, overlap: int) -> list[Chunk]:
    """``chunk`` cut at half its size (no pieces when it is too small to cut or would not come apart)."""
    if chunk.tokens < 2 * MIN_PIECE_TOKENS:
        return []
    size = max(MIN_PIECE_TOKENS, (chunk.tokens + 1) // 2)
    pieces = split_chunk(chunk, counter, chunk_tokens=size, overlap_tokens=min(overlap, size // 10))
    return pieces if len(pieces) > 1 else []


def fit_to_window(
    chunks: list[Chunk], build: Callable[[Chunk], Request], window: int, counter: TokenCounter, overlap: int
) -> tuple[list[Chunk], int]:
    """The chunks with each one too long for ``window`` replaced by its pieces, and how many cuts that took."""
    cuts = 0

    def fit(chunk: Chunk) -> list[Chunk]:
        nonlocal cuts
        if not leaves_no_room(build(chunk), window, counter):
            return [chunk]
        pieces = halves(chunk, counter, overlap)
        if not pieces:
            return [chunk]  # sent as it is: the count is an estimate, and the server's refusal is handled too
        cuts += 1
        return [fitted for piece in pieces for fitted in fit(piece)]

    return [fitted for chunk in chunks for fitted in fit(chunk)], cuts


def short_reply_warning(requests: list[Request], window: int, counter: TokenCounter, where: str) -> str | None:
    """A sentence when some prompts and their max_tokens do not fit ``window`` together; else None."""
    over = [r for r in requests if cuts_reply_short(r, window, counter)]
    if not over:
        return None
    return (
        f"{len(over)} of {len(requests)} {where} prompts and the template's max_tokens "
        f"({over[0].params.get('max_tokens') or over[0].params.get('max_completion_tokens')}) are over the context "
        f"window of {window} tokens (--max-context): their replies may be cut short, or the endpoint may refuse them"
    )


def window_warner(window: int, counter: TokenCounter, warn: Callable[[str], None]) -> Callable[[Sequence[Request]], None]:
    """A check of every batch of requests before it is sent: a sentence for those whose prompt leaves the reply
    no room in ``window`` (the I-don't-know and judge requests; generation chunks are cut to fit before)."""

    def check(requests: Sequence[Request]) -> None:
        over = [r for r in requests if leaves_no_room(r, window, counter)]
        if not over:
            return
        kinds = sorted({_KINDS.get(r.key.rsplit("-", 1)[0], "generation") for r in over})
        warn(
            f"{len(over)} {' and '.join(kinds)} prompts leave the reply too little room in the context window of "
            f"{window} tokens (--max-context); they are sent, and one the endpoint refuses is rejected as context_too_long"
        )

    return check
