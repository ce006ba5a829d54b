"""Runs of capitalised words in a chunk's text: where ``qagen.quality.idk.names`` looks for names.

``_name_runs`` splits a text into passages (paragraphs without headings or all-capital lines,
wrapped prose lines joined) and reads in each the runs of capitalised words, possibly joined
by "of", "de", "&"..., with what is around them: the word before, the word after, a sentence
break. ``_lower_case_words`` lists the words a corpus writes in lower case.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from functools import cache
from typing import NamedTuple

from qagen.records import Chunk

_TITLES = frozenset("dr mr mrs ms miss mx prof professor sir dame lord lady".split())
_CONNECTORS = frozenset("of the de du da del la le van von der den &".split())

_TOKEN = re.compile(r"[^\W\d_]+(?:['’\-][^\W\d_]+)*|&")
# The same words in text that is all ASCII, where a letter is [A-Za-z]: the regex engine tests
# an ASCII class far faster than a Unicode category (profiled at 10 MB, four fifths of it ASCII:
# 0.44 -> 0.30 s for _TOKEN, 0.90 -> 0.36 s for _GAP_AND_TOKEN).
_ASCII_TOKEN = re.compile(r"[A-Za-z]+(?:['\-][A-Za-z]+)*|&")
_ASCII_LETTERS_AND_JOINERS = bytes(byte if chr(byte).isascii() and (chr(byte).isalpha() or chr(byte) in "'-") else 32 for byte in range(256))
_BLANK_LINE = re.compile(r"\n\s*\n")
# A word (as _TOKEN finds it) and the text between it and the word before: no letter, no "&".
# The gap is matched possessively (*+): it holds no letter nor "&", where a word starts, so giving
# characters back can never help, and not keeping them to give back halves the time on non-ASCII text.
_GAP_AND_TOKEN = re.compile(r"((?:[^\w&]|[\d_])*+)([^\W\d_]+(?:['’\-][^\W\d_]+)*|&)")
_GAP_AND_ASCII_TOKEN = re.compile(r"([^A-Za-z&]*)([A-Za-z]+(?:['\-][A-Za-z]+)*|&)")
_FOUR_LOWER_CASE_LETTERS = re.compile(r"[a-z]{4}")
_SENTENCE_BREAK = re.compile(r"[.!?:;|\n]")
_LIST_ITEM = re.compile(r"\s*(?:[-*+•|>]|\d+[.)])(?:\s|\Z)")  # of a stripped line: the marker may end it
_FIELD_LINE = re.compile(r"[^\W\d_][\w '’&/-]{0,40}:(?:\s|$)")
_JOIN_AFTER = 40  # a line at least this long, not ending in ":", is wrapped prose: join the next one


class _Occurrence(NamedTuple):
    """One run of capitalised words as found in the text, before cleaning."""

    # A named tuple, not a frozen dataclass: a corpus has about 20,000 of them per MB, all held
    # at once, and a frozen dataclass sets each field through object.__setattr__ (profiled: making
    # them took 1.3 s of the 7 s finding names took at 10 MB).
    words: tuple[str, ...]
    chunk: int
    sentence_start: bool
    previous: str  # the word before, lower-cased, "" after a sentence break
    next_word: str  # the word right after, when only a space separates them
    apposition: bool  # followed by ", a" or ", an"


def _lower_case_words(chunks: Sequence[Chunk]) -> frozenset[str]:
    # Every distinct word first, then those in lower case: a corpus repeats its words, so
    # testing each distinct one is a fraction of testing every one.
    words: set[str] = set()
    pieces: set[bytes] = set()
    for chunk in chunks:
        text = chunk.text
        if text.isascii():
            # Every byte that is no letter nor joiner becomes a space, and bytes.split hands out
            # the pieces between: without a joiner, a piece is a word (profiled at 50 MB: the
            # words of every chunk by _ASCII_TOKEN took 3.8 s).
            pieces.update(text.encode("ascii").translate(_ASCII_LETTERS_AND_JOINERS).split())
        else:
            words.update(_TOKEN.findall(text))
    for piece in pieces:
        if b"'" in piece or b"-" in piece:
            words.update(_ASCII_TOKEN.findall(piece.decode("ascii")))
        elif piece.islower():
            words.add(piece.decode("ascii"))
    return frozenset(word for word in words if word.islower())


def _name_runs(text: str, chunk: int) -> list[_Occurrence]:
    """Runs of capitalised words separated only by spaces (or "Dr. ", "Founders' ") that may hold a name."""
    runs: list[_Occurrence] = []
    for passage in _passages(text):
        # The regex engine finds the runs and what follows each; Python looks only at the runs, never
        # at the lower-case words between (at 10 MB, passages aside: a Python loop over every word's
        # (gap, word) pair took 1.26 s, this 0.95 s).
        run_pattern, word_pattern = (_ASCII_RUN, _GAP_AND_ASCII_TOKEN) if passage.isascii() else (_unicode_run(), _GAP_AND_TOKEN)
        backwards = ""
        for match in run_pattern.finditer(passage):
            more, after, following = match.group(1, 2, 3)
            start = match.start()
            if not more and (start == 0 or passage[start - 1] in _BREAKS or (start > 1 and passage[start - 1] == " " and passage[start - 2] in _BREAKS)):
                # A lone word right after a sentence break (the most common run, half of them), told
                # without reading the whole gap before it: _clean_name finds no name in it.
                continue
            inner_after = after.strip(" \t")
            if inner_after.startswith(":"):
                continue  # a label, as in "Notes: ..."
            # The word before the run and the gap between: the first word and gap of the text before it, read backwards.
            backwards = backwards or passage[::-1]
            before = word_pattern.match(backwards, len(passage) - start)
            breaks_sentence = before is None or _SENTENCE_BREAK.search(before[1]) is not None
            if not more:
                if breaks_sentence:
                    continue  # a lone word opening a sentence: _clean_name finds no name in it
                run = [match[0]]
            else:
                pairs = word_pattern.findall(match[0])
                run = [pairs[0][1]]
                for gap, word in pairs[1:]:
                    if gap.strip(" \t") in _APOSTROPHES:
                        run[-1] += gap.strip(" \t")  # "Founders' Day"
                    run.append(word)
            last = run[-1]
            if last.endswith(("'s", "’s")):
                run[-1] = last[:-2]  # "Acme's": the possessive ends the run
            elif following is not None and last.endswith("s") and inner_after in _APOSTROPHES:
                run[-1] += inner_after  # "Founders' said": the apostrophe stays, the run ends
            previous = "" if before is None or breaks_sentence else before[2][::-1].lower()
            # Interned: the same few thousand words recur in every mention, one copy each is enough.
            next_word = sys.intern(following) if following and not inner_after else ""
            apposition = inner_after == "," and following is not None and following.lower() in ("a", "an")
            runs.append(_Occurrence(tuple(map(sys.intern, run)), chunk, breaks_sentence, sys.intern(previous), next_word, apposition))
    return runs


_APOSTROPHES = ("'", "’")
_BREAKS = frozenset(".!?:;|\n")  # what _SENTENCE_BREAK finds


def _run_pattern(letter: str, capital: str, apostrophes: str) -> re.Pattern[str]:
    """A run of capitalised words (and the gap and word after it), for text whose letters are ``letter``.

    ``capital`` holds the letters str.isupper() calls upper case. The run starts at a capitalised word
    and goes on over capitalised words and connectors (``of``, ``&``) while the gap before each holds
    only spaces and tabs, or a "." after a title, or an apostrophe after a final s; a possessive word
    (``Acme's``) ends it. Words are those of _TOKEN: letters joined by an apostrophe or a hyphen.
    """
    joined = rf"(?:[{apostrophes}\-]{letter}+)"
    start = rf"(?<!{letter})(?<!{letter}[{apostrophes}\-])"  # where a word starts
    ends = rf"(?!{letter}|[{apostrophes}\-]{letter})"  # where a word ends
    capitalised = rf"{capital}{letter}*+{joined}*+"

    def spelled(word: str) -> str:  # in any case, as str.lower() reads it
        return "".join(f"[{c}{c.upper()}]" for c in word)

    connector = "|".join(spelled(word) for word in sorted(_CONNECTORS - {"&"}))
    connector = rf"(?:(?:{connector})(?:[{apostrophes}]s)?{ends}|&)"
    titles_by_length: dict[int, list[str]] = {}
    for title in sorted(_TITLES):
        titles_by_length.setdefault(len(title), []).append(spelled(title))
    after_title = "|".join(rf"(?<={start}(?:{'|'.join(titles)}))" for titles in titles_by_length.values())
    joint = rf"(?:(?:{after_title})[ \t]*+\.[ \t]*+|(?<=s)[ \t]*+[{apostrophes}][ \t]*+|[ \t]*+)"
    # The capital first, then what is before it: the regex engine looks for the capital fast.
    run = rf"{capital}(?<={start}.){letter}*+{joined}*+((?:(?<![{apostrophes}]s){joint}(?:{capitalised}|{connector}))*+)"
    gap = r"(?:[^\w&]|[\d_])*+" if letter != "[A-Za-z]" else "[^A-Za-z&]*+"
    return re.compile(rf"{run}(?=({gap})({letter}+{joined}*+|&)?)")


def _capitals() -> str:
    """A character class of the letters (as _TOKEN reads letters) that str.isupper() calls upper case."""
    ranges: list[list[int]] = []
    for code in range(sys.maxunicode + 1):
        if chr(code).isupper() and _LETTER.fullmatch(chr(code)):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
    # As ranges: the regex engine tests one character against 1,847 single ones in turn (10 times slower).
    return "[" + "".join(re.escape(chr(first)) + ("-" + re.escape(chr(last)) if last > first else "") for first, last in ranges) + "]"


_LETTER = re.compile(r"[^\W\d_]")
_ASCII_RUN = _run_pattern("[A-Za-z]", "[A-Z]", "'")


@cache
def _unicode_run() -> re.Pattern[str]:
    """The run pattern for text beyond ASCII, made on first use: reading every code point for its capitals
    and compiling the class took 69 ms of every run's start-up when it was made at import."""
    return _run_pattern(_LETTER.pattern, _capitals(), "'’")


def _passages(text: str) -> list[str]:
    """Paragraphs without headings or all-capital lines, wrapped prose lines joined by a space.

    Short lines, field lines (``Built: 1998``), list items and table rows keep their line
    break, which ends a name and starts a sentence.
    """
    passages = []
    for block in _BLANK_LINE.split(text):
        lines = [stripped for line in block.splitlines() if (stripped := line.strip())]
        if len(lines) <= 1:
            # Half the blocks are one line: a heading or a passage as it stands.
            if lines and not _is_title_line(lines[0]):
                passages.append(lines[0])
            continue
        # The passage is built as a list of pieces, and its last line kept apart: adding to one
        # growing string and splitting it again for its last line was quadratic in a block's
        # length (profiled: a third of finding names on changelogs of one long block).
        # Of the passage's last line (what follows its last "\n") only the length is kept, and the
        # line it ends with: that is all the test for wrapped prose reads.
        pieces: list[str] = []
        last_length = 0
        last_piece = ""
        for line in lines:
            # _is_markup_line and _is_upper_case_line, the common case first and without calls (line is stripped).
            if line.startswith(_MARKUP_STARTS) or (not _FOUR_LOWER_CASE_LETTERS.search(line) and _is_upper_case_line(line)):
                pieces.append("\n")
                last_length = 0
                continue
            wrapped = (
                last_length >= _JOIN_AFTER
                and not last_piece.endswith(":")
                and not _LIST_ITEM.match(line)
                and not _FIELD_LINE.match(line)
            )
            pieces += ("" if not pieces else " " if wrapped else "\n", line)
            last_length = last_length + 1 + len(line) if wrapped else len(line)
            last_piece = line
        joined = "".join(pieces)
        if joined.strip():
            passages.append(joined)
    return passages


_MARKUP_STARTS = ("#", "```", "~~~", "|---", "| ---", "===", "---")


def _is_markup_line(line: str) -> bool:
    return line.lstrip().startswith(_MARKUP_STARTS)


def _is_upper_case_line(line: str) -> bool:
    if _FOUR_LOWER_CASE_LETTERS.search(line):
        return False  # a word holding them is in lower case and longer than any connector: most lines
    # Word by word, stopping at the first one in lower case: most lines are prose and stop at
    # their first word (profiled: finding every word of every line took 1 s of 8 at 10 MB).
    count = 0
    for match in _TOKEN.finditer(line):
        word = match.group()
        if not (word.isupper() or word.lower() in _CONNECTORS):
            return False
        count += 1
    return count >= 2


def _is_title_line(line: str) -> bool:
    """A short line on its own, mostly capitalised and without end punctuation: a heading."""
    if _is_markup_line(line) or _is_upper_case_line(line):
        return True
    words = (_ASCII_TOKEN if line.isascii() else _TOKEN).findall(line)
    if len(words) < 2 or len(words) > 10 or line[-1] in ".!?:;,":
        return False
    return sum(1 for word in words if word[:1].isupper()) >= 0.6 * len(words)
