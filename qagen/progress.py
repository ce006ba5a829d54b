"""Progress reporting through an injectable reporter: the library never prints.

``Reporter`` does nothing; the CLI passes its ``TerminalProgress`` (``qagen.cli.progress``),
which draws one status line on stderr when stderr is a terminal.
"""

from __future__ import annotations


class Reporter:
    """Receives progress events. Every method is optional to override."""

    def note(self, message: str) -> None:
        """A one-line notice for the user (offline mode, fallback decodings, ...)."""

    def start(self, total: int, already_done: int) -> None:
        """Generation starts: ``total`` chunks, ``already_done`` of them answered by an earlier run."""

    def chunk_done(self, pairs: int, tokens_in: int, tokens_out: int) -> None:
        """One chunk answered."""

    def chunk_failed(self, chunk_id: str, reason: str) -> None:
        """One chunk gave up after every retry."""

    def retry(self, reason: str, wait: float) -> None:
        """A request will be retried after ``wait`` seconds."""

    def finish(self) -> None:
        """Generation ended (normally or not)."""
