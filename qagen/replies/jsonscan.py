"""Finding the JSON values in a model's reply, tolerantly, and where they are damaged or cut off.

The low-level reading every reply reader shares (question/answer pairs in ``qagen.replies.pairs``,
candidate questions and check verdicts in ``qagen.replies.questions``, judge ratings in
``qagen.replies.ratings``); where the answer starts after a reasoning block is
``qagen.replies.reasoning``'s business:

- ``JSON_OPENER``: where a JSON value may start (``[`` or ``{``);
- ``JsonReader``: reads the JSON value at an offset into a ``JsonNode``, decoded whole or walked
  entry by entry so that each entry keeps its own source span; trailing commas are accepted,
  and raw control characters inside strings. Where reading breaks, a
  ``JsonBreak`` says where, why, and whether the text simply ended there (a reply cut off at
  the token limit) rather than went wrong;
- ``json_values``: every JSON value of the reply in order, damaged ones too, stepping over
  brackets in prose and over damage;
- ``plain_value``: the Python value of a node read without damage.

What counts as an item is the caller's business (the judge's ratings use
``JsonReader.decode_tolerant`` only): a subclass of ``JsonReader`` says which
decoded objects wrap items and are walked member by member (``JsonReader.wraps_items``).

Everything here is a pure function of the reply text; nothing is read, written or printed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator

__all__ = [
    "JSON_OPENER",
    "TOO_DEEP",
    "JsonBreak",
    "JsonNode",
    "JsonReader",
    "json_values",
    "plain_value",
]

# --------------------------------------------------------------------------- JSON values

_WHITESPACE = re.compile(r"[ \t\n\r]*")
JSON_OPENER = re.compile(r"[\[{]")
# What may precede an object on its own line: indentation, a list marker, a leading comma.
_LINE_HEAD = re.compile(r"[ \t]*(?:(?:\d{1,4}[.)]|[-*+>\u2022])[ \t]*)?,?[ \t]*")
_LINE_HEAD_LOOKBACK = 16
_SCALAR_PREFIX = re.compile(r"[-+.0-9eE]+")
_LITERALS = ("true", "false", "null", "NaN", "Infinity", "-Infinity")
_MAX_DEPTH = 32
TOO_DEEP = "The JSON is nested too deeply."
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
class JsonBreak:
    """Why and where reading a JSON value stopped."""

    pos: int  # where reading stopped
    last_good: int  # end of the last token read completely
    cut: bool  # the text ended before the value did
    why: str  # the decoder's complaint


@dataclass
class JsonNode:
    """A JSON value found in the reply: decoded whole, or walked part by part with its spans.

    Lists are always walked, so each entry keeps its own source span; objects are walked only
    when they wrap items (``JsonReader.wraps_items``) or when they do not decode in one piece.
    """

    start: int
    end: int  # one past the value; where reading stopped when broken
    value: Any = None  # set when decoded in one piece
    elements: list[JsonNode] | None = None  # set for a walked list
    members: list[tuple[str, JsonNode]] | None = None  # set for a walked object
    error: JsonBreak | None = None
    settled: int = -1  # end of the last complete entry of a walked container

    def children(self) -> list[JsonNode]:
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


class JsonReader:
    """Reads JSON values at given offsets of the reply, tolerating and locating damage."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.size = len(text)
        self.content_end = len(text.rstrip())

    def wraps_items(self, value: Any) -> bool:
        """Whether a decoded object holds items to read one by one, so it is walked member by member.

        Here no object does: each is kept whole unless it fails to decode. Readers of a kind of
        reply say which objects wrap their items.
        """
        return False

    def skip_ws(self, pos: int) -> int:
        match = _WHITESPACE.match(self.text, pos)
        return match.end() if match else pos

    def decode(self, pos: int, decoder: json.JSONDecoder = _STRICT) -> tuple[Any, int] | JsonBreak:
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
                return JsonBreak(pos + exc.pos, pos, cut, exc.msg)
            except (ValueError, RecursionError) as exc:  # huge integers, absurd nesting
                return JsonBreak(pos, pos, False, str(exc) or type(exc).__name__)
            if used == len(piece) and not reaches_end:
                window *= 4  # a number may go on past the window
                continue
            return value, pos + used

    def decode_tolerant(self, pos: int) -> tuple[Any, int] | JsonBreak:
        """``decode``, and again leniently when a raw control character inside a string stopped it.

        The lenient read comes only after the strict one failed, so an unclosed string cannot
        swallow the next JSONL line unnoticed.
        """
        got = self.decode(pos)
        if isinstance(got, JsonBreak) and "control character" in got.why:
            lenient = self.decode(pos, _LENIENT)
            if not isinstance(lenient, JsonBreak):
                return lenient
        return got

    def node(self, pos: int, depth: int) -> JsonNode:
        """The JSON value that starts at ``pos``, nested ``depth`` containers deep (0 for a top-level value)."""
        opener = self.text[pos]
        if depth >= _MAX_DEPTH:
            # No reply nests pairs this deep; reading on would only repeat the same work.
            return JsonNode(pos, pos, error=JsonBreak(pos, pos, False, TOO_DEEP))
        if opener == "[":
            return self._walk_list(pos, depth)
        if opener == "{":
            got = self.decode_tolerant(pos)
            if not isinstance(got, JsonBreak) and not self.wraps_items(got[0]):
                return JsonNode(pos, got[1], value=got[0])
            return self._walk_object(pos, depth)
        # A string read on its own (inside an object walked because it did not decode whole, say
        # for a trailing comma) may hold raw newlines too, as it could in an object decoded whole.
        got = self.decode_tolerant(pos) if opener == '"' else self.decode(pos)
        if isinstance(got, JsonBreak):
            return JsonNode(pos, got.pos, error=got)
        return JsonNode(pos, got[1], value=got[0])

    def _walk_list(self, start: int, depth: int) -> JsonNode:
        text = self.text
        elements: list[JsonNode] = []
        node = JsonNode(start, start, elements=elements, settled=start)
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

    def _walk_object(self, start: int, depth: int) -> JsonNode:
        text = self.text
        members: list[tuple[str, JsonNode]] = []
        node = JsonNode(start, start, members=members, settled=start)
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
            if isinstance(key, JsonBreak):
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

    def _broken(self, node: JsonNode, pos: int, cut: bool, why: str) -> JsonNode:
        cut = cut or _looks_cut(self.text, pos, why, self.content_end)  # "1." at the very end stops here, not in the decoder
        node.error = JsonBreak(pos, max(node.settled, node.start + 1), cut, why)
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


def json_values(
    reader: JsonReader,
    start: int,
    *,
    opens_value: Callable[[str, int], bool] | None = None,
    resume: Callable[[JsonNode], int] | None = None,
) -> Iterator[JsonNode]:
    """Every JSON value in the reader's text from ``start`` on, in order, damaged ones too.

    A bracket starts a value when ``reader.looks_like_json`` says so, or ``opens_value(text, pos)``
    does for a reader that knows more shapes; any other bracket is prose ("see [1]", "{name}").
    After a value read whole the search goes on at its end; after a damaged one at
    ``resume(node)``, called once the caller has handled the node (by default where reading
    broke, since what follows the damage may be fine), and always past the value's first
    character. A value the text ends inside is the last: everything left is inside it.
    """
    text = reader.text
    pos = start
    while (match := JSON_OPENER.search(text, pos)) is not None:
        begin = match.start()
        if not (reader.looks_like_json(begin) or (opens_value is not None and opens_value(text, begin))):
            pos = begin + 1
            continue
        node = reader.node(begin, 0)
        yield node
        if node.error is None:
            pos = node.end
        elif node.error.cut:
            return
        else:
            pos = max(begin + 1, node.error.pos if resume is None else resume(node))


def plain_value(node: JsonNode) -> Any:
    """The Python value of a node, its walked entries put back together."""
    if node.members is not None:
        return {key: plain_value(child) for key, child in node.members}
    if node.elements is not None:
        return [plain_value(child) for child in node.elements]
    return node.value
