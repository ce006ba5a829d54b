"""Small helpers shared by qagen's tests."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus"


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def normalise_space(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def output_files(out: Path) -> dict[str, str]:
    """The dataset files of a run, for comparing two runs (report.json holds timings, so it is left out)."""
    names = ("pairs.jsonl", "rejects.jsonl", "train.jsonl", "valid.jsonl", "README.md")  # the card holds no timing
    return {name: (out / name).read_text(encoding="utf-8") for name in names}


@contextmanager
def small_tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """A filesystem of ``size`` (e.g. "48k") at ``folder``, so writes really fail with "No space left on device".

    Mounting needs root: the calling test is skipped otherwise.
    """
    import pytest

    folder.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
    if made.returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)
