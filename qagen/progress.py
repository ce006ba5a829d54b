"""Progress reporting through an injectable reporter: the library never prints.

``Reporter`` does nothing; the CLI passes its ``TerminalProgress`` (``qagen.cli.progress``),
which draws one status line on stderr when stderr is a terminal. ``terminal_safe`` is what
every line the CLI prints goes through, so a file name cannot act on the terminal.
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


# Control characters (C0, DEL, C1), where ESC, BEL and CSI start the sequences that recolour,
# retitle or clear a terminal, and the bidirectional overrides that reorder what is shown.
_CONTROLS = [*range(0x20), *range(0x7F, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_ESCAPES = {code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" for code in _CONTROLS}
_ESCAPES.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})
_ESCAPES_BUT_NEWLINES = {code: shown for code, shown in _ESCAPES.items() if code != ord("\n")}


def terminal_safe(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` as it may be printed to a terminal: control characters shown as escapes (``\\x1b``).

    File names (and anything else from outside) can hold escape sequences; printed raw they would
    act on the terminal instead of being read. ``keep_newlines`` keeps the line breaks of a
    multi-line text; a line that is composed with a name in it should be passed on its own.
    """
    return text.translate(_ESCAPES_BUT_NEWLINES if keep_newlines else _ESCAPES)
