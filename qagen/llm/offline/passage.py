"""How the offline generator (``qagen.llm.offline.model``) reads a passage: blocks of text, and sentences.

``read_blocks`` reads a passage as light Markdown or plain text and returns its ``Block``s: a
paragraph, a list item or a ``Label: value`` line, each with the topic of the heading above it
and the question the passage asked right before it; code, tables, rules, HTML and image lines
are skipped. ``split_sentences`` splits a block into sentences without breaking after
abbreviations. Steps 1 and 2 of the method described in ``qagen.llm.offline.model``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "DIGIT_RE",
    "LABEL_RE",
    "TERMINATED_RE",
    "TITLES",
    "Block",
    "clean_phrase",
    "read_blocks",
    "split_sentences",
    "strip_markup_edges",
]


# --- word lists -------------------------------------------------------------------------------

TITLES = frozenset("dr mr mrs ms prof st mt rev sr jr gen capt col lt sgt fr hon sir dame".split())
_NO_BREAK_AFTER = TITLES | frozenset({"e.g", "i.e", "cf", "vs", "approx", "ca", "dept", "incl", "nr"})
_NO_BREAK_BEFORE_DIGIT = frozenset(
    "no nos vol p pp fig figs ch sec art jan feb mar apr jun jul aug sep sept oct nov dec".split()
)


# --- patterns ---------------------------------------------------------------------------------

DIGIT_RE = re.compile(r"\d")
_ATX_RE = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_SETEXT_RE = re.compile(r"^\s{0,3}(?:=+|-+)\s*$")
_RULE_RE = re.compile(r"^\s{0,3}([-*_])(?:\s*\1){2,}\s*$")
_BULLET_RE = re.compile(r"^\s*(?:[-*+•‣◦]|\d{1,3}[.)]|[a-z][.)]|[A-Z]\))\s+(?=\S)")
_BULLET_MARKS = "-*+•‣◦"
LABEL_RE = re.compile(r"^\s*(?:\*\*|__)?([A-Z][^:.!?]{0,40}?)(?:\*\*|__)?:(?:\*\*|__)?\s+(?=\S)")
_FENCE_RE = re.compile(r"^\s{0,3}(```|~~~)")
_QA_PREFIX_RE = re.compile(r"^(?:Q|Question|FAQ)\s*[:.)]\s*", re.IGNORECASE)
_ANSWER_PREFIX_RE = re.compile(r"^(?:\*\*|__)?(?:A|Answer)\s*[:.)](?:\*\*|__)?\s+", re.IGNORECASE)
_SENTENCE_END_RE = re.compile(r"(?:[.!?]+|…)[\"'”’)\]*_]*(?=\s+\S)")
_NEXT_CHARACTER_RE = re.compile(r"\s*(\S)")
TERMINATED_RE = re.compile(r"(?:[.!?]|…)[\"'”’)\]*_]*$")
# Copyright notices, navigation and tables of contents: every page of a site repeats them.
# Two patterns, one searched anywhere in the line and one matched at its start: one search for
# both tried every alternative at every position (1.3 of extract_pairs' 42 s under cProfile at 10 MB).
_BOILERPLATE_ANYWHERE_RE = re.compile(r"©|\(c\)\s*\d{4}|\ball rights reserved\b", re.IGNORECASE)
_BOILERPLATE_LINE_RE = re.compile(
    r"\W*copyright\b"
    r"|(?:[«‹<←]\s*)?(?:previous|next|back to top|skip to (?:main )?content|edit on \w+|table of contents"
    r"|contents|on this page|in this (?:section|article)|home|menu|search|print this page|share)\b"
    r"(?:\W+(?:previous|next|page|topic|»|›|→))*\W*$",
    re.IGNORECASE,
)
# What a line opening with a letter or digit must open with for _BOILERPLATE_LINE_RE to match it.
_BOILERPLATE_LINE_OPENINGS = (
    "copyright", "previous", "next", "back to top", "skip to", "edit on", "table of contents", "contents",
    "on this page", "in this", "home", "menu", "search", "print this page", "share",
)
# reStructuredText and Sphinx markup: ".. note::", ".. code-block:: python", ":param x:".
_DIRECTIVE_RE = re.compile(r"^(?:\.\.\s+[\w:-]+::|\.\.\s+_[\w -]+:|\.\.\s*$|:\w+(?:\s+\w+)?:\s)")
# Patterns used per word or per phrase are compiled here, not looked up in re's cache per call.
_TOPIC_OPENING_RE = re.compile(r"^(?:(?:\d{1,3}[.)]|\d{1,3}(?:\.\d{1,3})+\.?)\s+)?(?:(?:About|On|Re)\s+(?=\S))?")  # "2. About "
_DOTTED_RE = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")  # "e.g", "U.S", "p.m"
_POSSESSIVE_END_RE = re.compile(r"['’]s$")
_ALNUM_RE = re.compile(r"[^\W_]")  # what str.isalnum() accepts: \w less the underscore
_MARKUP_CHARS = "*_`#[]<>\"“”‘’"
_MARKUP_TO_SPACE = str.maketrans(dict.fromkeys(_MARKUP_CHARS, " "))  # one translate, not a loop over characters


# --- blocks -----------------------------------------------------------------------------------


@dataclass(slots=True)  # not frozen: a frozen one's __init__ sets each field through object.__setattr__ (105,477 blocks at 10 MB)
class Block:
    """A paragraph, list item or ``Label: value`` line of a passage, with what stands above it."""

    text: str  # whitespace-normalised, verbatim from the passage
    is_item: bool  # a bullet, numbered or "Label: value" line rather than prose
    topic: str  # the heading above, cleaned; "" when none
    group: int  # the paragraph or list it belongs to, for spreading picks
    asked: str  # the question the passage asks right before this block; "" when none


@dataclass
class _Reader:
    """Turns passage lines into blocks; the state a line-by-line Markdown reading needs."""

    blocks: list[Block]
    topic: str = ""
    asked: str = ""
    group: int = 0
    lines: list[str] | None = None  # the open block's lines
    is_item: bool = False

    def close(self) -> None:
        if not self.lines:
            self.lines = None
            return
        text = " ".join(" ".join(self.lines).split())
        self.lines = None
        core = strip_markup_edges(text)
        if core.endswith("?") and _is_standalone_question(core):
            self.asked = clean_phrase(_QA_PREFIX_RE.sub("", core))
            return
        if not self.is_item and not self.asked and _is_title_shaped(core):
            # After a question, a short line such as "Only on weekdays" is its answer, not a title.
            self.set_topic(text)
            return
        if self.asked and (match := _ANSWER_PREFIX_RE.match(text)):
            text = text[match.end():]  # "A: ..." after a "Q: ...?" line
        self.blocks.append(Block(text, self.is_item, self.topic, self.group, self.asked))
        self.asked = ""

    def open(self, line: str, is_item: bool) -> None:
        self.close()
        self.lines = [line]
        self.is_item = is_item

    def set_topic(self, heading: str) -> None:
        self.close()
        cleaned = clean_phrase(strip_markup_edges(heading))
        self.asked = cleaned if cleaned.endswith("?") else ""
        # A heading that is itself a question is answered below it, not a topic for other questions.
        # "About the museum" is about "the museum".
        self.topic = "" if self.asked else _topic(cleaned)
        self.group += 1

    def separate(self) -> None:
        self.close()
        self.group += 1


def _topic(heading: str) -> str:
    """"2. About the museum" is about "the museum"; "WEATHER LIMITS" reads as "weather limits"."""
    topic = _TOPIC_OPENING_RE.sub("", heading)
    return topic.lower() if len(topic.split()) > 1 and topic.isupper() else topic


def _is_standalone_question(text: str) -> bool:
    return len(split_sentences(text)) == 1 and len(text.split()) >= 2


def _looks_like_title(text: str) -> bool:
    """A short line with no sentence ending reads as a title: "Opening Hours", "IR-2023-01".

    Figures are allowed only in very short lines, so "Adults pay NOK 120 each" stays text.
    """
    return _is_title_shaped(strip_markup_edges(text))


def _is_title_shaped(stripped: str) -> bool:
    """`_looks_like_title` of a text without its markup edges."""
    words = len(stripped.split(None, 8))  # 9 pieces at most: a paragraph is not split whole to learn it is long
    return (
        words <= 8
        and not TERMINATED_RE.search(stripped)
        and (words <= 3 or not DIGIT_RE.search(stripped))
        and ":" not in stripped.rstrip(":")
        and (stripped[:1].isupper() or stripped[:1].isdigit())
    )


def _is_caps_title(stripped: str) -> bool:
    """"SAFETY RULES FOR VESSELS AND PIERS": a title line of a plain-text document."""
    # isupper() first: it is cheap and false for almost every line (counting letters first took 2.5 of
    # extract_pairs' 42 s under cProfile at 10 MB).
    return stripped.isupper() and 2 <= len(stripped.split()) <= 12 \
        and sum(1 for ch in stripped if ch.isalpha()) >= 4 and not TERMINATED_RE.search(stripped)


def read_blocks(passage: str) -> list[Block]:
    """The passage's blocks in order; headings become topics, and code, tables and markup are skipped."""
    reader = _Reader(blocks=[])
    fence = ""
    in_code = False  # an indented code block, which lasts until a blank line
    lines = passage.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for index, line in enumerate(lines):
        stripped = line.strip()
        if fence:
            if stripped.startswith(fence):
                fence = ""
            continue
        # Each pattern below is tried only when the line's first character can start it: most
        # lines are prose, and trying every pattern on every line took 0.9 of extract_pairs' 42 s under
        # cProfile at 10 MB.
        opening = stripped[:1]
        if opening in "`~" and (match := _FENCE_RE.match(line)):
            reader.separate()
            fence = match.group(1)
            continue
        if not stripped:
            reader.separate()
            in_code = False
            continue
        if in_code:
            continue
        if opening in "=-" and _SETEXT_RE.match(line) and reader.lines is not None and len(reader.lines) == 1 \
                and not reader.is_item:
            heading = reader.lines[0]
            reader.lines = None
            reader.set_topic(heading)
            continue
        if opening in "-*_" and _RULE_RE.match(line):
            reader.separate()
            continue
        if opening == "#" and (match := _ATX_RE.match(line)):
            reader.set_topic(match.group(1))
            continue
        if _is_skipped_line(stripped):
            reader.separate()
            continue
        if reader.lines is None and line.startswith(("\t", "    ")) and not _follows_item(lines, index):
            reader.separate()
            in_code = True
            continue
        if opening == ">":
            # Quote lines each stand alone: joining them would put their ">" marks inside answers.
            reader.open(stripped.lstrip("> ").strip(), is_item=False)
            reader.close()
            continue
        # A bullet opens with a mark or a digit, or is "a." or "A)".
        if (opening in _BULLET_MARKS or opening.isdecimal() or stripped[1:2] in ".)") and (match := _BULLET_RE.match(line)):
            item = line[match.end():].strip()
            if _is_numbered_title(match.group(), item, lines, index):
                reader.set_topic(item)  # "2. Leave" alone on its line: a numbered section title
            else:
                reader.open(item, is_item=True)
            continue
        if ":" in stripped and LABEL_RE.match(line):
            reader.open(stripped, is_item=True)
            continue
        if stripped.isupper() and _is_caps_title(stripped):
            reader.set_topic(stripped)
            continue
        if reader.lines is None:
            reader.open(stripped, is_item=False)
        else:
            reader.lines.append(stripped)
    reader.close()
    return reader.blocks


def _is_numbered_title(marker: str, item: str, lines: list[str], index: int) -> bool:
    alone = index + 1 >= len(lines) or not lines[index + 1].strip()
    return alone and marker.strip()[:1].isdigit() and _looks_like_title(item)


def _follows_item(lines: list[str], index: int) -> bool:
    """An indented line after a list item (with blank lines between) continues the item, not code."""
    for back in range(index - 1, -1, -1):
        previous = lines[back]
        if previous.strip():
            return bool(_BULLET_RE.match(previous)) or previous.startswith((" ", "\t"))
    return False


def _is_skipped_line(stripped: str) -> bool:
    """Tables, HTML, images, directives and boilerplate hold no answer worth asking for."""
    # Cheap tests on the first character before each pattern: this runs on every line, and
    # took 0.36 s of read_blocks' 0.97 s on 2,500 chunks of the 10 MB corpus.
    first = stripped[:1]
    if "|" in stripped and (first == "|" or stripped.count("|") >= 2):
        return True
    if _is_boilerplate(stripped) or (first in ".:" and _DIRECTIVE_RE.match(stripped)):
        return True
    if not first.isalnum() and not _ALNUM_RE.search(stripped):
        return True  # "----", "* * *", "»"
    if stripped.startswith("<") and stripped.endswith(">"):
        return True
    return stripped.startswith("![")


def _is_boilerplate(stripped: str) -> bool:
    if stripped.isascii():
        # Plain ASCII matches the pattern's words ignoring case only as its lower case does:
        # the search is needed only when they are there.
        lowered = stripped.lower()
        if ("(c)" in lowered or "all rights reserved" in lowered) and _BOILERPLATE_ANYWHERE_RE.search(stripped):
            return True
        if lowered[:1].isalnum() and not lowered.startswith(_BOILERPLATE_LINE_OPENINGS):
            return False  # the line pattern's \W* takes nothing before a letter or digit: one of its words must open the line
        return bool(_BOILERPLATE_LINE_RE.match(stripped))
    return bool(_BOILERPLATE_ANYWHERE_RE.search(stripped)) or bool(_BOILERPLATE_LINE_RE.match(stripped))


# --- sentences --------------------------------------------------------------------------------


def split_sentences(text: str) -> list[str]:
    """A block's sentences: it breaks after ".", "!", "?" or "…" before a new sentence, not after an abbreviation."""
    if "." not in text and "!" not in text and "?" not in text and "…" not in text:
        tail = text.strip()  # no sentence end to break at, as in most list items and label lines
        return [tail] if tail else []
    sentences: list[str] = []
    start = 0
    for match in _SENTENCE_END_RE.finditer(text):
        if _is_boundary(text, start, match):
            sentence = text[start:match.end()].strip()
            if sentence:
                sentences.append(sentence)
            start = match.end()
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def _is_boundary(text: str, start: int, match: re.Match[str]) -> bool:
    # The first character after the spaces, found in place: slicing off the rest of the block at
    # every full stop made long blocks quadratic. The end pattern's lookahead ensures there is one.
    following = _NEXT_CHARACTER_RE.match(text, match.end())
    first = following.group(1) if following else ""
    if not (first.isupper() or first.isdigit() or first in "\"'“‘([*_"):
        return False
    if not match.group().startswith(".") or match.group().startswith(".."):
        return True
    before = text[start:match.start()].rsplit(None, 1)  # the last word is all that is needed
    if not before:
        return True
    word = before[-1].lstrip("([\"'“‘*_")
    lower = word.lower()
    if lower in _NO_BREAK_AFTER:
        return False
    if lower in _NO_BREAK_BEFORE_DIGIT and first.isdigit():
        return False
    if len(word) == 1 and word.isupper():
        return False  # an initial, as in "J. Smith"
    if _DOTTED_RE.fullmatch(word):
        # "5 p.m. Everyone" ends a sentence; "e.g. Oslo" and "the U.S. Army" do not.
        return word.islower() and lower not in {"e.g", "i.e"}
    return True


# --- phrases ----------------------------------------------------------------------------------


def strip_markup_edges(text: str) -> str:
    """The text without the emphasis or code marks around it."""
    return text.strip().strip("*_`").strip()


def clean_phrase(text: str) -> str:
    """A phrase fit for a question: no Markdown marks or quotes, no trailing punctuation."""
    cleaned = " ".join(text.translate(_MARKUP_TO_SPACE).split())
    cleaned = cleaned.rstrip(",;:.").strip()
    if cleaned.count("(") != cleaned.count(")"):
        cleaned = " ".join(cleaned.replace("(", " ").replace(")", " ").split())
    return _POSSESSIVE_END_RE.sub("", cleaned)
