"""The "I don't know" examples: candidate questions, the checks that drop answerable ones, refusals.

An "I don't know" training example pairs a question that sounds like it belongs to the
documents with a refusal. A wrong one (the documents do answer it) teaches the model to
refuse real questions, so every candidate is checked against the WHOLE corpus with
``likely_answered`` and dropped when in doubt; with a model configured, the model then
checks each survivor too (``templates/idk_check.json``, read by ``parse_check``).

Candidates come from one of two places:

- offline, ``offline_idk_questions`` combines names found in the corpus
  (``qagen.names.find_entities``) with question frames about attributes documents rarely
  state (a logo's designer, a motto, a middle name...), skipping a frame whose key word the
  documents use near the name;
- with a model, ``templates/idk.json`` shows it a few excerpts (``choose_excerpt_chunks``,
  ``render_excerpts``) and asks for questions they do not answer, read by ``parse_questions``.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Iterator, Sequence

from qagen.replies.jsonscan import JsonNode, answer_start, json_values, plain_value
from qagen.quality.idk.names import offline_idk_questions
from qagen.replies.pairs import QUESTION_KEYS, PairReader as _Reader
from qagen.records import Chunk
from qagen.quality.retrieval import BM25Index, Hit, content_terms, tokenize

__all__ = [
    "DEFAULT_REFUSALS",
    "IdkVerdict",
    "choose_excerpt_chunks",
    "likely_answered",
    "offline_idk_questions",
    "parse_check",
    "parse_questions",
    "pick_refusal",
    "render_excerpts",
]

DEFAULT_REFUSALS: tuple[str, ...] = (
    "I don't know. The documents I was trained on do not cover that.",
    "I don't know: the documents I learned from say nothing about that.",
    "I'm sorry, I don't know. That is not covered in the documents I was trained on.",
    "I don't know. Nothing in the documents I was trained on answers that question.",
)


# --------------------------------------------------------------------------- refusals


def pick_refusal(question: str, refusals: Sequence[str], *, seed: int = 0) -> str:
    """One of ``refusals``, always the same for the same question and seed.

    A sha256 digest picks it, not ``hash()``: Python salts string hashes per process,
    which would make the dataset change from run to run.
    """
    if not refusals:
        raise ValueError("pick_refusal needs at least one refusal phrasing")
    digest = hashlib.sha256(f"{seed}\x00{question.strip()}".encode("utf-8")).digest()
    return refusals[int.from_bytes(digest[:8], "big") % len(refusals)]


# --------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class IdkVerdict:
    """Whether the corpus likely answers a question, with the evidence for the decision."""

    question: str
    answerable: bool
    best_chunk_id: str | None  # the passage the decision rests on; None when nothing matched
    score: float  # BM25 score of that passage
    coverage: float  # share of the question's content terms found there (with its neighbours)
    reason: str  # one sentence


# Words that name the kind of answer wanted rather than its topic: the text states
# "opened in 1998", not "opened in the year 1998". They are left out of coverage.
_ANSWER_TYPE_WORDS = (
    "year date day month time name number amount kind type sort percentage "
    "long old often far big large size cost price"
)


@lru_cache(maxsize=1)
def _answer_type_terms() -> frozenset[str]:
    return frozenset(tokenize(_ANSWER_TYPE_WORDS))


def likely_answered(index: BM25Index, question: str, *, min_coverage: float = 0.75) -> IdkVerdict:
    """Decide, lexically and conservatively, whether some passage likely answers ``question``.

    Terms are the question's content terms (``qagen.retrieval.tokenize``) minus words that
    only name the answer's kind (year, name, number...). The entity terms are those of the
    question's capitalised words (the first word only when the next one is capitalised too).
    Each passage is judged together with its neighbours in the same document (the name
    is often in the previous chunk and the fact in the next). The question is answerable
    when some passage:

    A. with its neighbours, holds at least ``min_coverage`` of the terms and every key term:
       the entity's terms, or, when the question names no entity, its rarest term(s) found
       in the corpus; or
    B. by itself holds every term except the entity's: it states the very attribute asked
       about, perhaps of the entity under another name or a pronoun.

    It is also answerable when the question has no content term at all (nothing to check).
    Everything else is judged not answerable. Word forms are joined by the light stemming,
    synonyms are not: a question phrased in words the documents never use looks unanswered,
    which is why the candidate questions stay close to the documents' own vocabulary.
    """
    if not 0.0 < min_coverage <= 1.0:
        raise ValueError(f"min_coverage must be in (0, 1], got {min_coverage}")
    terms = _question_terms(question)
    if not terms:
        reason = "The question has no content words to check, so it is kept as answerable."
        return IdkVerdict(question, True, None, 0.0, 0.0, reason)
    entity = _entity_terms(question) & terms
    attribute = terms - entity
    keys = entity or _rarest_terms(index, terms)
    if not keys:
        return IdkVerdict(question, False, None, 0.0, 0.0, "None of the question's words occurs in the corpus.")

    hits = index.search(question, k=len(index))
    found = {hit.chunk_id: index.terms_of(hit.chunk_id) & terms for hit in hits}
    support: tuple[float, IdkVerdict] | None = None  # (share of the terms in the chunk itself, verdict)
    closest: tuple[float, Hit] | None = None  # (window coverage, hit)
    for hit in hits:
        window = set(found[hit.chunk_id])
        for neighbour in index.neighbours(hit.chunk_id):
            window |= found.get(neighbour, set())
        coverage = len(window) / len(terms)
        verdict = None
        if coverage >= min_coverage and keys <= window:
            reason = f"A passage covers {len(window)} of {len(terms)} question terms, including {_quote(keys)}."
            verdict = IdkVerdict(question, True, hit.chunk_id, hit.score, coverage, reason)
        elif entity and attribute and attribute <= found[hit.chunk_id]:
            reason = f"A passage mentions every asked attribute ({_quote(attribute)}), perhaps about the same entity."
            verdict = IdkVerdict(question, True, hit.chunk_id, hit.score, coverage, reason)
        # Report the supporting passage that holds most of the question by itself (a short
        # heading next to the real answer may rank higher), then the best ranked.
        if verdict and (support is None or len(found[hit.chunk_id]) / len(terms) > support[0]):
            support = (len(found[hit.chunk_id]) / len(terms), verdict)
        if closest is None or coverage > closest[0]:
            closest = (coverage, hit)
    if support is not None:
        return support[1]
    if closest is None:
        return IdkVerdict(question, False, None, 0.0, 0.0, "No passage shares a content word with the question.")
    coverage, hit = closest
    missing = terms - found[hit.chunk_id]
    reason = (
        f"The closest passage covers {coverage:.0%} of the question terms and lacks "
        f"{_quote(missing)}; no passage states {_quote(attribute or terms)} together."
    )
    return IdkVerdict(question, False, hit.chunk_id, hit.score, coverage, reason)


def _question_terms(question: str) -> frozenset[str]:
    terms = frozenset(content_terms(question))
    without_answer_type = terms - _answer_type_terms()
    return without_answer_type or terms


_CAPITALISED_WORD = re.compile(r"[^\W\d_][^\W_]*(?:['’][^\W_]+)*")


def _entity_terms(question: str) -> frozenset[str]:
    words = [match.group() for match in _CAPITALISED_WORD.finditer(question)]
    names: list[str] = []
    for i, word in enumerate(words):
        if not word[0].isupper():
            continue
        # The first word is capitalised anyway; it counts only inside a multi-word name.
        if i == 0 and not (len(words) > 1 and words[1][0].isupper()):
            continue
        names.append(word)
    return frozenset(tokenize(" ".join(names)))


def _rarest_terms(index: BM25Index, terms: frozenset[str]) -> frozenset[str]:
    frequencies = {term: index.document_frequency(term) for term in terms}
    present = [df for df in frequencies.values() if df > 0]
    if not present:
        return frozenset()
    rarest = min(present)
    return frozenset(term for term, df in frequencies.items() if df == rarest)


def _quote(terms: frozenset[str] | set[str]) -> str:
    return ", ".join(f"'{term}'" for term in sorted(terms))


# --------------------------------------------------------------------------- model candidates: excerpts


def choose_excerpt_chunks(chunks: Sequence[Chunk], k: int, *, seed: int, round: int) -> list[Chunk]:
    """``k`` chunks to show the model in candidate round ``round``: from different files, new each round.

    The files are visited in a fixed shuffled order, one chunk each, wrapping around when
    ``k`` is larger than the number of files; round ``r`` carries on where round ``r - 1``
    stopped, so consecutive rounds show different files, or different chunks of the same
    files. Each file hands out its chunks in its own fixed shuffled order, starting over once
    all were shown. A round never shows the same chunk twice, and shows every chunk when
    ``k`` is at least their number.

    Deterministic for the same chunks, ``k``, seed and round: the shuffles use
    ``random.Random`` seeded with strings (hashed with sha512), never the salted ``hash()``.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    if round < 0:
        raise ValueError(f"round must be >= 0, got {round}")
    by_source: dict[str, list[int]] = {}
    for position, chunk in enumerate(chunks):
        by_source.setdefault(chunk.source, []).append(position)
    wanted = min(k, len(chunks))
    if wanted == 0:
        return []
    sources = sorted(by_source)
    random.Random(f"qagen-idk-excerpts\x00{seed}").shuffle(sources)
    for source, positions in by_source.items():
        positions.sort(key=lambda position: (chunks[position].index, position))
        random.Random(f"qagen-idk-excerpts\x00{seed}\x00{source}").shuffle(positions)

    chosen: list[int] = []
    taken: set[int] = set()
    slot = round * k
    # Slot t shows file t % S, its (t // S)-th chunk: every chunk comes up within S * (largest file) slots.
    last_slot = slot + len(sources) * max(len(positions) for positions in by_source.values())
    while len(chosen) < wanted and slot < last_slot:
        turn, offset = divmod(slot, len(sources))
        positions = by_source[sources[offset]]
        position = positions[turn % len(positions)]
        if position not in taken:
            taken.add(position)
            chosen.append(position)
        slot += 1
    return [chunks[position] for position in chosen]


_EXCERPT_SEPARATOR = "\n\n"
_CUT_MARK = " [...]"


def render_excerpts(chunks: Sequence[Chunk], *, max_tokens: int, count_tokens: Callable[[str], int]) -> str:
    """The chunks' texts as numbered excerpts, as the ``excerpts`` variable of ``templates/idk.json``.

    Each excerpt is ``Excerpt N (from <source>):`` and the text between triple quotes; the
    whole stays within ``max_tokens`` as ``count_tokens`` counts them. A chunk that does not
    fit is left out (a later, shorter one may still fit), except the first, which is cut at a
    word boundary and marked `` [...]`` so the model always sees something. Empty chunks are
    skipped; "" when nothing fits.
    """
    if max_tokens <= 0:
        raise ValueError(f"max_tokens must be > 0, got {max_tokens}")
    rendered = ""
    shown = 0
    for chunk in chunks:
        text = chunk.text.strip()
        if not text:
            continue
        block = _excerpt(shown + 1, chunk.source, text)
        candidate = f"{rendered}{_EXCERPT_SEPARATOR}{block}" if rendered else block
        if count_tokens(candidate) <= max_tokens:
            rendered, shown = candidate, shown + 1
        elif not rendered:
            rendered = _cut_excerpt(chunk.source, text, max_tokens, count_tokens)
            shown = 1 if rendered else 0
    return rendered


def _excerpt(number: int, source: str, text: str) -> str:
    return f'Excerpt {number} (from {source}):\n"""\n{text}\n"""'


def _cut_excerpt(source: str, text: str, max_tokens: int, count_tokens: Callable[[str], int]) -> str:
    """The longest beginning of ``text``, cut after a word, that fits as excerpt 1; "" when none does."""
    word_ends = [match.end() for match in re.finditer(r"\S+", text)]
    best = ""
    low, high = 0, len(word_ends) - 1
    while low <= high:  # binary search: token counts grow with the prefix
        middle = (low + high) // 2
        block = _excerpt(1, source, text[: word_ends[middle]] + _CUT_MARK)
        if count_tokens(block) <= max_tokens:
            best, low = block, middle + 1
        else:
            high = middle - 1
    return best


# --------------------------------------------------------------------------- model replies
#
# Both readers skip a reasoning block and find JSON anywhere in the reply (code fences,
# prose around it) with the tolerant reader and scan of ``qagen.jsonscan``.


def parse_questions(reply: str) -> tuple[list[str], list[str]]:
    """The candidate questions in a model's reply to ``templates/idk.json``, and what was not kept.

    Reads, in any mix: JSON Lines ``{"question": "..."}`` (any key of
    ``qagen.parsing.QUESTION_KEYS``, any letter case), a JSON array of strings or of such
    objects, an object wrapping them (``{"questions": [...]}``), with code fences and prose
    around. When the reply holds no JSON question at all, plain lines are read instead: the
    numbered or bulleted ones (``1.``, ``-``, ``Q:``...), or every line when none is.

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
