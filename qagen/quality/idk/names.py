"""Names in a corpus, and the offline "I don't know" questions asked about them.

qagen's offline "I don't know" questions are about the documents' own names ("Who designed
the logo of Northwind Logistics?"), so it needs to find them without a model or a tagger.
``find_entities`` reads runs of capitalised words in prose, lists and tables, cleans them
(titles, determiners, sentence-initial common words) and keeps those that look like names;
the last word, and how the documents use the name, tell its kind (organisation, person,
built place, area, vessel, event, other thing). ``qagen.quality.idk.offline`` asks
questions about them; ``qagen.quality.idk.candidates`` holds the checks every candidate
must pass.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, cast

from qagen.quality.idk.mentions import _CONNECTORS, _TITLES, _Occurrence, _lower_case_words, _name_runs
from qagen.quality.retrieval import STOP_WORDS, stem
from qagen.records import Chunk

EntityKind = Literal["organisation", "person", "place", "area", "vessel", "event", "thing"]


@dataclass(frozen=True)
class Entity:
    """A name found in the corpus and how the documents use it."""

    name: str  # as written, without leading "the", titles or vessel prefixes: "Harbor Museum"
    kind: EntityKind
    display: str  # as a question should say it: "the Harbor Street depot", "Amara Okafor"
    chunks: frozenset[int]  # positions (in the chunks given) of the chunks that mention it
    count: int  # how many times it is mentioned


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# The last word of a name tells its kind; job titles are not names.
_HEADS: dict[str, frozenset[str]] = {
    "organisation": _words(
        """inc ltd llc plc corp corporation company co group holdings bank museum university college
        school academy institute foundation trust association society council committee department
        ministry agency authority office bureau board team club library hospital clinic centre center
        lab labs laboratory partners services systems technologies logistics industries union federation
        league network studio studios press airline airlines railway cooperative gallery theatre theater
        orchestra church boatworks shipyard works fund marine shipping ferries engineering consulting
        solutions media brothers bros sons"""
    ),
    "place": _words(
        """street road avenue lane square park bridge harbour harbor port station airport quay pier slip
        jetty steps heights gardens estate way depot terminal house hall building tower"""
    ),
    "area": _words(
        """river lake bay island islands isle valley mountain mountains hill hills coast beach forest
        point county province district region peninsula moor sound firth loch holm"""
    ),
    "event": _words(
        """day festival regatta fair week games race show gala carnival parade ball marathon tournament
        cup championship"""
    ),
}
_AREA_STARTS = _words("port lake mount fort isle loch cape glen saint st")  # "Port Essary", "Lake Orta"
_ROLE_WORDS = _words(
    """officer manager director president chair chairman chairwoman chairperson secretary assistant
    engineer lead head coordinator administrator representative supervisor analyst superintendent
    master captain purser mate steward inspector clerk controller harbourmaster skipper deckhand
    treasurer chief vice senior junior deputy acting"""
)
_VESSEL_PREFIXES = _words("mv ms ss rms hms fv my ps sv rv")
_LEADING_WORDS = _words(
    """the a an this that these those our your their its his her my every each all some any in on
    at to for from by with and or but if when where while after before during since dear see"""
)
_LOCATIVES = _words("in on at from near around across via off between towards")
_NOT_NAMES = _words(
    """january february march april may june july august september october november december monday
    tuesday wednesday thursday friday saturday sunday christmas easter boxing hogmanay year i ok
    english french german spanish italian dutch chinese japanese european american british internet
    celsius fahrenheit"""
)
_SPEECH_VERBS = _words("said says wrote writes explained explains told added noted recalled")
_NO_ARTICLE_HEADS = _words(
    "street road avenue lane way square park hill heights gardens estate station airport city town village island bay point"
)

_MAX_NAME_WORDS = 6


@dataclass
class _Entity:
    """A name being collected: counts and cues from each of its mentions."""

    name: str
    words: tuple[str, ...]
    first_seen: int
    count: int = 0
    after_the: int = 0  # occurrences right after "the"
    after_locative: int = 0  # occurrences right after "in", "on", "at", "from"...
    person_cues: int = 0  # after Dr/Ms..., before "said", or followed by ", a ..." (apposition)
    vessel: bool = False  # seen after MV, SS...
    shares_place_word: bool = False  # "Orrin", next to "Orrin Bay"
    next_words: Counter[str] = field(default_factory=Counter)  # lower-case words right after the name
    chunks: set[int] = field(default_factory=set)

    def add(self, occurrence: _Occurrence, cleaned: _CleanName) -> None:
        self.count += 1
        self.after_the += cleaned.after_the
        self.after_locative += occurrence.previous in _LOCATIVES
        self.person_cues += cleaned.titled or occurrence.apposition or occurrence.next_word.lower() in _SPEECH_VERBS
        self.vessel |= cleaned.vessel
        if occurrence.next_word.isalpha() and occurrence.next_word.islower():
            self.next_words[occurrence.next_word] += 1
        self.chunks.add(occurrence.chunk)

    @property
    def kind(self) -> EntityKind:
        head = self.words[-1].lower()
        for kind, heads in _HEADS.items():
            if head in heads:
                return cast(EntityKind, kind)
        if "&" in self.words:
            return "organisation"  # "Malden & Rusk": firms are named after their partners
        if self.vessel:
            return "vessel"
        plain = all(word.isalpha() for word in self.words)
        if plain and 2 <= len(self.words) <= 3 and self.person_cues:
            return "person"
        if self.words[0].lower() in _AREA_STARTS or self.shares_place_word or self.after_locative * 4 >= self.count:
            return "area"
        return "thing"

    @property
    def display(self) -> str:
        """The name as a question should say it: "the Harbor Street depot", "the Harbor Museum"."""
        kind = self.kind
        if kind == "person":
            return self.name
        if kind == "vessel":
            return f"the {self.name}"
        noun = self._usual_noun(kind)
        if noun:
            return f"the {self.name} {noun}"
        bare_place = kind in ("place", "area") and self.words[-1].lower() in _NO_ARTICLE_HEADS  # "Quay Street"
        return f"the {self.name}" if self.after_the * 2 > self.count and not bare_place else self.name

    def _usual_noun(self, kind: EntityKind) -> str | None:
        # "the Harbor Street depot": the documents use the name as a modifier of one noun,
        # at least twice and in most mentions. Verbs ending in -s/-ed/-ly are not nouns.
        if kind not in ("place", "area", "thing") or not self.next_words:
            return None
        word, uses = self.next_words.most_common(1)[0]
        verb_like = word.endswith(("ed", "ly")) or (word.endswith("s") and not word.endswith("ss"))
        return word if word not in STOP_WORDS and not verb_like and uses >= 2 and uses * 2 > self.count else None


@dataclass(frozen=True)
class _CleanName:
    words: tuple[str, ...]
    after_the: bool  # right after "the"
    titled: bool  # after Dr, Ms...
    vessel: bool  # after MV, SS...


def find_entities(chunks: Sequence[Chunk]) -> list[Entity]:
    """Names in the corpus, most widely mentioned first (ties: most frequent, then first seen).

    A name is a run of capitalised words, possibly joined by "of", "de", "&"... (``Bank of
    England``), in prose, lists and tables but not in headings or all-capital lines, nor
    as a field label (``Notes:``). Leading determiners, titles (Dr, Ms), vessel prefixes (MV)
    and a sentence-initial common word (one the corpus also writes in lower case) are removed,
    and so is a common head before "of" (``Residents of Kellimore``). Kept are:
    - names of two or more words, unless they start or end with a month, weekday or holiday,
      contain a job title (``Marine Superintendent``), or, having no telling last word (Museum,
      Street, Bay, Festival...), consist only of words the corpus also writes in lower case
      (``Annual Leave`` is a policy, not a name);
    - single words seen capitalised at least twice away from a sentence start, whose stem the
      corpus never writes in lower case, not all capitals (``API``), nor camel case
      (``HttpClient``), nor a stop word, month, weekday or language.
    The kind (which frames fit) comes from the last word, then: a vessel prefix seen; a person
    (two or three words seen after a title, before "said", or followed by ", a ..."); an area
    (a quarter of its mentions or more right after "in", "on", "at", "from"...); otherwise a thing.
    """
    # A word is common when the corpus also writes it, in some form, in lower case.
    common = frozenset(stem(word) for word in _lower_case_words(chunks))
    occurrences = [occurrence for position, chunk in enumerate(chunks) for occurrence in _name_runs(chunk.text, position)]
    # Names seen inside sentences: "Port Essary" opening a sentence keeps its "Port".
    # A name is cleaned once per distinct way it is written, not once per mention (profiled:
    # 1.5 s of the 7 s finding names took at 10 MB): what _clean_name reads of a mention is its
    # words, whether it opens a sentence and whether it follows "the"; away from a sentence start
    # and with nothing known, the name's words depend on its words alone.
    inside = {o.words: o for o in occurrences if not o.sentence_start}
    known = frozenset(" ".join(name.words) for o in inside.values() if (name := _clean_name(o, frozenset(), frozenset())))
    cleaned_names: dict[tuple[tuple[str, ...], bool, bool], tuple[_CleanName, str] | None] = {}
    entities: dict[str, _Entity] = {}
    for order, occurrence in enumerate(occurrences):
        key = (occurrence.words, occurrence.sentence_start, occurrence.previous == "the")
        if key in cleaned_names:
            found = cleaned_names[key]
        else:
            cleaned = _clean_name(occurrence, common, known)
            found = cleaned_names[key] = None if cleaned is None else (cleaned, " ".join(cleaned.words))
        if found is not None:
            cleaned, text = found
            entity = entities.get(text)
            if entity is None:
                entity = entities[text] = _Entity(name=text, words=cleaned.words, first_seen=order)
            entity.add(occurrence, cleaned)
    kept = [entity for entity in entities.values() if _is_name(entity, common)]
    _add_longer_name_chunks(kept, entities)
    place_words = {word for entity in kept if entity.kind in ("place", "area") for word in entity.words}
    for entity in kept:
        entity.shares_place_word = any(word in place_words for word in entity.words if word[:1].isupper())
    kept.sort(key=lambda entity: (-len(entity.chunks), -entity.count, entity.first_seen))
    return [
        Entity(name=entity.name, kind=entity.kind, display=entity.display, chunks=frozenset(entity.chunks), count=entity.count)
        for entity in kept
    ]


def _clean_name(occurrence: _Occurrence, common: frozenset[str], known: frozenset[str]) -> _CleanName | None:
    """The name in a run of capitalised words, or None when there is none.

    ``known`` holds names seen away from a sentence start; a sentence-initial common word
    is dropped (``Staff Handbook``) unless it begins one of them (``Port Essary``).
    """
    words = list(occurrence.words)
    after_the = occurrence.previous == "the"
    titled = vessel = False
    sentence_start = occurrence.sentence_start
    while words:
        first = words[0].lower().rstrip(".")
        if first in _TITLES:
            titled = True
        elif first in _VESSEL_PREFIXES and words[0].isupper() and len(words) > 1:
            vessel = True
        elif first in _LEADING_WORDS or first in _CONNECTORS:
            after_the = after_the or first == "the"
        elif not (sentence_start and stem(first) in common and not _begins_known_name(words, known)):
            break
        words.pop(0)
        sentence_start = False
    words = _drop_common_head(words, common)
    while words and words[-1].lower() in _CONNECTORS:
        words.pop()
    if not words or (len(words) == 1 and sentence_start) or len(words) > _MAX_NAME_WORDS:
        return None
    return _CleanName(tuple(words), after_the, titled, vessel)


def _begins_known_name(words: list[str], known: frozenset[str]) -> bool:
    return any(" ".join(words[:size]) in known for size in range(2, len(words) + 1))


def _drop_common_head(words: list[str], common: frozenset[str]) -> list[str]:
    # "Residents of Kellimore" names Kellimore; "Bank of England" is one name.
    if "of" not in (word.lower() for word in words):
        return words
    cut = [word.lower() for word in words].index("of")
    before = [word.lower() for word in words[:cut]]
    telling = any(before[-1] in heads for heads in _HEADS.values()) if before else False
    if before and not telling and all(stem(word) in common for word in before):
        return words[cut + 1 :]
    return words


def _is_name(entity: _Entity, common: frozenset[str]) -> bool:
    words = entity.words
    lowered = [word.lower().rstrip("'’") for word in words]
    if any(_is_camel_case(word) for word in words):
        return False
    if _not_a_name(lowered[0]) or _not_a_name(lowered[-1]):
        return False
    if len(words) == 1:
        word = lowered[0]
        return (
            entity.count >= 2
            and len(word) >= 3
            and not words[0].isupper()
            and word not in STOP_WORDS
            and stem(word) not in common
        )
    if any(word in _ROLE_WORDS for word in lowered) or all(word.isupper() for word in words):
        return False
    if any(len(word) < 2 and word not in _CONNECTORS for word in lowered):
        return False  # "Station B"
    if entity.kind == "thing" and all(stem(word) in common or word in _CONNECTORS for word in lowered):
        return False
    return True


def _not_a_name(word: str) -> bool:
    return word in _NOT_NAMES or (word.endswith("s") and word[:-1] in _NOT_NAMES)  # "Thursdays"


def _is_camel_case(word: str) -> bool:
    # "HttpClient" is an identifier; "McLeod", "O'Brien" and "Jean-Luc" are names.
    if word.isupper() or word.startswith(("Mc", "Mac")):
        return False
    return any(a.islower() and b.isupper() for a, b in zip(word, word[1:]))


def _add_longer_name_chunks(kept: list[_Entity], everything: dict[str, _Entity]) -> None:
    # "Harbor Museum" is also mentioned wherever "Harbor Museum Trust" is.
    by_name = {entity.name: entity for entity in kept}
    for entity in everything.values():
        words = entity.words
        for size in range(1, len(words)):
            for start in range(len(words) - size + 1):
                shorter = by_name.get(" ".join(words[start : start + size]))
                if shorter is not None:
                    shorter.chunks |= entity.chunks
