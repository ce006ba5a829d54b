"""The content-hash keys that name model requests (and "I don't know" pairs) in a run's journal.

A request is keyed by what it asks: ``request_key(kind, *parts)`` is ``kind``, a dash and
the first 16 hex digits of the sha256 of the UTF-8 parts joined by NUL. ``message_parts``
gives the parts of a chat request's messages (role, \\x01, content). Asking the same thing
again gives the same key, so a rerun replays the journal instead of paying for the answer
again; that is also why the recipe must never change: every key in an existing out
folder's journal was made with it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from qagen.records import Message


def message_parts(messages: Iterable[Message]) -> list[str]:
    """The parts of ``request_key`` for chat messages, one per message."""
    return [f"{message.role}\x01{message.content}" for message in messages]


def request_key(kind: str, *parts: str) -> str:
    """``kind``-<16 hex digits of sha256 over the NUL-joined parts>, e.g. ``idk-c74f390b82be20b5``."""
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()
    return f"{kind}-{digest[:16]}"
