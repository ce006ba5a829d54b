"""The offline "I don't know" questions: the corpus's own names asked about what it rarely states.

``offline_idk_questions`` combines each name ``qagen.quality.idk.names.find_entities``
finds with question frames suited to its kind ("Who designed the logo of {name}?" for an
organisation, "What is {names} middle name?" for a person...), skipping a frame whose key
word the documents use near the name. The result is a list of candidates: each must still
pass ``qagen.quality.idk.candidates.likely_answered``.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from qagen.quality.idk.names import Entity, find_entities
from qagen.quality.retrieval import BM25Index, tokenize
from qagen.records import Chunk


@dataclass(frozen=True)
class _Frame:
    """A question pattern; ``keys`` are the words a text answering it would have to use."""

    text: str  # placeholders: {name}, {names} (possessive), {bare} (the name alone, no article)
    keys: str

    def key_terms(self) -> frozenset[str]:
        return _terms_of_words(self.keys)


@lru_cache(maxsize=None)
def _terms_of_words(words: str) -> frozenset[str]:
    return frozenset(tokenize(words))


_F = _Frame
_FRAMES: dict[str, tuple[_Frame, ...]] = {
    "organisation": (
        _F("Who designed the logo of {name}?", "logo logos"),
        _F("What is the annual budget of {name}?", "budget budgets"),
        _F("What is the email address of {names} head office?", "email e-mail"),
        _F("In what year did {name} open its second office?", "second"),
        _F("What is {names} motto?", "motto slogan"),
        _F("Who was the first auditor of {name}?", "auditor audit audited"),
        _F("Which bank handles {names} payroll?", "payroll bank"),
        _F("Which charity did {name} sponsor in its first year?", "charity sponsor sponsored"),
        _F("What is the name of {names} internal newsletter?", "newsletter"),
        _F("How many parking spaces does {names} main building have?", "parking"),
        _F("Which architect designed {names} headquarters?", "architect headquarters"),
        _F("What was {names} revenue in its tenth year?", "revenue turnover"),
        _F("Who catered {names} tenth anniversary party?", "anniversary catered catering"),
        _F("What is the tax identification number of {name}?", "tax vat"),
        _F("Which law firm represents {name}?", "law lawyer lawyers legal"),
        _F("Who chairs the social committee of {name}?", "social committee"),
        _F("Which award did {name} win in its first year?", "award awarded prize"),
    ),
    "person": (
        _F("What was {names} first job?", "job jobs career"),
        _F("Which university did {name} graduate from?", "university graduated degree"),
        _F("What is {names} middle name?", "middle"),
        _F("Which musical instrument does {name} play?", "instrument musical music"),
        _F("What was {names} favourite book as a child?", "favourite favorite child childhood"),
        _F("In which city was {name} born?", "born birth"),
        _F("Who was {names} mentor early in their career?", "mentor mentored"),
        _F("How many languages does {name} speak?", "languages speaks"),
        _F("What sport did {name} play at school?", "sport sports"),
        _F("Which award did {name} receive first?", "award awarded prize"),
        _F("What did {name} study before starting work?", "studied study degree"),
    ),
    "place": (  # built places: streets, stations, buildings
        _F("What is the postcode of {name}?", "postcode zip"),
        _F("How many bus routes serve {name}?", "bus buses"),
        _F("When was {name} last renovated?", "renovated renovation refurbished"),
        _F("How many parking spaces are there at {name}?", "parking"),
        _F("Who owned the land at {name} before 1900?", "owned owner land"),
        _F("What was {name} called in the nineteenth century?", "century nineteenth"),
        _F("Which architect designed the oldest building at {name}?", "architect"),
    ),
    "area": (  # islands, towns, bays, valleys: names mostly used after "in", "on", "at"...
        _F("What is the average annual rainfall in {name}?", "rainfall rain"),
        _F("Which explorer first charted {name}?", "explorer charted chart"),
        _F("What was {name} called in the nineteenth century?", "century nineteenth"),
        _F("Who owned the land around {name} before 1900?", "owned owner land"),
        _F("Which rare bird species nest around {name}?", "bird birds species nest"),
        _F("What is the highest point in {name}?", "highest"),
    ),
    "vessel": (
        _F("Who was the first captain of {name}?", "captain skipper"),
        _F("Who named {name} at her launch ceremony?", "ceremony launched launch"),
        _F("What is {names} radio call sign?", "radio sign"),
        _F("How much fuel does {name} burn on a typical crossing?", "fuel"),
        _F("Which artist painted the mural in {names} passenger lounge?", "mural artist painted"),
        _F("What colour was {names} hull when she was launched?", "colour color hull"),
        _F("Where was {name} dry-docked for her last overhaul?", "dry-dock dry-docked drydock overhaul"),
        _F("What is {names} IMO number?", "imo"),
    ),
    "event": (
        _F("Who organised the first {bare}?", "organised organiser organized organizer"),
        _F("How many people attended {name} in its first year?", "attended attendance visitors"),
        _F("Which band played at {name} in its first year?", "band music"),
        _F("Who designed the poster for {name}?", "poster posters"),
        _F("What is the official mascot of {name}?", "mascot"),
        _F("Which company supplies the prizes for {name}?", "prize prizes"),
        _F("Who was the guest of honour at {name} in its first year?", "guest honour honor"),
    ),
    "thing": (
        _F("Who designed the logo of {name}?", "logo logos"),
        _F('Who chose the name "{bare}"?', "chose chosen"),
        _F("What was the code name of {name} during its development?", "codename code"),
        _F("At which conference was {name} first presented?", "conference presented"),
        _F("How much did {name} cost to develop?", "cost costs"),
        _F("In which country is {name} most popular?", "popular country"),
        _F("Which award did {name} win in its first year?", "award awarded prize"),
        _F("Who was the original sponsor of {name}?", "sponsor sponsored"),
        _F("How many people worked on the first version of {name}?", "version"),
        _F("What was the launch budget of {name}?", "budget launch"),
        _F("Which consultancy advised on {name}?", "consultancy consultant consultants"),
        _F("What is the trademark registration number of {name}?", "trademark"),
    ),
}


def offline_idk_questions(
    chunks: Sequence[Chunk], count: int, *, seed: int = 0, index: BM25Index | None = None, entities: Sequence[Entity] | None = None
) -> list[str]:
    """Up to ``count`` distinct questions about the corpus's names that it likely cannot answer.

    Names come from ``find_entities``; each is combined with the frames of its kind. A
    combination is skipped when one of the frame's key words (e.g. "logo" for "Who designed
    the logo of X?") occurs in a chunk that mentions the name: such a text may well state
    the answer. The output is a candidate list; verify each with
    ``qagen.quality.idk.candidates.likely_answered`` before use.

    Deterministic for a given corpus, count and seed (``random.Random(seed)`` shuffles each
    name's frames): the most widely mentioned names come first, one question per name per
    round, each name taking the frame used least so far. ``index``, a ``BM25Index`` of these
    very chunks (it may hold only ``question_terms(entities)``), saves tokenising every chunk
    again, and ``entities``, ``find_entities(chunks)``, finding them again; the questions are
    the same without them.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    if count == 0:
        return []
    if index is not None and len(index) != len(chunks):
        raise ValueError(f"the index holds {len(index)} chunks, not the {len(chunks)} given")
    rng = random.Random(seed)
    positions_with = index.positions_with if index is not None else _term_positions(chunks)
    plans: list[tuple[Entity, list[_Frame]]] = []
    for entity in find_entities(chunks) if entities is None else entities:
        frames = [frame for frame in _FRAMES[entity.kind] if _frame_allowed(frame, entity, positions_with)]
        rng.shuffle(frames)
        if frames:
            plans.append((entity, frames))

    questions: list[str] = []
    seen: set[str] = set()
    frame_uses: Counter[str] = Counter()
    while plans and len(questions) < count:
        for entity, frames in plans:
            frame = min(frames, key=lambda candidate: frame_uses[candidate.text])  # first of the least used
            frames.remove(frame)
            question = _render(frame, entity)
            if question.lower() not in seen:
                seen.add(question.lower())
                frame_uses[frame.text] += 1
                questions.append(question)
                if len(questions) == count:
                    break
        plans = [(entity, frames) for entity, frames in plans if frames]
    return questions


def question_terms(entities: Sequence[Entity]) -> frozenset[str]:
    """Every term a question of ``offline_idk_questions`` about these entities can hold, and every key term.

    A question is a frame's text with its placeholders, each between a space or a quote and a
    space, "?" or a quote, filled in: its words are the frame's own and the filled-in name's.
    """
    terms = set(_FRAME_TERMS)
    for entity in entities:
        display = entity.display
        terms.update(tokenize(display), tokenize(f"{display}'s"), tokenize(entity.name))
    return frozenset(terms)


_FRAME_TERMS = frozenset(
    term
    for frames in _FRAMES.values()
    for frame in frames
    for term in (*tokenize(re.sub(r"\{\w+\}", " ", frame.text)), *frame.key_terms())
)


def _term_positions(chunks: Sequence[Chunk]) -> Callable[[str], Sequence[int]]:
    chunks_with_term: dict[str, list[int]] = {}
    for position, chunk in enumerate(chunks):
        for term in dict.fromkeys(tokenize(chunk.text)):
            chunks_with_term.setdefault(term, []).append(position)
    return lambda term: chunks_with_term.get(term, [])


def _frame_allowed(frame: _Frame, entity: Entity, positions_with: Callable[[str], Sequence[int]]) -> bool:
    """False when a chunk naming the entity uses one of the frame's key words."""
    return not any(_shares_position(positions_with(term), entity.chunks) for term in frame.key_terms())


def _shares_position(positions: Sequence[int], chunks: frozenset[int]) -> bool:
    """Whether ``positions`` (ascending) holds one of ``chunks``, looking at the shorter of the two."""
    if len(chunks) < len(positions):
        for position in chunks:
            at = bisect_left(positions, position)
            if at < len(positions) and positions[at] == position:
                return True
        return False
    return any(position in chunks for position in positions)


def _render(frame: _Frame, entity: Entity) -> str:
    name = entity.display
    # "Northwind Logistics' motto" but "the Brannoch Lass's hull".
    possessive = f"{name}'" if name.endswith("s") and not name.endswith("ss") else f"{name}'s"
    question = frame.text.format(name=name, names=possessive, bare=entity.name)
    return question[0].upper() + question[1:]
