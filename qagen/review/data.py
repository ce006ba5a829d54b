"""What the review page shows, read from an out folder's files; a folder that cannot give it is one sentence."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from qagen.errors import ConfigError
from qagen.outfolder import CHUNKS, DECISIONS, STATE_DIR, unfinished_switch

PAIRS = "pairs.jsonl"
REJECTS = "rejects.jsonl"
REPORT = "report.json"
# What the page needs of report.json; the rest (token statistics, the fine-tune estimate) it does not show.
REPORT_FIELDS = (
    "model", "endpoint", "offline", "settings", "files_read", "files_skipped", "files", "warnings", "chunks", "chunks_resumed",
    "chunks_failed", "requests", "retries", "cache_hits", "tokens_in", "tokens_out", "stages", "pairs_generated", "pairs_kept",
    "idk_kept", "dropped", "train_examples", "valid_examples", "format", "out", "seconds", "cost", "coverage",
)


class RowText(str):
    """One line of a JSON Lines file, as written, checked to hold a JSON object: the page takes it as it is.

    Encoding each row's object again, and looking for lone surrogates in it, made the 50 MB run's page
    (73,850 rows) take 1.68 s of CPU; taking the lines as read, 0.79 s.
    """


def _again(out: Path) -> str:
    return f"run the qagen command that made it again (qagen CORPUS -o {out}), then qagen review {out}"


def read_run(out: Path) -> dict[str, Any]:
    """The page's data: pairs, rejects, chunks (id, source, page, section, text), the report's fields, stored decisions.

    Pairs, rejects and chunks are iterators over their files' lines (``RowText``), read as the page is written: the
    chunks hold the whole corpus's text, and the page never needs all of them in memory at once. A damaged
    line then stops the writing (ConfigError), and the page is not replaced."""
    if not out.exists():
        raise ConfigError(f"{out} does not exist; give the out folder of a qagen run (qagen review OUT).")
    if not out.is_dir():
        raise ConfigError(f"{out} is a file; give the out folder of a qagen run (qagen review OUT).")
    if not (out / STATE_DIR).is_dir() or not (out / PAIRS).is_file():
        raise ConfigError(f"{out} is not a qagen out folder (it has no {PAIRS} and no {STATE_DIR}/); run qagen CORPUS -o {out} first.")
    if sentence := unfinished_switch(out):
        raise ConfigError(sentence)
    for name in (REJECTS, REPORT, CHUNKS):
        if not (out / name).is_file():
            made_by = " (made by an older qagen)" if name == CHUNKS else ""
            raise ConfigError(f"{out} has no {name}{made_by}; {_again(out)}.")
    report = _read_json(out / REPORT, out)
    decisions = list(_rows(out / DECISIONS, out)) if (out / DECISIONS).is_file() else []
    return {
        "out": str(out),
        "pairs": _row_texts(out / PAIRS, out),
        "rejects": _row_texts(out / REJECTS, out),
        "chunks": _row_texts(out / CHUNKS, out),
        "report": {name: report.get(name) for name in REPORT_FIELDS},
        "decisions": [d for d in decisions if isinstance(d.get("pair_id"), str) and d.get("action") in ("keep", "drop", "edit")],
    }


def _damaged(path: Path, out: Path, where: str) -> ConfigError:
    return ConfigError(f"{path} is damaged ({where}); {_again(out)}.")


def _read_json(path: Path, out: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise _damaged(path, out, "not UTF-8") from None
    except ValueError as exc:
        raise _damaged(path, out, f"not JSON: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}.") from None
    if not isinstance(value, dict):
        raise _damaged(path, out, "not a JSON object")
    return value


def _rows(path: Path, out: Path) -> Iterator[dict[str, Any]]:
    """Every line's object, one at a time."""
    return (row for row, _ in _lines(path, out))


def _row_texts(path: Path, out: Path) -> Iterator[RowText]:
    """Every line that holds a JSON object, as written, one at a time."""
    return (RowText(line) for _, line in _lines(path, out))


def _lines(path: Path, out: Path) -> Iterator[tuple[dict[str, Any], str]]:
    """Each line's object and its text; only "\\n" ends a line, as qagen writes them (U+2028 inside text is escaped)."""
    try:
        handle = open(path, encoding="utf-8", newline="\n")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}.") from None
    with handle:
        number = 0
        try:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError:
                    raise _damaged(path, out, f"line {number} is not JSON") from None
                if not isinstance(row, dict):
                    raise _damaged(path, out, f"line {number} is not a JSON object")
                yield row, line.strip()
        except UnicodeDecodeError:
            raise _damaged(path, out, "not UTF-8") from None
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror or exc}.") from None
