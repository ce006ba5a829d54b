"""Keeping secrets out of every message qagen shows or writes.

A server may echo the API key in an error body: whole, without its ``sk-`` prefix, or only
its last characters. ``redact`` masks every piece of a known secret that is
``MIN_PIECE`` characters or longer, wherever it sits in the text, and anything shaped like
an OpenAI key. It is applied where a server message or an exception's text enters qagen
(the client's and the fine-tuning service's errors, the asker's failure records) and
again at the CLI's error boundary.

The client and the fine-tuning service register the key they are given, so that places
that never hold the key (the CLI's error boundary, the lines it prints) mask it too: the
key is then not passed down to every function that might print, just to be hidden.
"""

from __future__ import annotations

import re
import threading

MASK = "***"
MIN_PIECE = 8  # shorter pieces of a key are common text ("sk-proj-") and say little about the key
MIN_SECRET = 4  # a shorter "key" (a local server's placeholder) is no secret, and masking it would garble text

_OPENAI_KEY = re.compile(r"\b(sk-[A-Za-z0-9*_\-]{3})[A-Za-z0-9*_\-]{6,}")
_known: set[str] = set()
_lock = threading.Lock()


def register_secret(secret: str | None) -> None:
    """Mask ``secret`` in everything ``redact`` sees from now on, in this process."""
    if secret and len(secret) >= MIN_SECRET:
        with _lock:
            _known.add(secret)


def redact(text: str, secret: str | None = None) -> str:
    """``text`` with ``secret``, every registered secret and anything shaped like an OpenAI key masked."""
    with _lock:
        secrets = set(_known)
    if secret and len(secret) >= MIN_SECRET:
        secrets.add(secret)
    for known in sorted(secrets, key=len, reverse=True):
        text = _mask_pieces(text, known)
    return _OPENAI_KEY.sub(rf"\1{MASK}", text)


def _mask_pieces(text: str, secret: str) -> str:
    """Mask every run of ``text`` made of pieces of ``secret`` at least MIN_PIECE long (all of it when shorter)."""
    if len(secret) < MIN_PIECE:
        return text.replace(secret, MASK)
    if len(text) < MIN_PIECE:
        return text
    pieces = {secret[i:i + MIN_PIECE] for i in range(len(secret) - MIN_PIECE + 1)}
    covered = [False] * len(text)
    for start in range(len(text) - MIN_PIECE + 1):
        if text[start:start + MIN_PIECE] in pieces:
            covered[start:start + MIN_PIECE] = [True] * MIN_PIECE
    if not any(covered):
        return text
    out: list[str] = []
    for index, char in enumerate(text):
        if not covered[index]:
            out.append(char)
        elif index == 0 or not covered[index - 1]:
            out.append(MASK)
    return "".join(out)
