"""Questions about ``Label: value`` lines, answered in a sentence that keeps the heading above them.

A register or a log says "Length: 46.2 m" under "MV Corrie Dawn", or "Date: Monday 27 February
2023" under "IR-2023-02". The line alone is no answer: a reader asked "What is the length of MV
Corrie Dawn?" needs the vessel named. ``label_questions`` asks for the property and restates the
line with its heading, using only the line's and the heading's own words plus a few joining ones
("The length of MV Corrie Dawn is 46.2 m."), so the pipeline's grounding check keeps it.
"""

from __future__ import annotations

import re

from qagen.llm.offline.forms import base_form
from qagen.llm.offline.passage import DIGIT_RE
from qagen.llm.offline.vocabulary import DATE_RE, DATED_PARTICIPLES, PEOPLE, PREPOSITIONS, PRICE_RE, QUESTION_WORDS, YEAR_RE
from qagen.llm.offline.words import bare_word, is_capitalised, looks_plural, lower_first, mentions_time

__all__ = ["is_named", "is_topic_label", "label_questions"]

_NOT_TOPICS = frozenset({"q", "a", "question", "answer", "note", "notes", "tip", "warning", "important", "nb",
                         "example", "see", "caution"})
_LEAD_IN_RE = re.compile(r"\b(?:is|are|was|were|has|have|must|may|can|will)\b", re.IGNORECASE)
_HAPPENED_RE = re.compile(r"^what (?:happened|went wrong|was done)$", re.IGNORECASE)


def is_topic_label(label: str) -> bool:
    """"Opening hours: ..." names a topic; "A: ...", "Note: ..." or "In service: ..." do not."""
    words = label.split()
    return (len(label) > 1 and len(words) <= 4 and bare_word(words[0]) not in QUESTION_WORDS
            and bare_word(words[0]) not in PREPOSITIONS and label.strip().lower() not in _NOT_TOPICS)


def is_named(topic: str, names: frozenset[str]) -> bool:
    """A heading naming one thing ("MV Corrie Dawn", "IR-2023-01"), not a subject ("Opening hours")."""
    words = topic.split()
    if not words or not all(is_capitalised(word) or word[:1].isdigit() for word in words):
        return False
    if len(words) > 1 and topic.isupper():
        return False  # "CURRENT FLEET"
    identifier = len(words) == 1 and bool(DIGIT_RE.search(topic)) and any(c.isalpha() for c in topic)
    acronym = any(2 <= len(word) <= 5 and word.isalpha() and word.isupper() for word in words)  # "MV"
    return identifier or acronym or any(bare_word(word) in names for word in words)


def _time_preposition(value: str) -> str:
    """"in 1998", "on 11 May 1998": how a date joins a verb; "" when the value does not start with one."""
    if DATE_RE.match(value) and value[:1].isdigit():
        return "on "
    if YEAR_RE.match(value) or re.match(r"(?:January|February|March|April|May|June|July|August|September"
                                        r"|October|November|December)\b", value):
        return "in "
    return ""


def label_questions(raw_label: str, label: str, value: str, topic: str,
                    names: frozenset[str]) -> list[tuple[str, str]]:
    """(question, answer) pairs for the line ``raw_label: value`` under the heading ``topic``."""
    value = value.strip().rstrip(".;,").strip()
    if not topic or not value or not any(ch.isalnum() for ch in value):
        return []
    named = is_named(topic, names)
    the_topic = topic if named else _with_article(topic)
    heading = topic[:1].upper() + topic[1:]
    lowered = lower_first(label, names)
    plain = lowered.lower() if not any(bare_word(w) in names for w in label.split()) else lowered
    colon = f"{heading}, {plain}: {value}."
    words = label.split()
    if _HAPPENED_RE.match(raw_label.strip()):
        return [(f"What happened in {the_topic}?", f"In {the_topic}, {value}.")] if named else []
    if plain in DATED_PARTICIPLES:
        if not mentions_time(value):
            return []
        preposition = _time_preposition(value)
        answer = f"{heading} was {plain} {preposition}{value}." if preposition else colon
        return [(f"When was {the_topic} {plain}?", answer)]
    if bare_word(words[0]).endswith("ed"):
        # "Entered service: 11 May 1998": a verb, asked as one.
        if not (named and mentions_time(value)):
            return []
        rest = " ".join(plain.split()[1:])
        preposition = _time_preposition(value)
        question = f"When did {the_topic} {base_form(bare_word(words[0]))}{' ' + rest if rest else ''}?"
        return [(question, f"{heading} {plain} {preposition}{value}." if preposition else colon)]
    if len(words) >= 2 and bare_word(words[1]).endswith("ed") and value[:1].isdigit():
        # "Passengers carried: 412,600": how many were carried.
        by = "by" if named else "in"
        rest = " ".join(plain.split()[1:])
        return [(f"How many {plain.split()[0]} were {rest} {by} {the_topic}?", colon)]
    verb = "are" if looks_plural(bare_word(words[-1])) else "is"
    if not named and _LEAD_IN_RE.search(topic):
        return []  # "Staff are organised in three departments": a lead-in line, not a heading to ask about
    if PRICE_RE.match(value) and (bare_word(words[-1]) in PEOPLE or looks_plural(bare_word(words[-1]))):
        # "Adults: NOK 120" under "Tickets".
        return [(f"How much {'are' if looks_plural(bare_word(topic.split()[-1])) else 'is'} {the_topic} "
                 f"for {plain}?", colon)]
    short = len(value.split()) <= 10 and not (value[:1].islower() and len(value.split()) > 3)
    if named:
        answer = f"The {plain} of {the_topic} {verb} {value}." if short else colon
        return [(f"What {verb} the {plain} of {the_topic}?", answer)]
    if looks_plural(bare_word(topic.split()[-1])) and not looks_plural(bare_word(words[-1])) \
            and not value[:1].isdigit():
        return [(f"What are {the_topic} for {plain}?", colon)]  # "What are the weather limits for fog?"
    return [(f"What {verb} the {plain} in {the_topic}?", colon)]


def _with_article(topic: str) -> str:
    first = topic.split()[0].lower()
    if first in {"the", "a", "an", "our", "your", "their", "its"}:
        return topic[:1].lower() + topic[1:]
    return "the " + topic[:1].lower() + topic[1:]
