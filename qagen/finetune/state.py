"""The resumable record of a launch: ``OUT_DIR/.qagen/finetune.json``.

Every step of a launch is written here before the next one starts (file ids with the sha256
of the bytes they were uploaded from, then the job id and its outcome), so a rerun never
uploads the same bytes twice nor creates a second job. Written atomically; a damaged file
is one sentence that says how to start over.
"""

from __future__ import annotations

import json
from pathlib import Path

from qagen.finetune.errors import FinetuneError
from qagen.outfolder import STATE_DIR, write_atomic

STATE_FILE = "finetune.json"


def state_path(out_dir: Path) -> Path:
    return out_dir / STATE_DIR / STATE_FILE


def saved_job_id(out_dir: Path) -> str | None:
    """The job a launch in ``out_dir`` created (for "follow it with: qagen follow JOB_ID" after Ctrl-C); None before one exists."""
    try:
        job_id = read_state(out_dir).get("job_id")
    except FinetuneError:
        return None
    return job_id if isinstance(job_id, str) else None


def read_state(out: Path) -> dict:
    """The state of ``out``'s launch; {} before the first step."""
    path = state_path(out)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = None
    if not isinstance(data, dict):
        raise FinetuneError(f"{path} is damaged; delete it to start over (a job it named keeps running; follow it with qagen follow JOB_ID).")
    return data


def write_state(out: Path, state: dict) -> None:
    """Replace the state file atomically with ``state``."""
    path = state_path(out)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FinetuneError(f"cannot create {path.parent}: {exc.strerror or exc}.") from None
    write_atomic(path, json.dumps(state, indent=2, sort_keys=True) + "\n")
