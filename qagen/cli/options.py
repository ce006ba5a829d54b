"""Flags made from the settings schema, so a flag, its help and its valid range never drift from the setting."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from qagen.progress import terminal_safe
from qagen.redaction import redact
from qagen.schema import Option

# The few settings with a one-letter flag too.
SHORT_FLAGS = {"out": "-o", "pairs_per_chunk": "-n", "quiet": "-q"}
# Booleans that are on by default are turned off by a --no-NAME flag.
_NEGATIVE = {"leading_space", "structured_output", "cache", "review"}


class Parser(argparse.ArgumentParser):
    """argparse's parser, except that a failed write of --help, --version or a usage error is not ignored.

    argparse swallows an OSError while it prints; then `qagen --help | head -c 10` exits 0 or 141
    depending on whether the help text outgrew stdout's buffer. Let it through, and ``main`` ends
    quietly with 141 as for any other output into a closed pipe.
    """

    def _print_message(self, message: str, file: Any = None) -> None:
        if message:
            (file or sys.stderr).write(message)


def describe(option: Option) -> str:
    """The help text: what it does, its default and its valid values."""
    parts = [option.help]
    shown = option.default
    if isinstance(shown, tuple):
        shown = None  # several phrasings: the help says what they are
    if isinstance(shown, str):
        shown = shown.encode("unicode_escape").decode() if shown else "none"
        shown = f"'{shown}'" if len(shown) < 40 else None
    if shown is not None and shown is not False and "default:" not in option.help:
        parts.append(f"default: {shown}")
    if option.valid_range() and not option.choices:
        parts.append(option.valid_range())
    return "; ".join(parts)


def add_options(parser: argparse.ArgumentParser | Any, options: Mapping[str, Option], names: Iterable[str] | None = None) -> None:
    """One flag per setting, defaulting to None so that "not given" can be told from a value.

    Values arrive as text and are converted by the schema, so a bad value gets the same one
    sentence whether it came from a flag, a variable or a config file.
    """
    for name in names if names is not None else options:
        option = options[name]
        flags = [SHORT_FLAGS[name], option.flag] if name in SHORT_FLAGS else [option.flag]
        if option.kind is bool and name in _NEGATIVE:
            parser.add_argument("--no-" + option.flag[2:], dest=name, action="store_const", const=False, help=describe(option))
        elif option.kind is bool:
            parser.add_argument(*flags, dest=name, action="store_const", const=True, help=describe(option))
        elif option.kind is tuple:
            parser.add_argument(*flags, dest=name, action="append", metavar="TEXT", help=describe(option))
        else:
            metavar = "|".join(option.choices) if option.choices else _METAVARS.get(option.kind, "TEXT")
            parser.add_argument(*flags, dest=name, metavar=metavar, help=describe(option))


_METAVARS: dict[type, str] = {int: "N", float: "X", Path: "PATH", str: "TEXT"}


def given(args: argparse.Namespace, options: Mapping[str, Option]) -> dict[str, Any]:
    """The settings named on the command line (None for the rest)."""
    return {name: getattr(args, name, None) for name in options}


def unescape(text: str) -> str:
    """``\\n``, ``\\t``, ``\\r`` and ``\\\\`` typed in a shell become the characters they name.

    A separator or stop sequence such as ``\\n\\n###\\n\\n`` cannot otherwise be typed on one line.
    """
    return re.sub(r"\\([ntr\\])", lambda m: {"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}[m.group(1)], text)


def say(line: str) -> None:
    """A line for the person at the terminal, on stderr (control characters escaped, the key masked)."""
    print(terminal_safe(redact(line)), file=sys.stderr, flush=True)
