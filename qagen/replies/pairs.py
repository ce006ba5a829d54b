"""Turn a chat model's reply text into question/answer pairs.

The templates ask for one JSON object per line (``{"question": "...", "answer": "..."}``),
but real models wander. ``parse_reply`` accepts, in any mix:

- JSON Lines, with blank lines, trailing commas, or list markers (``1.``, ``-``, ``*``) before objects;
- a JSON array of objects, or an object wrapping such a list under any key
  (``{"pairs": [...]}``, ``{"data": {"questions": [...]}}``), or a single object that is one pair;
- any number of markdown code fences, and prose before, between and after the JSON;
- keys ``question``/``answer``, ``prompt``/``completion``, ``q``/``a``, ``input``/``output``,
  in any letter case (any question key goes with any answer key), and an answer under ``response``
  in an object that has a question key and no answer key;
- trailing commas inside arrays and objects, and raw control characters inside strings;
- a reasoning block (``<think>...</think>``) before the answer, which is skipped;
- when no JSON pair is found: plain text in the ``Q: ... A: ...`` / ``Question: ... Answer: ...``
  style, with optional numbering and bold labels; a field runs over the following non-blank lines
  and a blank line closes it. A numbered line or a markdown heading that asks a question
  (``1. What ...?``, ``### 2. What ...?``) is a question without a label; its answer is the next
  ``Answer:``/``A:`` line, or, under a heading, the paragraph that follows.

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
``empty_list``      the reply is an empty list of pairs (``{"pairs": []}``: a schema without ``minItems``)
``runaway_reply``   a reply cut off at the token limit that repeats a pair or holds more than asked:
                    pairs past the first ``asked`` distinct ones

``parse_reply(..., asked=n)`` knows how many pairs were asked, which is how a runaway is recognised.

``ParseResult.truncated`` is true when the caller says the reply was cut off
(``finish_reason == "length"``) or when the text itself ends inside a JSON value.

The JSON values are found by ``qagen.replies.jsonscan``, the plain-text blocks by
``qagen.replies.plaintext``; this module decides which of them are pairs.
Everything here is a pure function of the reply text; nothing is read, written or printed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from qagen.replies.jsonscan import TOO_DEEP, JsonBreak, JsonNode, JsonReader, json_values, plain_value
from qagen.replies.plaintext import read_blocks
from qagen.replies.reasoning import answer_start

__all__ = [
    "ANSWER_KEYS",
    "EMPTY_FIELD",
    "EMPTY_LIST",
    "EMPTY_REPLY",
    "FAILURE_REASONS",
    "MALFORMED_JSON",
    "MISSING_FIELD",
    "NOT_AN_OBJECT",
    "NOT_TEXT",
    "NO_PAIRS_FOUND",
    "QUESTION_KEYS",
    "RUNAWAY_REPLY",
    "TRUNCATED_ITEM",
    "ParseFailure",
    "ParseResult",
    "PairReader",
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
EMPTY_LIST = "empty_list"
RUNAWAY_REPLY = "runaway_reply"
FAILURE_REASONS = frozenset(
    {
        EMPTY_LIST,
        RUNAWAY_REPLY,
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
# Small models put the answer under "response"; only read as one beside a question key, so an object
# wrapping its pairs under "response" is still walked into.
LOOSE_ANSWER_KEYS = ("response",)
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


def parse_reply(text: str, *, truncated: bool = False, asked: int | None = None) -> ParseResult:
    """Read every question/answer pair in a model's reply.

    ``truncated`` is the caller's knowledge that generation stopped at the token limit
    (``Completion.truncated``); the result is also marked truncated when the text ends inside
    a JSON value. ``asked`` is the number of pairs the request asked for: a truncated reply
    that repeats a pair or holds more than that is a runaway, and keeps only its first
    ``asked`` distinct pairs. A reply that yields no pair always carries at least one failure.
    """
    if not text.strip():
        failure = ParseFailure(text, EMPTY_REPLY, "The model returned an empty reply.")
        return ParseResult((), (failure,), truncated)

    body_start = answer_start(text)
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
    if truncated and asked is not None:
        items, runaway = _without_runaway(items, asked)
        failures = failures + runaway
    if items:  # an empty list beside the pairs ({"pairs": [...], "tags": []}) is not a failure
        failures = [f for f in failures if f.reason != EMPTY_LIST]

    if not items:
        failures = _with_whole_reply_failure(text, failures, is_truncated, body_start is None)
    return ParseResult(tuple(items), tuple(failures), is_truncated)


# --------------------------------------------------------------------------- shared helpers

def _without_runaway(items: list[ParsedItem], asked: int) -> tuple[list[ParsedItem], list[ParseFailure]]:
    """The first ``asked`` distinct pairs of a cut-off reply, and the rest as runaway failures.

    A small model caught in a loop writes the same pairs until the token limit (one gave 21
    pairs when 5 were asked); each repeat would otherwise count as a pair of its own.
    """
    questions = [" ".join(item.question.split()).casefold() for item in items]
    if len(items) <= asked and len(set(questions)) == len(questions):
        return items, []
    kept: list[ParsedItem] = []
    seen: set[str] = set()
    failures: list[ParseFailure] = []
    for item, question in zip(items, questions):
        if question not in seen and len(kept) < asked:
            seen.add(question)
            kept.append(item)
            continue
        why = "repeats an earlier pair" if question in seen else f"goes past the {asked} pair(s) asked for"
        failures.append(ParseFailure(
            item.raw, RUNAWAY_REPLY,
            f"The reply ran on until the token limit, and this pair {why}; it repeats itself or runs away, so only its first distinct pairs are kept.",
        ))
    return kept, failures


def _with_whole_reply_failure(
    text: str, failures: list[ParseFailure], truncated: bool, only_reasoning: bool
) -> list[ParseFailure]:
    whole = text.strip()
    if failures and all(f.reason == EMPTY_LIST for f in failures):
        return [ParseFailure(text, EMPTY_LIST, "The reply's list of pairs is empty; the model wrote no pair.")]
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


def _not_an_object(obj: Any, raw: str) -> ParseFailure:
    return ParseFailure(raw, NOT_AN_OBJECT, f"Expected a question/answer object, got {_kind_of(obj)}.")


def _pair_from_object(obj: Any, raw: str) -> ParsedItem | ParseFailure:
    if not isinstance(obj, dict):
        return _not_an_object(obj, raw)
    fields: dict[str, Any] = {}
    for key, value in obj.items():
        fields.setdefault(key.strip().lower(), value)
    question_key = next((k for k in QUESTION_KEYS if k in fields), None)
    answer_key = next((k for k in ANSWER_KEYS if k in fields), None)
    if answer_key is None and question_key is not None:
        answer_key = next((k for k in LOOSE_ANSWER_KEYS if k in fields), None)
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


# --------------------------------------------------------------------------- JSON values to pairs

class PairReader(JsonReader):
    """A ``JsonReader`` that walks into objects wrapping question/answer pairs (``{"pairs": [...]}``)."""

    def wraps_items(self, value: Any) -> bool:
        return _wraps_items(value)


def _bears_items(node: JsonNode) -> bool:
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
        self.reader = PairReader(text)
        self.items: list[ParsedItem] = []
        self.failures: list[ParseFailure] = []
        self.cut = False  # the text ends inside a JSON value
        self._resume = 0  # where a reported damaged item ends, so the scan goes on after it

    def run(self, start: int) -> None:
        for node in json_values(self.reader, start, resume=self._resume_after):
            self._resume = 0
            self._take(node)
            if node.error is not None and node.error.cut:
                self.cut = True

    def _resume_after(self, node: JsonNode) -> int:
        """Where the scan goes on after a damaged value: past a reported item, or the damage itself."""
        error = node.error
        assert error is not None
        if error.why == TOO_DEEP:
            return self.reader.line_end(error.pos)
        return self._resume or error.pos

    def _take(self, node: JsonNode) -> None:
        """A value where a pair, or a container of pairs, is expected."""
        if node.members is not None or isinstance(node.value, dict):
            self._take_object(node)
        elif node.elements is not None:
            self._take_list(node)
        elif node.error is not None:
            self._take_tail(node)
        else:
            self.failures.append(_not_an_object(node.value, self.text[node.start : node.end]))

    def _take_object(self, node: JsonNode) -> None:
        raw_end = node.end
        if node.members is None:
            self._keep(_pair_from_object(node.value, self.text[node.start : raw_end]))
            return
        keys = [key for key, _ in node.members]
        wraps = any(child.is_container for _, child in node.members)
        if _has_pair_key(keys) or not wraps:
            if node.error is None:
                self._keep(_pair_from_object(plain_value(node), self.text[node.start : raw_end]))
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

    def _take_list(self, node: JsonNode) -> None:
        if node.elements == [] and node.error is None:
            self.failures.append(ParseFailure(self.text[node.start : node.end], EMPTY_LIST, "The list of pairs is empty."))
            return
        if not _bears_items(node):
            if node.error is not None and node.error.cut:
                self.cut = True
            return
        for child in node.elements or ():
            if child.is_container or child.error is None:
                self._take(child)  # a broken bare token is left to _take_tail
        if node.error is not None and not node.broke_in_container_child():
            self._take_tail(node)

    def _take_tail(self, node: JsonNode) -> None:
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

    def _fail_item(self, node: JsonNode) -> None:
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

    def _malformed_end(self, start: int, error: JsonBreak) -> int:
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

@dataclass
class _PlainResult:
    items: list[ParsedItem]
    failures: list[ParseFailure]
    cut: bool


def _read_plain_pairs(text: str, start: int, *, truncated: bool) -> _PlainResult:
    blocks = read_blocks(text, start)
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
