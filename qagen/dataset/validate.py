"""Checks a whole fine-tuning JSONL file (``qagen validate FILE.jsonl``); ``render_report`` sums it up.

Reading the file is this module's part: UTF-8 (no byte order mark), one JSON value a line,
blank lines, the format (chat or legacy prompt/completion, from the first line that shows
one), repeated chat examples and the number of examples. Each example is checked by
``qagen.example_checks``, and the token statistics and fine-tuning estimate of the report
come from ``qagen.finetune_estimate``; the names callers import from here stay importable.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

from qagen.errors import QagenError
from qagen.dataset.checks import (
    ERROR,
    MAX_EXAMPLE_TOKENS,
    WARNING,
    Finding,
    TokenCount,
    check_chat,
    check_example_count,
    check_legacy,
    make_finding,
)
from qagen.dataset.estimate import FinetuneEstimate, TokenStats, estimate_finetune
from qagen.outfolder import unfinished_switch



class DatasetFileError(QagenError):
    """The dataset file to validate cannot be opened or read."""


# ---------------------------------------------------------------- whole files

_BOM = b"\xef\xbb\xbf"


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


class _JsonlLines:
    """Parsed lines of a JSONL file; blank, undecodable and unparsable lines become findings.

    Reading stops at the first line that is not UTF-8: every later line number would be
    guesswork, and one clear error says more than a cascade.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.findings: list[Finding] = []
        self.examples = 0  # non-blank lines

    def __iter__(self) -> Iterator[tuple[int, object]]:
        try:
            with self.path.open("rb") as stream:
                yield from self._parse(stream)
        except OSError as exc:
            raise DatasetFileError(f"cannot read {self.path}: {exc.strerror or exc}.") from exc

    def _parse(self, stream) -> Iterator[tuple[int, object]]:
        for number, raw in enumerate(stream, 1):
            if number == 1 and raw.startswith(_BOM):
                message = "the file starts with a byte order mark; save it as UTF-8 without BOM."
                self.findings.append(make_finding("utf8_bom", message, 1))
                raw = raw[len(_BOM):]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                byte = f"byte {raw[exc.start]:#04x} at column {exc.start + 1}"
                message = f"the file is not UTF-8 text ({byte}); save it as UTF-8."
                self.findings.append(make_finding("not_utf8", message, number))
                return
            if not text.strip():
                self.findings.append(make_finding("blank_line", "the line is blank.", number))
                continue
            self.examples += 1
            try:
                example = json.loads(text, parse_constant=_reject_constant)
            except (ValueError, RecursionError) as exc:
                message = f"the line is not valid JSON ({_json_error(exc)})."
                self.findings.append(make_finding("invalid_json", message, number))
                continue
            if (garbled := _garbled(example)) is not None:
                message = (
                    f"the text holds {json.dumps(garbled, ensure_ascii=False)}, a sign that its source was decoded "
                    "with the wrong encoding (U+FFFD for bytes that were not UTF-8, or UTF-8 read as cp1252)."
                )
                self.findings.append(make_finding("garbled_text", message, number))
            yield number, example


# Bytes 0x80-0xBF, which continue a UTF-8 sequence, as cp1252 shows them (latin-1 for the
# five it leaves undefined): "é" read that way is "Ã©", "£" is "Â£", "’" is "â€™".
_CONTINUATION = "".join(bytes([b]).decode("cp1252", "ignore") or chr(b) for b in range(0x80, 0xC0))
_GARBLED = re.compile(f"\ufffd|[ÃÂ][{re.escape(_CONTINUATION)}]|â€")


def _garbled(value: object) -> str | None:
    """The first piece of text in a parsed line that looks wrongly decoded, or None."""
    if isinstance(value, str):
        found = _GARBLED.search(value)
        return found.group() if found else None
    items = value.values() if isinstance(value, Mapping) else value if isinstance(value, list) else ()
    for item in items:
        if (garbled := _garbled(item)) is not None:
            return garbled
    return None


def _json_error(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at column {exc.colno}"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc)


def detect_format(example: object) -> str:
    """"chat", "completion" or "unknown" for one parsed line."""
    if isinstance(example, Mapping):
        if "messages" in example:
            return "chat"
        if "prompt" in example or "completion" in example:
            return "completion"
    return "unknown"


@dataclass(frozen=True)
class ValidationReport:
    path: Path
    format: str  # "chat", "completion" or "unknown"
    examples: int  # non-blank lines
    findings: tuple[Finding, ...]  # file-level first, then by line
    tokens: TokenStats | None = None
    estimate: FinetuneEstimate | None = None
    separator: str | None = None  # completion format: given or inferred
    stop: str | None = None

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.is_error)

    @property
    def warnings(self) -> int:
        return len(self.findings) - self.errors

    @property
    def ok(self) -> bool:
        """No errors: the file should be accepted and every example is usable."""
        return self.errors == 0


def validate_file(
    path: Path | str,
    *,
    count_tokens: TokenCount,
    max_tokens: int = MAX_EXAMPLE_TOKENS,
    separator: str | None = None,
    stop: str | None = None,
    leading_space: bool = True,
) -> ValidationReport:
    """Check a fine-tuning JSONL file, chat or legacy prompt/completion (detected from its lines).

    The format is the one of the first line that holds ``messages`` (chat) or ``prompt`` /
    ``completion``. Separator and stop apply to the completion format; when not given they
    are inferred from the file.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetFileError(f"{path} is not a file; give the path of a .jsonl dataset.")
    reader = _JsonlLines(path)
    lines = iter(reader)
    head: list[tuple[int, object]] = []
    fmt = "unknown"
    for item in lines:
        head.append(item)
        fmt = detect_format(item[1])
        if fmt != "unknown":
            break
    items = chain(head, lines)
    findings: list[Finding] = []
    token_counts: list[int] = []
    legacy = None
    if fmt == "chat":
        first_seen: dict[bytes, int] = {}
        for line, example in items:
            found, tokens = check_chat(example, count_tokens, max_tokens, line)
            findings += found
            if tokens is not None:
                token_counts.append(tokens)
            key = hashlib.blake2b(json.dumps(example, sort_keys=True).encode(), digest_size=16).digest()
            if key in first_seen:
                findings.append(make_finding("duplicate_example", f"the example repeats line {first_seen[key]}.", line))
            else:
                first_seen[key] = line
    elif fmt == "completion":
        parsed = list(items)
        legacy = check_legacy(
            [example for _, example in parsed], [line for line, _ in parsed], separator=separator, stop=stop,
            leading_space=leading_space, count_tokens=count_tokens, max_tokens=max_tokens,
        )
        findings += legacy.findings
        token_counts = legacy.token_counts
    elif head and not any(f.code == "not_utf8" for f in reader.findings):
        preference = any(isinstance(e, Mapping) and "preferred_output" in e for _, e in head)
        kind = "preference (DPO) data, which qagen does not check" if preference else "not fine-tuning data"
        message = f"no line holds a chat (messages) or prompt/completion example: {kind}."
        findings.append(make_finding("unknown_format", message))
    if not any(f.code == "not_utf8" for f in reader.findings):
        findings += check_example_count(reader.examples)
    findings += reader.findings
    if path.name in ("train.jsonl", "valid.jsonl") and (mixed := unfinished_switch(path.parent)):
        findings.append(make_finding("mixed_runs", mixed))
    findings.sort(key=lambda f: f.line or 0)
    return ValidationReport(
        path=path, format=fmt, examples=reader.examples, findings=tuple(findings),
        tokens=TokenStats.of(token_counts),
        estimate=estimate_finetune(token_counts, limit=max_tokens) if token_counts else None,
        separator=legacy.separator if legacy else None, stop=legacy.stop if legacy else None,
    )


# ---------------------------------------------------------------- the text summary


def _line_ranges(lines: Sequence[int], cap: int = 8) -> str:
    ranges: list[list[int]] = []
    for line in sorted(set(lines)):
        if ranges and line == ranges[-1][1] + 1:
            ranges[-1][1] = line
        else:
            ranges.append([line, line])
    shown = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges[:cap])
    hidden = sum(b - a + 1 for a, b in ranges[cap:])
    word = "line" if len(ranges) == 1 and ranges[0][0] == ranges[0][1] else "lines"
    return f"{word} {shown}" + (f" and {hidden} more" if hidden else "")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def render_report(report: ValidationReport, *, max_lines: int = 50) -> str:
    """A readable summary: counts by code with their line numbers, the first problems, tokens, verdict.

    ``max_lines`` caps the number of individual problems listed.
    """
    out = [f"{report.path}: {report.format} format, {_plural(report.examples, 'example')}"]
    if report.separator is not None or report.stop is not None:
        out.append(f"separator {json.dumps(report.separator)}, stop sequence {json.dumps(report.stop)}")
    if report.tokens:
        t = report.tokens
        out.append(
            f"tokens per example: min {t.min}, mean {t.mean:.0f}, p50 {t.p50:.0f}, p90 {t.p90:.0f}, max {t.max} "
            f"({t.total:,} in {_plural(t.examples, 'example')})"
        )
    if report.estimate and report.estimate.n_epochs:
        e = report.estimate
        truncated = f"; {_plural(e.truncated_examples, 'example')} would be truncated" if e.truncated_examples else ""
        epochs = _plural(e.n_epochs, "epoch")
        out.append(f"fine-tuning estimate: {epochs} by default, about {e.billed_tokens:,} billed tokens{truncated}")
    for severity, title in ((ERROR, "errors"), (WARNING, "warnings")):
        by_code: dict[str, list[Finding]] = {}
        for finding in report.findings:
            if finding.severity == severity:
                by_code.setdefault(finding.code, []).append(finding)
        if not by_code:
            continue
        out.append(f"{title}:")
        for code, group in sorted(by_code.items(), key=lambda item: -len(item[1])):
            numbered = [f.line for f in group if f.line is not None]
            where = [_line_ranges(numbered)] if numbered else []
            where += ["the file"] if len(numbered) < len(group) else []
            out.append(f"  {code}: {len(group)} ({'; '.join(where)})")
    if report.findings:
        out.append("first problems:" if len(report.findings) > max_lines else "problems:")
        for finding in report.findings[:max_lines]:
            place = f"line {finding.line}" if finding.line is not None else "file"
            out.append(f"  {place}: {finding.severity}: {finding.message}")
        if len(report.findings) > max_lines:
            out.append(f"  ... and {len(report.findings) - max_lines} more")
    if report.ok:
        warnings = f", {_plural(report.warnings, 'warning')}" if report.warnings else ""
        out.append(f"verdict: OK, ready to upload ({_plural(report.examples, 'example')}, no errors{warnings}).")
    else:
        errors, warnings = _plural(report.errors, "error"), _plural(report.warnings, "warning")
        out.append(f"verdict: NOT READY, fix {errors} before uploading ({warnings}).")
    return "\n".join(out)
