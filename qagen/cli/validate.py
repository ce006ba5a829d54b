"""``qagen validate FILE.jsonl``: the dataset checks on any chat or prompt/completion file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from qagen.cli.options import Parser, add_options, given, unescape
from qagen.progress import terminal_safe
from qagen.options import VALIDATE_OPTIONS
from qagen.settings import ValidateSettings, resolve


def run(argv: Sequence[str]) -> int:
    parser = Parser(
        prog="qagen validate",
        description="Check a chat or prompt/completion JSONL file before uploading it for fine-tuning.",
    )
    parser.add_argument("file", type=Path, help="the JSONL file")
    add_options(parser, VALIDATE_OPTIONS)
    args = parser.parse_args(argv)
    flags = given(args, VALIDATE_OPTIONS)
    for name in ("separator", "stop"):
        if flags[name] is not None:
            flags[name] = unescape(flags[name])
    settings = resolve(ValidateSettings, flags, env={}, file=args.file)

    from qagen.dataset.validate import render_report, validate_file
    from qagen.documents.tokens import counter_for

    report = validate_file(
        settings.file,
        count_tokens=counter_for(settings.model),
        max_tokens=settings.max_tokens,
        separator=settings.separator,
        stop=settings.stop,
        leading_space=settings.leading_space,
    )
    print(terminal_safe(render_report(report, max_lines=settings.max_lines), keep_newlines=True))
    return 0 if report.ok else 1
