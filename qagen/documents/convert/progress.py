"""How a converter says how far it has got: pages (or slides, chapters) done of a total."""

from __future__ import annotations

from typing import Callable

Progress = Callable[[int, int], None]  # (done, total)


def no_progress(done: int, total: int) -> None:
    """For a caller that does not show progress."""
