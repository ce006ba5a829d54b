"""Batch files for other engines: ``--batch-export DIR`` and ``--batch-import FILE``.

vLLM's ``run_batch`` and Ray Data's LLM processor read the same input lines as the Batch API, so a
step's pending requests are written to ``DIR`` (atomically, one file per ``--batch-max-requests``),
the run stops with exit code 8 and the command to run, and a rerun with ``--batch-import`` reads the
engine's output (OpenAI's or vLLM's line shape, ``qagen.llm.batch.results``) and answers those
requests through the journal as any answer. The next step then exports again, or is asked by
``--batch`` or online.

File names hold a digest of the request keys, so exporting the same step twice writes the same file.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from qagen.errors import BatchExported, ConfigError, OutputError
from qagen.llm.asker import Failure, Sender
from qagen.llm.batch.requestfile import MAX_BYTES, MAX_LINES, split_requests
from qagen.llm.batch.results import (
    LineOutcome,
    MalformedOutput,
    fatal_error,
    read_outcomes,
)
from qagen.llm.cache import CachedModel
from qagen.llm.model import ChatModel
from qagen.outfolder import write_atomic
from qagen.records import Completion, Request

EXPORT_PREFIX = "qagen-requests-"


def run_batch_command(input_file: Path, model: str) -> str:
    """The vLLM command that answers one exported file."""
    output = input_file.with_name(input_file.name.removesuffix(".jsonl") + ".out.jsonl")
    return (f"python -m vllm.entrypoints.openai.run_batch -i {shlex.quote(str(input_file))} "
            f"-o {shlex.quote(str(output))} --model {shlex.quote(model)}")


def read_imports(paths: Sequence[Path], *, model: str, where: str) -> dict[str, tuple[Path, LineOutcome]]:
    """Every line of every file, by custom_id; a later line (or file) for the same id wins over an earlier failure."""
    found: dict[str, tuple[Path, LineOutcome]] = {}
    for path in paths:
        try:
            text = path.read_bytes().decode("utf-8")
        except OSError as exc:
            raise ConfigError(f"--batch-import {path} cannot be read: {exc.strerror or exc}.") from None
        except UnicodeDecodeError:
            raise MalformedOutput(f"--batch-import {path} is not UTF-8 text; give the output file the batch engine wrote.") from None
        for outcome in read_outcomes(text, model=model, where=where, name=str(path)):
            earlier = found.get(outcome.key)
            if earlier is None or not earlier[1].answered:
                found[outcome.key] = (path, outcome)
    return found


class EngineSender:
    """The sending step with engine files: imported answers first, then the rest exported, batched or asked online."""

    def __init__(
        self,
        *,
        imported: dict[str, tuple[Path, LineOutcome]],
        export_dir: Path | None,
        body_of: Callable[[Request], dict[str, Any]],
        model_name: str,
        then: Sender | None,  # the BatchSender with --batch, ask_all online; None when there is no endpoint to ask
        cache: CachedModel | None = None,
        max_lines: int = MAX_LINES,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self._imported = imported
        self._export_dir = export_dir
        self._body_of = body_of
        self._model_name = model_name
        self._then = then
        self._cache = cache
        self._max_lines, self._max_bytes = max_lines, max_bytes
        self.imported_answers = 0

    def unknown_keys(self, asked: set[str]) -> dict[Path, int]:
        """Imported lines that name none of the requests ``asked`` (every key the run needed), by file."""
        counts: dict[Path, int] = {}
        for key, (path, _) in self._imported.items():
            if key not in asked:
                counts[path] = counts.get(path, 0) + 1
        return counts

    async def __call__(
        self, requests: Sequence[Request], model: ChatModel, *, concurrency: int,
        on_answer: Callable[[Request, Completion], None],
        on_failure: Callable[[Request, str], None] = lambda request, reason: None,
        stop_if_first_fails: bool = False,
        probe_first: bool = True,  # a batch goes whole: there is no request to send alone first
    ) -> list[Failure]:
        failures: list[Failure] = []
        rest: list[Request] = []
        fatal: LineOutcome | None = None
        for request in requests:
            found = self._imported.get(request.key)
            if found is None or found[1].retry:
                rest.append(request)
                continue
            outcome = found[1]
            if outcome.completion is not None:
                on_answer(request, outcome.completion)
                self.imported_answers += 1
            elif outcome.fatal is not None:
                fatal = fatal or outcome
            else:
                failures.append(Failure(request.key, outcome.reason, outcome.detail, rerun_helps=False))
                on_failure(request, outcome.reason)
        if fatal is not None:
            raise fatal_error(fatal)
        if rest and self._cache is not None:
            still = []
            for request in rest:
                cached = self._cache.lookup(request)
                if cached is not None:
                    on_answer(request, cached)
                else:
                    still.append(request)
            rest = still
        if rest:
            if self._export_dir is not None:
                self._export(rest)
            if self._then is None:
                raise ConfigError(
                    f"{len(rest)} requests of this step are in no --batch-import file and there is no endpoint to ask; "
                    "give --batch-export DIR to write them for the batch engine, or --base-url for a server."
                )
            failures += await self._then(rest, model, concurrency=concurrency, on_answer=on_answer, on_failure=on_failure,
                                         stop_if_first_fails=stop_if_first_fails)
        return failures

    def _export(self, requests: list[Request]) -> None:
        folder = self._export_dir
        assert folder is not None
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create --batch-export folder {folder}: {exc.strerror or exc}.") from None
        files = split_requests(requests, self._body_of, max_lines=self._max_lines, max_bytes=self._max_bytes)
        digest = hashlib.sha256("\n".join(r.key for r in requests).encode("utf-8")).hexdigest()[:12]
        paths = []
        for index, file in enumerate(files, 1):
            part = f"-{index}-of-{len(files)}" if len(files) > 1 else ""
            path = folder / f"{EXPORT_PREFIX}{digest}{part}.jsonl"
            write_atomic(path, file.text)
            paths.append(path)
        commands = "; ".join(run_batch_command(path, self._model_name) for path in paths)
        outputs = " ".join(f"--batch-import {shlex.quote(str(p.with_name(p.name.removesuffix('.jsonl') + '.out.jsonl')))}" for p in paths)
        raise BatchExported(
            f"wrote the {len(requests)} requests of this step to {', '.join(str(p) for p in paths)}; answer them with: "
            f"{commands}; then run the same command with {outputs} added to continue."
        )

