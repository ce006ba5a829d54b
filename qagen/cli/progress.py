"""The terminal's progress line: chunks done of total, pairs, tokens, ETA, retries, failures."""

from __future__ import annotations

import time
from typing import TextIO

from qagen.progress import Reporter, terminal_safe


class TerminalProgress(Reporter):
    """A single self-overwriting status line; notes are printed above it."""

    def __init__(self, stream: TextIO, *, draw_bar: bool, show_notes: bool = True, min_interval: float = 0.1) -> None:
        self._stream = stream
        self._draw = draw_bar
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

    def chunk_failed(self, chunk_id: str, reason: str) -> None:
        self._failed += 1
        self._render()

    def retry(self, reason: str, wait: float) -> None:
        self._retries += 1
        self._render()

    def finish(self) -> None:
        self._render(force=True)
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
