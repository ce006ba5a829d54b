"""Turn a chat model's reply text into question/answer pairs.

The templates ask for one JSON object per line (``{"question": "...", "answer": "..."}``),
but real models wander. ``parse_reply`` accepts, in any mix:

- JSON Lines, with blank lines, trailing commas, or list markers (``1.``, ``-``, ``*``) before objects;
- a JSON array of objects, or an object wrapping such a list under any key
  (``{"pairs": [...]}``, ``{"data": {"questions": [...]}}``), or a single object that is one pair;
- any number of markdown code fences, and prose before, between and after the JSON;
- keys ``question``/``answer``, ``prompt``/``completion``, ``q``/``a``, ``input``/``output``,
  in any letter case (any question key goes with any answer key);
- trailing commas inside arrays and objects, and raw control characters inside strings;
- a reasoning block (``<think>...</think>``) before the answer, which is skipped;
- when no JSON pair is found: plain text in the ``Q: ... A: ...`` / ``Question: ... Answer: ...``
  style, with optional numbering and bold labels; a field runs over the following non-blank lines
  and a blank line closes it.

Strict about what it keeps: both fields are stripped and must be non-empty text (an int or float
answer becomes its decimal text); everything not kept is returned as a ``ParseFailure`` with its
source text. Prose around the JSON is not a failure, and neither are stray non-JSON tokens; text
that looks like JSON but is not is a failure. Failure reasons:

``empty_reply``     the reply is empty or only whitespace (``raw`` is the reply, possibly ``""``)
``no_pairs_found``  the reply yielded no pair at all; ``raw`` is the whole reply. Added whenever no
                    pair was kept, unless one failure already holds the whole reply
``malformed_json``  text that looks like a JSON object or list does not parse
``truncated_item``  the reply ends inside this item (cut off at max_tokens, or unterminated JSON)
``missing_field``   an object (or a Q/A block) lacks the question or the answer
``not_text``        a field is a list, object, boolean or non-finite number
``empty_field``     a field is empty, whitespace or null
``not_an_object``   an entry of a list of pairs is not an object (a bare string or number)

``ParseResult.truncated`` is true when the caller says the reply was cut off
(``finish_reason == "length"``) or when the text itself ends inside a JSON value.

Everything here is a pure function of the reply text; nothing is read, written or printed.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ANSWER_KEYS",
    "EMPTY_FIELD",
    "EMPTY_REPLY",
    "FAILURE_REASONS",
    "MALFORMED_JSON",
    "MISSING_FIELD",
    "NOT_AN_OBJECT",
    "NOT_TEXT",
    "NO_PAIRS_FOUND",
    "QUESTION_KEYS",
    "TRUNCATED_ITEM",
    "ParseFailure",
    "ParseResult",
    "ParsedItem",
    "parse_reply",
]

EMPTY_REPLY = "empty_reply"
NO_PAIRS_FOUND = "no_pairs_found"
MALFORMED_JSON = "malformed_json"
TRUNCATED_ITEM = "truncated_item"
MISSING_FIELD = "missing_field"
NOT_TEXT = "not_text"
EMPTY_FIELD = "empty_field"
NOT_AN_OBJECT = "not_an_object"
FAILURE_REASONS = frozenset(
    {
        EMPTY_REPLY,
        NO_PAIRS_FOUND,
        MALFORMED_JSON,
        TRUNCATED_ITEM,
        MISSING_FIELD,
        NOT_TEXT,
        EMPTY_FIELD,
        NOT_AN_OBJECT,
    }
)

# Accepted field names, compared after lower-casing; the first one present wins.
QUESTION_KEYS = ("question", "prompt", "q", "input")
ANSWER_KEYS = ("answer", "completion", "a", "output")
_PAIR_KEYS = frozenset(QUESTION_KEYS + ANSWER_KEYS)


@dataclass(frozen=True)
class ParsedItem:
    """One question/answer pair read from a reply."""

    question: str
    answer: str
    raw: str  # the source text of this item


@dataclass(frozen=True)
class ParseFailure:
    """A piece of a reply that was not kept, and why."""

    raw: str  # the text not kept; the whole reply when nothing was kept
    reason: str  # one of FAILURE_REASONS
    detail: str  # one human sentence


@dataclass(frozen=True)
class ParseResult:
    items: tuple[ParsedItem, ...]
    failures: tuple[ParseFailure, ...]
    truncated: bool  # the reply was cut off, by the caller's word or visibly in the text


def parse_reply(text: str, *, truncated: bool = False) -> ParseResult:
    """Read every question/answer pair in a model's reply.

    ``truncated`` is the caller's knowledge that generation stopped at the token limit
    (``Completion.truncated``); the result is also marked truncated when the text ends inside
    a JSON value. A reply that yields no pair always carries at least one failure.
    """
    if not text.strip():
        failure = ParseFailure(text, EMPTY_REPLY, "The model returned an empty reply.")
        return ParseResult((), (failure,), truncated)

    body_start = _answer_start(text)
    items: list[ParsedItem] = []
    failures: list[ParseFailure] = []
    cut = False
    if body_start is not None:
        scan = _JsonScan(text)
        scan.run(body_start)
        items, failures, cut = scan.items, scan.failures, scan.cut
        if not items:
            plain = _read_plain_pairs(text, body_start, truncated=truncated)
            items = plain.items
            failures = failures + plain.failures
            cut = cut or plain.cut
    is_truncated = truncated or cut

    if not items:
        failures = _with_whole_reply_failure(text, failures, is_truncated, body_start is None)
    return ParseResult(tuple(items), tuple(failures), is_truncated)


# --------------------------------------------------------------------------- shared helpers

_REASONING_CLOSE = re.compile(r"</think(?:ing)?>")
_REASONING_OPEN = re.compile(r"\s*<think(?:ing)?>")


def _answer_start(text: str) -> int | None:
    """Where the answer begins after a reasoning block; None when the reply is only reasoning."""
    close = _REASONING_CLOSE.search(text)
    if close is not None:
        # Some servers drop the opening tag but keep the closing one, so the close alone counts.
        return close.end()
    if _REASONING_OPEN.match(text):
        return None
    return 0


def _with_whole_reply_failure(
    text: str, failures: list[ParseFailure], truncated: bool, only_reasoning: bool
) -> list[ParseFailure]:
    whole = text.strip()
    if any(len(f.raw) == len(whole) and f.raw == whole for f in failures):
        return failures
    if only_reasoning:
        detail = "The reply holds only the model's reasoning block and no question/answer pair."
    elif truncated:
        detail = "The reply was cut off before any complete question/answer pair."
    elif failures:
        detail = f"No question/answer pair could be kept from the reply ({len(failures)} part(s) rejected)."
    else:
        detail = "No question/answer pair was found in the reply."
    return [*failures, ParseFailure(text, NO_PAIRS_FOUND, detail)]


def _field_text(value: Any, *, numbers_allowed: bool) -> tuple[str | None, str | None]:
    """The stripped text of a field, or (None, reason) when it is not usable text."""
    if value is None:
        return None, EMPTY_FIELD
    if isinstance(value, str):
        stripped = value.strip()
        return (stripped, None) if stripped else (None, EMPTY_FIELD)
    # bool is an int subclass, and "True" as an answer is a model error, not a number.
    if numbers_allowed and isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            return None, NOT_TEXT
        return str(value), None
    return None, NOT_TEXT


def _kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _pair_from_object(obj: Any, raw: str) -> ParsedItem | ParseFailure:
    if not isinstance(obj, dict):
        return ParseFailure(raw, NOT_AN_OBJECT, f"Expected a question/answer object, got {_kind_of(obj)}.")
    fields: dict[str, Any] = {}
    for key, value in obj.items():
        fields.setdefault(key.strip().lower(), value)
    question_key = next((k for k in QUESTION_KEYS if k in fields), None)
    answer_key = next((k for k in ANSWER_KEYS if k in fields), None)
    if question_key is None or answer_key is None:
        missing = " and ".join(
            name for name, key in (("question", question_key), ("answer", answer_key)) if key is None
        )
        return ParseFailure(raw, MISSING_FIELD, f"The object has no {missing} field.")
    question, problem = _field_text(fields[question_key], numbers_allowed=False)
    if question is None:
        return ParseFailure(raw, problem or NOT_TEXT, _field_problem("question", fields[question_key], problem))
    answer, problem = _field_text(fields[answer_key], numbers_allowed=True)
    if answer is None:
        return ParseFailure(raw, problem or NOT_TEXT, _field_problem("answer", fields[answer_key], problem))
    return ParsedItem(question, answer, raw)


def _field_problem(name: str, value: Any, problem: str | None) -> str:
    if problem == EMPTY_FIELD:
        return f"The {name} is empty."
    return f"The {name} is {_kind_of(value)}, not text."


def _has_pair_key(keys: Any) -> bool:
    return any(isinstance(k, str) and k.strip().lower() in _PAIR_KEYS for k in keys)


def _wraps_items(obj: Any) -> bool:
    """An object that is not a pair itself but holds lists or objects that may be pairs."""
    return (
        isinstance(obj, dict)
        and not _has_pair_key(obj.keys())
        and any(isinstance(v, (list, dict)) for v in obj.values())
    )


# --------------------------------------------------------------------------- JSON reading

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_OPENER = re.compile(r"[\[{]")
# What may precede an object on its own line: indentation, a list marker, a leading comma.
_LINE_HEAD = re.compile(r"[ \t]*(?:(?:\d{1,4}[.)]|[-*+>\u2022])[ \t]*)?,?[ \t]*")
_LINE_HEAD_LOOKBACK = 16
_SCALAR_PREFIX = re.compile(r"[-+.0-9eE]+")
_LITERALS = ("true", "false", "null", "NaN", "Infinity", "-Infinity")
_MAX_DEPTH = 32
_TOO_DEEP = "The JSON is nested too deeply."
_FIRST_WINDOW = 1024

_STRICT = json.JSONDecoder()
# Some models write raw newlines or tabs inside strings; only tried on a whole object after the
# strict read failed, so an unclosed string cannot swallow the next JSONL line unnoticed.
_LENIENT = json.JSONDecoder(strict=False)


def _looks_cut(text: str, pos: int, msg: str, content_end: int) -> bool:
    """Whether a decode error at ``pos`` means the text ended rather than went wrong."""
    if msg.startswith("Unterminated string"):
        return True  # the string runs to the end of the text
    if pos >= content_end:
        return True
    rest = content_end - pos
    if msg.startswith("Invalid \\uXXXX escape"):
        return rest <= 5
    if rest > 12:
        return False
    token = text[pos:content_end]
    if any(word.startswith(token) for word in _LITERALS):
        return True
    # A number cut mid-token ("1.", "2e", "-") fails at the dot or the sign, not at the end.
    in_number = token[0] in "-0123456789" or (pos > 0 and text[pos - 1].isdigit())
    return in_number and _SCALAR_PREFIX.fullmatch(token) is not None


@dataclass
class _Break:
    """Why and where reading a JSON value stopped."""

    pos: int  # where reading stopped
    last_good: int  # end of the last token read completely
    cut: bool  # the text ended before the value did
    why: str  # the decoder's complaint


@dataclass
class _Node:
    """A JSON value found in the reply: decoded whole, or walked part by part with its spans.

    Lists are always walked, so each entry keeps its own source span; objects are walked only
    when they wrap pairs or when they do not decode in one piece.
    """

    start: int
    end: int  # one past the value; where reading stopped when broken
    value: Any = None  # set when decoded in one piece
    elements: list[_Node] | None = None  # set for a walked list
    members: list[tuple[str, _Node]] | None = None  # set for a walked object
    error: _Break | None = None
    settled: int = -1  # end of the last complete entry of a walked container

    def children(self) -> list[_Node]:
        if self.elements is not None:
            return self.elements
        if self.members is not None:
            return [child for _, child in self.members]
        return []

    def broke_in_container_child(self) -> bool:
        kids = self.children()
        return bool(kids) and kids[-1].error is not None and kids[-1].error is self.error and kids[-1].is_container

    @property
    def is_container(self) -> bool:
        return self.elements is not None or self.members is not None or isinstance(self.value, (dict, list))


class _Reader:
    """Reads JSON values at given offsets of the reply, tolerating and locating damage."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.size = len(text)
        self.content_end = len(text.rstrip())

    def skip_ws(self, pos: int) -> int:
        match = _WHITESPACE.match(self.text, pos)
        return match.end() if match else pos

    def decode(self, pos: int, decoder: json.JSONDecoder = _STRICT) -> tuple[Any, int] | _Break:
        """One JSON value at ``pos``, read through a growing window of the text.

        A decode error works out its line and column by counting over all the text before it,
        which would make many failures in a long reply quadratic; a window keeps that local.
        """
        window = _FIRST_WINDOW
        while True:
            stop = min(self.size, pos + window)
            reaches_end = stop == self.size
            piece = self.text[pos:stop]
            content_end = self.content_end - pos if reaches_end else len(piece)
            try:
                value, used = decoder.raw_decode(piece)
            except json.JSONDecodeError as exc:
                cut = _looks_cut(piece, exc.pos, exc.msg, content_end)
                if cut and not reaches_end:
                    window *= 4  # the value runs past the window
                    continue
                return _Break(pos + exc.pos, pos, cut, exc.msg)
            except (ValueError, RecursionError) as exc:  # huge integers, absurd nesting
                return _Break(pos, pos, False, str(exc) or type(exc).__name__)
            if used == len(piece) and not reaches_end:
                window *= 4  # a number may go on past the window
                continue
            return value, pos + used

    def node(self, pos: int, depth: int) -> _Node:
        opener = self.text[pos]
        if depth >= _MAX_DEPTH:
            # No reply nests pairs this deep; reading on would only repeat the same work.
            return _Node(pos, pos, error=_Break(pos, pos, False, _TOO_DEEP))
        if opener == "[":
            return self._walk_list(pos, depth)
        if opener == "{":
            got = self.decode(pos)
            if isinstance(got, _Break) and "control character" in got.why:
                lenient = self.decode(pos, _LENIENT)
                if not isinstance(lenient, _Break):
                    got = lenient
            if not isinstance(got, _Break) and not _wraps_items(got[0]):
                return _Node(pos, got[1], value=got[0])
            return self._walk_object(pos, depth)
        got = self.decode(pos)
        if isinstance(got, _Break):
            return _Node(pos, got.pos, error=got)
        return _Node(pos, got[1], value=got[0])

    def _walk_list(self, start: int, depth: int) -> _Node:
        text = self.text
        elements: list[_Node] = []
        node = _Node(start, start, elements=elements, settled=start)
        pos = start + 1
        while True:
            pos = self.skip_ws(pos)
            if pos >= self.size:
                return self._broken(node, pos, True, "The list is not closed.")
            if text[pos] == "]":  # also accepts a trailing comma
                node.end = pos + 1
                return node
            child = self.node(pos, depth + 1)
            elements.append(child)
            if child.error is not None:
                node.error, node.end = child.error, child.end
                return node
            node.settled = child.end
            pos = self.skip_ws(child.end)
            if pos >= self.size:
                return self._broken(node, pos, True, "The list is not closed.")
            if text[pos] == ",":
                pos += 1
            elif text[pos] == "]":
                node.end = pos + 1
                return node
            else:
                return self._broken(node, pos, False, "Expecting ',' or ']' after a list entry.")

    def _walk_object(self, start: int, depth: int) -> _Node:
        text = self.text
        members: list[tuple[str, _Node]] = []
        node = _Node(start, start, members=members, settled=start)
        pos = start + 1
        while True:
            pos = self.skip_ws(pos)
            if pos >= self.size:
                return self._broken(node, pos, True, "The object is not closed.")
            if text[pos] == "}":  # also accepts a trailing comma
                node.end = pos + 1
                return node
            if text[pos] != '"':
                return self._broken(node, pos, False, "Expecting a property name in double quotes.")
            key = self.decode(pos)
            if isinstance(key, _Break):
                return self._broken(node, key.pos, key.cut, key.why)
            pos = self.skip_ws(key[1])
            if pos >= self.size:
                return self._broken(node, pos, True, "The object is not closed.")
            if text[pos] != ":":
                return self._broken(node, pos, False, "Expecting ':' after a property name.")
            pos = self.skip_ws(pos + 1)
            if pos >= self.size:
                return self._broken(node, pos, True, "The object is not closed.")
            child = self.node(pos, depth + 1)
            members.append((key[0], child))
            if child.error is not None:
                node.error, node.end = child.error, child.end
                return node
            node.settled = child.end
            pos = self.skip_ws(child.end)
            if pos >= self.size:
                return self._broken(node, pos, True, "The object is not closed.")
            if text[pos] == ",":
                pos += 1
            elif text[pos] == "}":
                node.end = pos + 1
                return node
            else:
                return self._broken(node, pos, False, "Expecting ',' or '}' after a property.")

    def _broken(self, node: _Node, pos: int, cut: bool, why: str) -> _Node:
        cut = cut or _looks_cut(self.text, pos, why, self.content_end)  # "1." at the very end stops here, not in the decoder
        node.error = _Break(pos, max(node.settled, node.start + 1), cut, why)
        node.end = pos
        return node

    def looks_like_json(self, pos: int) -> bool:
        """Whether an opening bracket starts JSON rather than sitting in prose ("see [1]", "{x}")."""
        after = self.skip_ws(pos + 1)
        following = self.text[after] if after < self.size else ""
        if self.text[pos] == "{":
            return following in ('"', "") or self.at_line_head(pos)
        return following in ("{", "[")

    def at_line_head(self, pos: int) -> bool:
        low = max(0, pos - _LINE_HEAD_LOOKBACK)
        segment = self.text[low:pos]
        newline = segment.rfind("\n")
        if newline >= 0:
            segment = segment[newline + 1 :]
        elif low > 0:
            return False  # too much text before it on its line
        return _LINE_HEAD.fullmatch(segment) is not None

    def line_end(self, pos: int) -> int:
        end = self.text.find("\n", pos)
        return self.size if end < 0 else end


def _plain_value(node: _Node) -> Any:
    if node.members is not None:
        return {key: _plain_value(child) for key, child in node.members}
    if node.elements is not None:
        return [_plain_value(child) for child in node.elements]
    return node.value


def _bears_items(node: _Node) -> bool:
    """A list counts as a list of pairs when it holds an object (possibly in a nested list)."""
    for child in node.elements or ():
        if child.members is not None or isinstance(child.value, dict):
            return True
        if child.elements is not None and _bears_items(child):
            return True
    return False


class _JsonScan:
    """Finds every JSON value in the reply, in order, and sorts what it holds into items and failures."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.reader = _Reader(text)
        self.items: list[ParsedItem] = []
        self.failures: list[ParseFailure] = []
        self.cut = False  # the text ends inside a JSON value
        self._resume = 0  # where a reported damaged item ends, so the scan goes on after it

    def run(self, start: int) -> None:
        reader = self.reader
        pos = start
        while True:
            match = _OPENER.search(self.text, pos)
            if match is None:
                return
            begin = match.start()
            if not reader.looks_like_json(begin):
                pos = begin + 1
                continue
            node = reader.node(begin, 0)
            self._resume = 0
            self._take(node)
            if node.error is None:
                pos = node.end
            elif node.error.cut:
                self.cut = True
                return  # everything left is inside the unfinished value
            elif node.error.why == _TOO_DEEP:
                pos = reader.line_end(node.error.pos)
            else:
                pos = max(begin + 1, self._resume or node.error.pos)

    def _take(self, node: _Node) -> None:
        """A value where a pair, or a container of pairs, is expected."""
        if node.members is not None or isinstance(node.value, dict):
            self._take_object(node)
        elif node.elements is not None:
            self._take_list(node)
        elif node.error is not None:
            self._take_tail(node)
        else:
            raw = self.text[node.start : node.end]
            self.failures.append(_pair_from_object(node.value, raw))  # a not_an_object failure

    def _take_object(self, node: _Node) -> None:
        raw_end = node.end
        if node.members is None:
            self._keep(_pair_from_object(node.value, self.text[node.start : raw_end]))
            return
        keys = [key for key, _ in node.members]
        wraps = any(child.is_container for _, child in node.members)
        if _has_pair_key(keys) or not wraps:
            if node.error is None:
                self._keep(_pair_from_object(_plain_value(node), self.text[node.start : raw_end]))
            else:
                self._fail_item(node)
            return
        for _, child in node.members:
            if child.elements is not None:
                self._take_list(child)
            elif child.members is not None or (isinstance(child.value, dict) and _has_pair_key(child.value)):
                self._take_object(child)
            # Other members (a title, a count, a plain metadata object) are not pairs.
        if node.error is not None and not node.broke_in_container_child():
            self._take_tail(node)

    def _take_list(self, node: _Node) -> None:
        if not _bears_items(node):
            if node.error is not None and node.error.cut:
                self.cut = True
            return
        for child in node.elements or ():
            if child.is_container or child.error is None:
                self._take(child)  # a broken bare token is left to _take_tail
        if node.error is not None and not node.broke_in_container_child():
            self._take_tail(node)

    def _take_tail(self, node: _Node) -> None:
        """Damage in a container between its entries: report it only when the text was cut there."""
        error = node.error
        assert error is not None
        if not error.cut:
            return  # stray tokens between entries; the scan resumes at the damage
        self.cut = True
        start = node.settled if node.settled > node.start else node.start
        raw = self.text[start:].strip().lstrip(",").strip()
        if raw:
            self.failures.append(
                ParseFailure(raw, TRUNCATED_ITEM, "The reply was cut off in the middle of this item.")
            )

    def _fail_item(self, node: _Node) -> None:
        error = node.error
        assert error is not None
        if error.cut:
            self.cut = True
            raw = self.text[node.start :].strip()
            self.failures.append(
                ParseFailure(raw, TRUNCATED_ITEM, "The reply was cut off in the middle of this item.")
            )
            return
        end = self._malformed_end(node.start, error)
        self._resume = max(self._resume, end)
        raw = self.text[node.start : end].strip() or self.text[node.start : node.start + 1]
        why = error.why.rstrip(".")
        self.failures.append(ParseFailure(raw, MALFORMED_JSON, f"This looks like JSON but does not parse: {why}."))

    def _malformed_end(self, start: int, error: _Break) -> int:
        """Where a damaged item most likely ends: its line in JSON Lines, its closing brace inline."""
        reader = self.reader
        if reader.at_line_head(start):
            # An item on its own line(s) ends with the line where reading last went well, so a
            # missing closing brace does not swallow the next line.
            return reader.line_end(max(error.last_good, start))
        close = self.text.find("}", error.pos)
        if close >= 0 and self.text.find("\n", error.pos, close) < 0:
            return close + 1
        return reader.line_end(error.pos)

    def _keep(self, outcome: ParsedItem | ParseFailure) -> None:
        if isinstance(outcome, ParsedItem):
            self.items.append(outcome)
        else:
            self.failures.append(outcome)


# --------------------------------------------------------------------------- plain-text fallback

# "Q: ...", "Question 3: ...", "1. **Q:** ...", "**Answer**: ...", "- A: ..."; one match per line,
# no nested repetition, so it stays linear on any input.
_LABEL = re.compile(
    r"[ \t]*(?:(?:\d{1,4}[.)]|[-*+\u2022]|#{1,6})[ \t]*)?"
    r"(?:\*\*|__)?(?P<label>question|answer|q|a)(?:[ \t]*#?\d{1,4})?"
    r"[ \t]*(?:\*\*|__)?[ \t]*[:\uff1a][ \t]*(?:\*\*|__)?[ \t]*",
    re.IGNORECASE,
)


@dataclass
class _PlainResult:
    items: list[ParsedItem]
    failures: list[ParseFailure]
    cut: bool


@dataclass
class _Block:
    start: int
    end: int
    question: list[str] | None = None
    answer: list[str] | None = None
    open_field: str | None = None  # "q" or "a" while continuation lines still belong to it


def _read_plain_pairs(text: str, start: int, *, truncated: bool) -> _PlainResult:
    blocks: list[_Block] = []
    current: _Block | None = None
    pos = start
    size = len(text)
    while pos < size:
        newline = text.find("\n", pos)
        line_end = size if newline < 0 else newline
        line = text[pos:line_end].rstrip("\r")
        label = _LABEL.match(line)
        if label is not None:
            content = line[label.end() :]
            is_question = label.group("label").lower() in ("q", "question")
            if is_question or current is None or current.answer is not None or current.question is None:
                current = _Block(pos, line_end)
                blocks.append(current)
            if is_question:
                current.question, current.open_field = [content], "q"
            else:
                current.answer, current.open_field = [content], "a"
            current.end = line_end
        elif not line.strip():
            if current is not None:
                current.open_field = None
        elif current is not None and current.open_field is not None:
            target = current.question if current.open_field == "q" else current.answer
            assert target is not None
            target.append(line)
            current.end = line_end
        pos = line_end + 1

    items: list[ParsedItem] = []
    failures: list[ParseFailure] = []
    cut = False
    content_end = len(text.rstrip())
    for block in blocks:
        raw = text[block.start : block.end].strip()
        if truncated and block is blocks[-1] and block.open_field is not None and block.end >= content_end:
            # The model was still writing this block when it hit the token limit.
            cut = True
            failures.append(ParseFailure(raw, TRUNCATED_ITEM, "The reply was cut off in the middle of this item."))
            continue
        if block.question is None or block.answer is None:
            missing = "answer" if block.answer is None else "question"
            failures.append(ParseFailure(raw, MISSING_FIELD, f"This question/answer block has no {missing}."))
            continue
        outcome = _pair_from_object({"question": "\n".join(block.question), "answer": "\n".join(block.answer)}, raw)
        if isinstance(outcome, ParsedItem):
            items.append(outcome)
        else:
            failures.append(outcome)
    return _PlainResult(items, failures, cut)
