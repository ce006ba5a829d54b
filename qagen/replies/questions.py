"""The "I don't know" candidates in a model's reply: ``parse_questions`` and ``parse_check``.

``parse_questions`` reads the reply to ``templates/idk.json`` (questions the shown excerpts
do not answer); ``parse_check`` the reply to ``templates/idk_check.json`` (do these passages
answer the question?). Both skip a reasoning block (``qagen.replies.reasoning``) and find
JSON anywhere in the reply (code fences, prose around it) with the tolerant reader and scan
of ``qagen.replies.jsonscan``. Pure functions of the reply text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

from qagen.replies.jsonscan import JsonNode, json_values, plain_value
from qagen.replies.pairs import QUESTION_KEYS, PairReader as _Reader
from qagen.replies.reasoning import answer_start


def parse_questions(reply: str) -> tuple[list[str], list[str]]:
    """The candidate questions in a model's reply to ``templates/idk.json``, and what was not kept.

    Reads, in any mix: JSON Lines ``{"question": "..."}`` (any key of
    ``qagen.replies.pairs.QUESTION_KEYS``, any letter case), a JSON array of strings or of such
    objects, an object wrapping them (``{"questions": [...]}``), with code fences and prose
    around. When the reply holds no JSON question at all, or none that can be kept, plain lines
    are read instead: the numbered or bulleted ones (``1.``, ``-``, ``Q:``...), or every line
    when none is.

    Kept are questions ending with "?", whitespace collapsed, each once (compared without
    letter case). Everything else is described by one sentence in the second list: text
    that is not a question, a repeat, a list item or JSON object that could not be read, a
    reply cut off mid-question. The second list is never empty when the first is.
    """
    if not reply.strip():
        return [], ["The model returned an empty reply."]
    start = answer_start(reply)
    if start is None:
        return [], ["The reply holds only the model's reasoning and no question."]
    scan = _JsonQuestions(reply)
    scan.run(start)
    candidates, problems = scan.candidates, scan.problems
    if not scan.saw_questions:
        candidates, problems = _plain_questions(reply[start:])
        problems = scan.problems + problems
    questions, rejected = _distinct_questions(candidates)
    problems = problems + rejected
    if not questions and scan.saw_questions:
        # The JSON held no usable question (a small model left off the "?"); its plain lines may.
        plain, plain_problems = _plain_questions(reply[start:])
        questions, rejected = _distinct_questions(plain)
        problems = problems + plain_problems + rejected
    if not questions:
        problems.append("No question could be kept from the reply." if problems else "No question was found in the reply.")
    return questions, problems


class _JsonQuestions:
    """Every question held by JSON values in a reply, with a sentence for each damaged value."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.reader = _Reader(text)
        self.candidates: list[str] = []
        self.problems: list[str] = []
        self.saw_questions = False  # some JSON value held questions (kept or not)

    def run(self, start: int) -> None:
        for node in _json_nodes(self.reader, start):
            self._take(node, listed=False)

    def _take(self, node: JsonNode, *, listed: bool) -> None:
        if node.error is None:
            self._take_value(plain_value(node), listed=listed)
            return
        if node.members is not None and _question_key([key for key, _ in node.members]) is not None:
            self.saw_questions = True  # a damaged question object: not read part by part
            self.problems.append(_damage(self.text, node))
            return
        children = node.children()
        for child in children:
            self._take(child, listed=node.elements is not None)
        # The damage is reported once, by the innermost value it happened in.
        if not (children and children[-1].error is node.error):
            if listed:
                self.saw_questions = True
            self.problems.append(_damage(self.text, node))

    def _take_value(self, value: Any, *, listed: bool) -> None:
        if isinstance(value, str):
            if listed:  # a string in a list; a string elsewhere is metadata ("note", "title")
                self.saw_questions = True
                self.candidates.append(value)
        elif isinstance(value, list):
            for item in value:
                self._take_value(item, listed=True)
        elif isinstance(value, dict):
            key = _question_key(value.keys())
            if key is None:
                for item in value.values():
                    if isinstance(item, (list, dict)):
                        self._take_value(item, listed=False)
                return
            self.saw_questions = True
            question = value[key]
            if isinstance(question, str):
                self.candidates.append(question)
            else:
                self.problems.append(f"Skipped {_snippet(_json_text(value))}: its question is not text.")


def _json_nodes(reader: _Reader, start: int) -> Iterator[JsonNode]:
    """The JSON values in the reply from ``start`` on, in order; damaged ones too.

    A list of bare strings (``["Who ...?", ...]``) counts as JSON too: it is how questions come.
    """
    return json_values(reader, start, opens_value=_starts_string_list)


def _starts_string_list(text: str, pos: int) -> bool:
    return text[pos] == "[" and text[pos + 1 : pos + 17].lstrip().startswith('"')


def _question_key(keys: Any) -> Any:
    """The key that holds the question (the first of ``QUESTION_KEYS`` present), or None."""
    by_name = {key.strip().lower(): key for key in keys if isinstance(key, str)}
    return next((by_name[name] for name in QUESTION_KEYS if name in by_name), None)


def _damage(text: str, node: JsonNode) -> str:
    error = node.error
    assert error is not None
    if error.cut:
        return f"The reply was cut off in the middle of {_snippet(text[node.start :])}."
    raw = text[node.start : max(error.pos, node.start + 1)]
    return f"Could not read {_snippet(raw)} as JSON: {error.why.rstrip('.')}."


# A list marker, or a question label, at the start of a plain line: "1.", "2)", "-", "*", "Q3:".
_LIST_MARKER = re.compile(r"(?:\d{1,3}[.)]|[-*+\u2022])\s+")
_QUESTION_LABEL = re.compile(r"(?:\*\*|__)?(?:q|question)(?:\s*#?\d{1,3})?\s*(?:\*\*|__)?\s*[:.)]\s*", re.IGNORECASE)
_FENCE = re.compile(r"(?:```|~~~)")
_EMPHASIS = ("**", "__", "*", "_")
_QUOTES = (('"', '"'), ("\u201c", "\u201d"), ("'", "'"), ("\u2018", "\u2019"))


def _plain_questions(text: str) -> tuple[list[str], list[str]]:
    """Questions on plain lines: the numbered or bulleted ones, or every line when none is."""
    lines: list[tuple[bool, str, str]] = []  # (marked, content, line)
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or _FENCE.match(stripped):
            continue
        marker = _LIST_MARKER.match(stripped)
        content = stripped[marker.end() :] if marker else stripped
        label = _QUESTION_LABEL.match(content)
        if label:
            content = content[label.end() :]
        lines.append((bool(marker or label), _unwrap(content), stripped))
    any_marked = any(marked for marked, _, _ in lines)
    candidates: list[str] = []
    problems: list[str] = []
    for marked, content, line in lines:
        if any_marked and not marked:
            continue  # prose around the list: "Here are five questions:"
        if content.endswith("?"):
            candidates.append(content)
        elif marked:
            problems.append(f"Skipped the list item {_snippet(line)}: it is not a question.")
    return candidates, problems


def _unwrap(text: str) -> str:
    """``text`` without surrounding emphasis (``**...**``) or quotes."""
    changed = True
    while changed and len(text) >= 2:
        changed = False
        for opening, closing in (*((mark, mark) for mark in _EMPHASIS), *_QUOTES):
            if len(text) > len(opening) + len(closing) and text.startswith(opening) and text.endswith(closing):
                text = text[len(opening) : -len(closing)].strip()
                changed = True
                break
    return text


def _distinct_questions(candidates: Sequence[str]) -> tuple[list[str], list[str]]:
    kept: list[str] = []
    problems: list[str] = []
    seen: set[str] = set()
    for candidate in candidates:
        question = " ".join(candidate.split())
        if not question:
            problems.append("Skipped an empty question.")
        elif not question.endswith("?"):
            problems.append(f"Skipped {_snippet(question)}: it does not end with a question mark.")
        elif question.casefold() in seen:
            problems.append(f"Skipped {_snippet(question)}: it repeats an earlier question.")
        else:
            seen.add(question.casefold())
            kept.append(question)
    return kept, problems


# Keys and words for ``parse_check``, compared lower-case.
_CHECK_KEYS = ("answered", "answerable", "is_answered")
_ANSWERED_WORDS = frozenset({"yes", "y", "true", "answered", "answerable"})
_NOT_ANSWERED_WORDS = frozenset({"no", "n", "false", "not answered", "unanswered", "not answerable", "unanswerable"})
# "No" counts only as a whole answer ("No.", "No, ..."): "No passage..." may go on either way.
_VERDICT_START = re.compile(
    r"(?:not answered|not answerable|unanswered|unanswerable|answered|answerable)\b"
    r"|(?:yes|no|true|false)(?=\s*(?:[.,;:!)*_\-\u2013\u2014]|$))"
)
_VERDICT_FIELD = re.compile(r"(?:answered|answerable|is_answered)\s*[:=]\s*(.*)")
_VERDICT_LABEL = re.compile(r"(?:answer|verdict|result|decision)\s*[:\uff1a]\s*")
_MARKUP = "#>*_-\u2022 \t\"'`"


def parse_check(reply: str) -> bool | None:
    """What a model's reply to ``templates/idk_check.json`` says: do the passages answer the question?

    True: they do (drop the candidate). False: they do not. None: the reply cannot be read,
    says both, or says something else; callers treat None as answered, because keeping an
    answerable question as an "I don't know" example does more harm than losing one.

    Reads ``{"answered": true|false}`` (also ``answerable``/``is_answered``, and "yes"/"no",
    "true"/"false", "answered"/"not answered" as strings), anywhere in the reply and in any
    wrapping object; without such JSON, the first line of text: ``ANSWERED``/``NOT ANSWERED``,
    ``answered: no``, or a first word "Yes"/"No" (after a label such as ``Verdict:``).
    """
    start = answer_start(reply)
    if start is None or not reply.strip():
        return None
    nodes = [node for node in _json_nodes(_Reader(reply), start) if node.error is None]
    verdicts = [verdict for node in nodes for verdict in _json_verdicts(plain_value(node))]
    if verdicts:
        return verdicts[0] if all(verdict is verdicts[0] for verdict in verdicts) else None
    return _plain_verdict(reply[start:])


def _json_verdicts(value: Any) -> Iterator[bool | None]:
    """One verdict per object that carries a check key, nested ones included."""
    if isinstance(value, list):
        for item in value:
            yield from _json_verdicts(item)
    elif isinstance(value, dict):
        fields = {key.strip().lower(): item for key, item in value.items() if isinstance(key, str)}
        key = next((name for name in _CHECK_KEYS if name in fields), None)
        if key is not None:
            yield _verdict_of(fields[key])
            return
        for item in value.values():
            yield from _json_verdicts(item)


def _verdict_of(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        words = " ".join(re.sub(r"[^\w\s]", " ", value.lower()).split())
        if words in _ANSWERED_WORDS:
            return True
        if words in _NOT_ANSWERED_WORDS:
            return False
    return None


def _plain_verdict(text: str) -> bool | None:
    """The verdict on the first line of text (code fences skipped), or None."""
    line = next((line.strip() for line in text.splitlines() if line.strip() and not _FENCE.match(line.strip())), "")
    content = line.lower().lstrip(_MARKUP)
    label = _VERDICT_LABEL.match(content)
    if label:  # "Verdict: **NOT ANSWERED**"
        content = content[label.end() :].lstrip(_MARKUP)
    field = _VERDICT_FIELD.match(content)
    if field:  # "answered: no"
        content = field.group(1).lstrip(_MARKUP)
    start = _VERDICT_START.match(content)
    return _verdict_of(start.group(0)) if start else None


def _snippet(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return f"`{flat}`" if len(flat) <= limit else f"`{flat[: limit - 3]}...`"


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
