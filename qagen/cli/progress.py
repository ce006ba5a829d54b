"""The terminal's progress line: chunks done of total, pairs, tokens, ETA, retries, failures.

On a terminal it is one self-overwriting line. When stderr is a file or a pipe (a CI log, a
``nohup`` run) carriage returns would make a mess, and saying nothing hides a run whose
requests keep timing out against a slow server; there ``plain_interval`` prints the figures
as plain lines: at the first retry, once per interval (at the next event) while chunks finish
or retries pile up, and once at the end when any was printed or anything was retried.
"""

from __future__ import annotations

import time
from typing import TextIO

from qagen.progress import Reporter, terminal_safe


class TerminalProgress(Reporter):
    """A single self-overwriting status line; notes are printed above it."""

    def __init__(
        self,
        stream: TextIO,
        *,
        draw_bar: bool,
        show_notes: bool = True,
        min_interval: float = 0.1,
        plain_interval: float | None = None,
    ) -> None:
        self._stream = stream
        self._draw = draw_bar
        self._plain_interval = None if draw_bar else plain_interval
        self._last_plain: float | None = None
        self._last_retry = ""
        self._show_notes = show_notes
        self._min_interval = min_interval
        self._total = self._done = self._resumed = self._pairs = 0
        self._tokens_in = self._tokens_out = self._failed = self._retries = 0
        self._started = self._last_draw = 0.0
        self._line_width = 0

    def note(self, message: str) -> None:
        if self._show_notes:
            self._clear()
            self._stream.write(terminal_safe(message) + "\n")
            self._stream.flush()

    def start(self, total: int, already_done: int) -> None:
        self._total, self._done, self._resumed = total, already_done, already_done
        self._started = time.monotonic()
        self._render(force=True)

    def chunk_done(self, pairs: int, tokens_in: int, tokens_out: int) -> None:
        self._done += 1
        self._pairs += pairs
        self._tokens_in += tokens_in
        self._tokens_out += tokens_out
        self._render()
        self._plain()

    def chunk_failed(self, chunk_id: str, reason: str) -> None:
        self._failed += 1
        self._render()
        self._plain()

    def retry(self, reason: str, wait: float) -> None:
        self._retries += 1
        self._last_retry = f"{reason}, next try in {wait:.1f} s"
        self._render()
        # The first retry is news (the endpoint is struggling): it is told at once.
        self._plain(force=self._retries == 1)

    def finish(self) -> None:
        self._render(force=True)
        if self._last_plain is not None or self._retries or self._failed:
            self._plain(force=True)
        if self._draw and self._line_width:
            self._stream.write("\n")
            self._stream.flush()
            self._line_width = 0

    def status_line(self) -> str:
        elapsed = time.monotonic() - self._started
        fresh = self._done - self._resumed
        remaining = self._total - self._done - self._failed
        eta = f"{_clock(elapsed / fresh * remaining)}" if fresh and remaining > 0 else ("--:--" if remaining > 0 else "0:00")
        width = 24
        filled = int(width * self._done / self._total) if self._total else width
        parts = [
            f"[{'#' * filled}{'.' * (width - filled)}] {self._done}/{self._total} chunks",
            f"{self._pairs} pairs",
            f"{self._tokens_in:,} tok in / {self._tokens_out:,} out",
            f"ETA {eta}",
        ]
        if self._retries:
            parts.append(f"{self._retries} retries")
        if self._failed:
            parts.append(f"{self._failed} failed")
        return "  ".join(parts)

    def plain_line(self) -> str:
        """The figures as one plain line, for a stream that is not a terminal."""
        parts = [f"qagen: {self._done}/{self._total} chunks", f"{self._pairs} pairs", f"{self._retries} retries"]
        if self._last_retry:
            parts[-1] += f" (last: {self._last_retry})"
        if self._failed:
            parts.append(f"{self._failed} failed")
        return ", ".join(parts)

    def _plain(self, force: bool = False) -> None:
        if self._plain_interval is None:
            return
        now = time.monotonic()
        since = self._started if self._last_plain is None else self._last_plain
        if not force and now - since < self._plain_interval:
            return  # a quick run with no trouble prints no line at all
        self._last_plain = now
        self._stream.write(terminal_safe(self.plain_line()) + "\n")
        self._stream.flush()

    def _render(self, force: bool = False) -> None:
        if not self._draw:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < self._min_interval:
            return
        self._last_draw = now
        line = self.status_line()
        self._stream.write("\r" + line + " " * max(0, self._line_width - len(line)))
        self._stream.flush()
        self._line_width = len(line)

    def _clear(self) -> None:
        if self._draw and self._line_width:
            self._stream.write("\r" + " " * self._line_width + "\r")
            self._line_width = 0


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
