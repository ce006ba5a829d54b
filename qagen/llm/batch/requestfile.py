"""The lines of a batch input file, and its split at the service's limits.

One line per request: ``{"custom_id": request.key, "method": "POST", "url": "/v1/chat/completions",
"body": ...}``, the body being exactly what the online client would send for the request. OpenAI takes
at most 50,000 lines and 200 MB in one file (Azure OpenAI and other engines have their own limits, so
both are parameters); a larger set of requests goes as several files, each one batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from qagen.errors import QagenError
from qagen.outfolder.lines import json_line
from qagen.records import Request

CHAT_URL: Literal["/v1/chat/completions"] = "/v1/chat/completions"
MAX_LINES = 50_000  # OpenAI's Batch API: requests in one input file
MAX_BYTES = 200 * 1024 * 1024  # and its size


@dataclass(frozen=True)
class RequestFile:
    """One input file's worth of requests: their keys, in order, and the file's text."""

    keys: tuple[str, ...]
    text: str

    @property
    def size(self) -> int:
        return len(self.text.encode("utf-8"))


def request_line(request: Request, body: dict[str, Any]) -> str:
    """One JSONL line (no newline) of a batch input file."""
    return json_line({"custom_id": request.key, "method": "POST", "url": CHAT_URL, "body": body})


def split_requests(
    requests: Sequence[Request], body_of: Callable[[Request], dict[str, Any]], *,
    max_lines: int = MAX_LINES, max_bytes: int = MAX_BYTES,
) -> list[RequestFile]:
    """The requests as input files of at most ``max_lines`` lines and ``max_bytes`` bytes each, in request order.

    A single request larger than ``max_bytes`` can go in no file: it is one sentence, not a file the
    service would refuse after the upload.
    """
    files: list[RequestFile] = []
    keys: list[str] = []
    lines: list[str] = []
    size = 0
    for request in requests:
        line = request_line(request, body_of(request)) + "\n"
        length = len(line.encode("utf-8"))
        if length > max_bytes:
            raise QagenError(
                f"request {request.key} is {length:,} bytes as a batch line, more than a batch file may hold "
                f"({max_bytes:,} bytes); use a smaller --chunk-size, or run without --batch."
            )
        if lines and (len(lines) >= max_lines or size + length > max_bytes):
            files.append(RequestFile(tuple(keys), "".join(lines)))
            keys, lines, size = [], [], 0
        keys.append(request.key)
        lines.append(line)
        size += length
    if lines:
        files.append(RequestFile(tuple(keys), "".join(lines)))
    return files


def keys_of(files: Iterable[RequestFile]) -> list[str]:
    return [key for file in files for key in file.keys]
