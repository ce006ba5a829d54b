"""JSON lines that every JSONL reader reads, and text that can always be written as UTF-8."""

from __future__ import annotations

import json
import re

# JSON allows these raw inside strings, but str.splitlines() (and readers built on it) ends a
# line at U+2028, U+2029 and U+0085: they are escaped. Only these change, so every other line
# stays byte-identical to what earlier versions wrote.
_LINE_BREAKS = re.compile("[\u2028\u2029\x85]")
# A lone surrogate (from a reply's broken "\\ud800" escape) is no character: UTF-8 cannot hold it
# and strict JSON readers refuse its escape.
_SURROGATE = re.compile("[\ud800-\udfff]")


def json_line(value: object) -> str:
    """``value`` as one line of JSONL, without the newline; a lone surrogate is written as U+FFFD."""
    text = json.dumps(value, ensure_ascii=False)
    # Checked before the patterns are run: the lines of the output files rarely hold either, and the two
    # scans took more CPU than json.dumps itself (0.33 s of 0.6 s for the 10 MB run's files).
    if "\u2028" in text or "\u2029" in text or "\x85" in text:
        text = _LINE_BREAKS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return without_surrogates(text)


def without_surrogates(text: str) -> str:
    """``text`` with each lone surrogate (which no UTF-8 file can hold) replaced by U+FFFD."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")  # fails only on a surrogate; faster than the pattern's scan
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text
