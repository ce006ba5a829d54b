"""A reviewer's decisions about pairs (keep, drop, edit), read, kept in the out folder, and applied to a run.

The review page exports ``decisions.jsonl``: one JSON object per line,
``{"pair_id": ID, "action": "keep" | "drop" | "edit"}``, and for "edit" also ``"question"`` and
``"answer"``. ``--decisions FILE`` (or ``qagen apply OUT FILE``) merges a file into
``OUT/decisions.jsonl``, the last decision per pair winning, so every later run into that folder
honours them without being told again. A pair id names the same pair for as long as the out
folder's fingerprint holds (same chunks, same replies from the journal), which is why ``--restart``
forgets the stored decisions: after it, an id may name another pair.

What each action does, decided here once:

- **drop**: the pair goes to the rejects, stage ``review``, reason ``dropped_by_reviewer``.
- **edit**: the pair keeps its id and place and takes the reviewer's text, which the text and
  grounding checks then see as they see any pair's; an edit that fails them is rejected with their reason.
- **keep**: recorded, and it protects the pair from the judge and from dedupe. A person who read a pair
  and kept it has judged it better than a rating or a word-overlap score can, and a later rerun with a
  stricter ``--judge-threshold`` or ``--dedupe-threshold`` should not undo that. An edited pair is
  protected the same way. The text and grounding checks and the dataset format checks still apply to
  every pair: they are what every line of the dataset promises (a pair on the page passed them already;
  only a stricter ``--grounding-threshold`` can drop a kept pair later, and the run warns when it does).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from qagen.dataset.formats import jsonl
from qagen.documents.chunking import page_of
from qagen.errors import ConfigError, OutputError
from qagen.outfolder import DECISIONS, write_atomic
from qagen.quality.checks import reject
from qagen.records import Chunk, Pair, Rejection

Action = Literal["keep", "drop", "edit"]
ACTIONS: tuple[Action, ...] = ("keep", "drop", "edit")
REVIEW_STAGE = "review"
DROPPED = "dropped_by_reviewer"


@dataclass(frozen=True)
class Decision:
    pair_id: str
    action: Action
    question: str | None = None  # for "edit" only: the new text
    answer: str | None = None

    def as_dict(self) -> dict[str, str]:
        line: dict[str, str] = {"pair_id": self.pair_id, "action": self.action}
        if self.action == "edit":
            line |= {"question": self.question or "", "answer": self.answer or ""}
        return line


# --------------------------------------------------------------------------- reading a file


def parse_decisions(text: str, name: str) -> tuple[dict[str, Decision], list[str]]:
    """The decisions of a file by pair id (the last one per pair wins), and warnings about it.

    ``name`` names the file in messages. A line that is not a decision is one ConfigError sentence
    with its line number: half a review applied would be harder to notice than a refusal.
    """
    decisions: dict[str, Decision] = {}
    line_of: dict[str, list[int]] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        decision = _decision(line, f"{name} line {number}")
        decisions.pop(decision.pair_id, None)  # re-inserted: the order of the file's last decisions
        decisions[decision.pair_id] = decision
        line_of.setdefault(decision.pair_id, []).append(number)
    warnings = [
        f"{name} has {len(lines)} decisions for pair {pair_id} (lines {', '.join(map(str, lines))}); the last one, on line {lines[-1]}, is used"
        for pair_id, lines in line_of.items() if len(lines) > 1
    ]
    return decisions, warnings


def _decision(line: str, where: str) -> Decision:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where} is not JSON ({exc.msg}); each line must be one decision such as "
                          '{"pair_id": "...", "action": "drop"}.') from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a JSON object with pair_id and action (got {type(data).__name__}).")
    pair_id, action = data.get("pair_id"), data.get("action")
    if not isinstance(pair_id, str) or not pair_id:
        raise ConfigError(f"{where} has no pair_id (the id of a pair in pairs.jsonl).")
    if action not in ACTIONS:
        raise ConfigError(f"{where} has action {action!r}; it must be keep, drop or edit.")
    if action != "edit":
        return Decision(pair_id, action)
    texts = {key: data.get(key) for key in ("question", "answer")}
    missing = [key for key, value in texts.items() if not isinstance(value, str) or not value.strip()]
    if missing:
        raise ConfigError(f"{where} edits pair {pair_id} but has no {' and no '.join(missing)}; an edit gives both, as text.")
    return Decision(pair_id, "edit", question=texts["question"], answer=texts["answer"])


def read_decisions(path: Path) -> tuple[dict[str, Decision], list[str]]:
    """A decisions file given with --decisions (or to qagen apply)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the decisions file {path}: {exc.strerror or exc}.") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"the decisions file {path} is not UTF-8 text.") from None
    return parse_decisions(text, str(path))


# --------------------------------------------------------------------------- the out folder's copy


def stored_decisions(out: Path) -> dict[str, Decision]:
    """The decisions kept in ``out`` by earlier runs; empty when there are none."""
    path = out / DECISIONS
    if not path.exists():
        return {}
    try:
        decisions, _ = read_decisions(path)
    except ConfigError as exc:
        # qagen wrote it; a damaged copy is the folder's problem, and the user's exported files still exist.
        raise OutputError(f"{exc} Fix or remove {path} (it is qagen's merged copy of the decisions given before).") from None
    return decisions


def merge_decisions(out: Path, new: dict[str, Decision] | None) -> dict[str, Decision]:
    """The stored decisions with ``new`` on top (last decision per pair wins), written back when ``new`` adds any."""
    decisions = stored_decisions(out)
    if not new:
        return decisions
    for pair_id, decision in new.items():
        decisions.pop(pair_id, None)
        decisions[pair_id] = decision
    write_atomic(out / DECISIONS, jsonl(d.as_dict() for d in decisions.values()))
    return decisions


# --------------------------------------------------------------------------- applying them


@dataclass
class Review:
    """What the decisions did to a run's pairs, summed over the stages they were applied at."""

    decisions: dict[str, Decision] = field(default_factory=dict)
    protected: set[str] = field(default_factory=set)  # kept or edited: not judged, not dropped as duplicates
    applied: Counter[str] = field(default_factory=Counter)  # action -> pairs it was applied to
    seen: set[str] = field(default_factory=set)  # ids of the run's pairs the decisions were matched against
    taken: int = 0
    kept: int = 0
    rejections: list[Rejection] = field(default_factory=list)

    def apply(self, pairs: Sequence[Pair], chunks: Mapping[str, Chunk]) -> tuple[list[Pair], list[Pair]]:
        """The pairs after the decisions, and the originals of those dropped or edited (in input order).

        Dropped pairs become rejections; edited ones keep their id, place and provenance.
        """
        after: list[Pair] = []
        changed: list[Pair] = []
        self.taken += len(pairs)
        for pair in pairs:
            self.seen.add(pair.id)
            decision = self.decisions.get(pair.id)
            if decision is None:
                after.append(pair)
                continue
            self.applied[decision.action] += 1
            if decision.action == "drop":
                changed.append(pair)
                self.rejections.append(reject(pair, REVIEW_STAGE, DROPPED, "dropped by the reviewer (decisions.jsonl in the out folder)"))
                continue
            self.protected.add(pair.id)
            if decision.action == "edit":
                changed.append(pair)
                answer = decision.answer or pair.answer
                # A chunk over a page break: the page is where the new answer is, as it was for the old one.
                page = page_of(chunks[pair.chunk_id], answer) if pair.chunk_id in chunks else pair.page
                pair = replace(pair, question=decision.question or pair.question, answer=answer, page=page)
            after.append(pair)
        self.kept += len(after)
        return after, changed

    @property
    def unknown(self) -> list[str]:
        """Decisions naming no pair of this run: a changed document or a failed request retired them."""
        return [pair_id for pair_id in self.decisions if pair_id not in self.seen]

    def counts(self) -> dict:
        """The review stage's entry in the report."""
        return {
            "in": self.taken, "out": self.kept,
            "decisions": {action: self.applied.get(action, 0) for action in ACTIONS},
            "not_found": len(self.unknown),
            "dropped": dict(Counter(r.reason for r in self.rejections)),
        }

    def warnings(self, rejected: Iterable[Rejection], out: Path) -> list[str]:
        """What a user should hear about: decisions that found no pair, reviewed pairs the checks still rejected."""
        sentences = []
        if unknown := self.unknown:
            shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
            sentences.append(
                f"{len(unknown)} review {'decision names a pair' if len(unknown) == 1 else 'decisions name pairs'} this run "
                f"does not have ({shown}); a changed document or a failed request retires a pair, "
                f"and the decisions stay in {out / DECISIONS} in case it comes back"
            )
        refused = [r for r in rejected if r.pair_id in self.protected]
        if refused:
            reasons = ", ".join(sorted({r.reason for r in refused}))
            sentences.append(f"{len(refused)} pairs the reviewer kept or edited failed the checks ({reasons}) "
                             "and are in rejects.jsonl")
        return sentences


def protect_from_dedupe(
    pairs: Sequence[Pair], protected: set[str], dedupe: Callable[[Sequence[Pair]], tuple[list[Pair], list]]
) -> tuple[list[Pair], list]:
    """``dedupe`` with reviewed pairs never dropped: they go first, so a duplicate of one is the other pair.

    Two reviewed pairs that repeat each other both stay, as the reviewer kept both. Without
    reviewed pairs this is ``dedupe`` itself, so a run without decisions is unchanged.
    """
    if not protected.intersection(p.id for p in pairs):
        return dedupe(pairs)
    ordered = [p for p in pairs if p.id in protected] + [p for p in pairs if p.id not in protected]
    kept, duplicates = dedupe(ordered)
    stays = {p.id for p in kept} | {d.pair_id for d in duplicates if d.pair_id in protected}
    return [p for p in pairs if p.id in stays], [d for d in duplicates if d.pair_id not in protected]


def judged_as_before(generated: Sequence[Pair], checked: Sequence[Pair], changed_and_fine: set[str], changed: set[str]) -> list[Pair]:
    """The pairs to show the judge: those it was shown before any decision, so its journaled answers still fit.

    The judge asks about a chunk's pairs in one request, keyed by its content. Leaving out a
    dropped pair, or showing an edited one's new text, would make it a new request and ask the
    model again about every other pair of that chunk. Shown as generated (and checked), the
    request is the one answered before; the ratings of reviewed pairs are then ignored.
    """
    passed = {p.id for p in checked}
    return [p for p in generated if (p.id in changed_and_fine if p.id in changed else p.id in passed)]
