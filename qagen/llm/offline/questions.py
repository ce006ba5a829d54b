"""How the offline generator (``qagen.llm.offline.model``) asks about one sentence of a passage.

``sentence_questions`` finds the sentence's grammatical subject and, with a few patterns, asks
for what the rest of the sentence states ("X was founded in 1921" -> "When was X founded?"), or
for the property a ``Label: value`` line gives under a heading that names one thing; every
sentence with a clear topic also gets the plain ``ABOUT_QUESTION``. Step 3 of the method
described in ``qagen.llm.offline.model``. The word lists and patterns this takes (verbs,
names, dates, times, prices) are in ``qagen.llm.offline.vocabulary``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from qagen.llm.offline.passage import DIGIT_RE, LABEL_RE, TITLES, clean_phrase
from qagen.llm.offline.vocabulary import (
    ADVERBS,
    BAD_SUBJECT_START,
    COPULAS,
    COST_VERBS,
    COUNT_VERBS,
    DATED_PARTICIPLES,
    DATE_RE,
    DETERMINERS,
    DURATION_RE,
    IRREGULAR_PAST,
    IRREGULAR_PAST_FORMS,
    IRREGULAR_PLURALS,
    LOCATIVE,
    MEASURE_RE,
    MODALS,
    NAME_JOINERS,
    NOT_A_NAME_RE,
    NO_AGENT,
    OPENING_TIME_RE,
    PAST_FORMS,
    PLACED,
    PREPOSITIONS,
    PRICED,
    PRICE_RE,
    QUANTITY_RE,
    QUESTION_WORDS,
    ROLES,
    SCHEDULE_VERBS,
    STARTS_WITH_TIME_RE,
    STOPWORDS,
    TAKE_VERBS,
    TIME_RE,
    TIME_WORDS_RE,
    VERB_TRIGGERS,
    YEAR_RE,
)


# The question every sentence with a clear topic can answer, when no sharper pattern fits.
# A fine-tuned model is asked without any passage in view, so the question must stand alone.
ABOUT_QUESTION = "What should I know about {phrase}?"


# --- questions --------------------------------------------------------------------------------


def bare_word(word: str) -> str:
    """The word without the punctuation and markup around it, in lower case, as the word lists hold it."""
    return word.strip(".,;:!?()[]{}\"'“”‘’*_`").lower()


def _about(phrase: str) -> str:
    return ABOUT_QUESTION.format(phrase=phrase)


def is_capitalised(word: str) -> bool:
    """Whether the word opens with a capital, past an opening bracket, quote or emphasis mark."""
    core = word.strip("([\"'“‘*_")
    return core[:1].isupper()


def known_names(sentences: Iterable[str]) -> frozenset[str]:
    """Words the passage capitalises mid-sentence: proper names, even when one opens a sentence."""
    names: set[str] = set()
    for sentence in sentences:
        words = sentence.split()
        for previous, word in zip(words, words[1:]):
            if is_capitalised(word) and not previous.endswith((":", ".")):
                names.add(bare_word(word))
    names.discard("i")
    return frozenset(names)


def _subject(words: list[str], names: frozenset[str]) -> tuple[str, int] | None:
    """The sentence's subject, ready for a question, and where its verb is; None when unclear."""
    for at, word in enumerate(words[:10]):
        bare = bare_word(word)
        if at > 0 and bare in VERB_TRIGGERS and _can_be_verb(bare, words[at - 1], words[at + 1:]):
            break
        if word.endswith((",", ";", ":")) or "(" in word:
            return None  # an opening clause or an aside: the subject is not simply the first words
    else:
        return None
    subject = list(words[:at])
    while subject and bare_word(subject[-1]) in ADVERBS:
        subject.pop()
    bare_subject = [bare_word(word) for word in subject]
    if not subject or len(subject) > 7 or bare_subject[0] in BAD_SUBJECT_START:
        return None
    if all(word in DETERMINERS for word in bare_subject):
        return None
    for previous, word, raw in zip(bare_subject, bare_subject[1:], subject):
        if word in {"the", "a", "an"} and previous not in PREPOSITIONS:
            return None  # "Every Tuesday the café ...": two noun phrases, not one subject
        if _looks_plural(previous) and not is_capitalised(raw) and word not in PREPOSITIONS \
                and word not in {"or", "who", "that", "which"}:
            return None  # "The company reimburses travel ...": a verb we do not know
    phrase = clean_phrase(" ".join(subject))
    return (_lower_first(phrase, names), at) if phrase else None


def _can_be_verb(bare: str, previous: str, following: list[str]) -> bool:
    """"The house is", "on a lead", "the museum's displays": a noun that looks like a verb."""
    if bare in COPULAS or bare in MODALS:
        return True
    if bare == "cost" and PRICE_RE.match(" ".join(following[:2])):
        return True  # "The refit cost NOK 2 million"
    before = bare_word(previous)
    if before in DETERMINERS or before in PREPOSITIONS or before.endswith(("'s", "’s")):
        return False
    if bare.endswith(("s", "ed")) or bare in PAST_FORMS or bare in IRREGULAR_PAST_FORMS:
        return True
    # A plain form such as "leave" or "open" is a verb after a plural ("Tickets cost", "Staff
    # leave"), a noun otherwise ("Unused leave of ...").
    return _looks_plural(before)


def _looks_plural(bare: str) -> bool:
    return bare in IRREGULAR_PLURALS or (
        bare.endswith("s") and not bare.endswith(("ss", "us", "is", "'s", "’s"))
    )


def _lower_first(phrase: str, names: frozenset[str]) -> str:
    first, _, rest = phrase.partition(" ")
    if _keeps_capital(first, rest, names):
        return phrase
    return first.lower() + (" " + rest if rest else "")


def _keeps_capital(first: str, rest: str, names: frozenset[str]) -> bool:
    if first.lower() in DETERMINERS:
        return False
    if first.lower().rstrip(".") in TITLES or (first.isupper() and len(first) > 1):
        return True
    return first.lower() in names or (bool(rest) and rest[:1].isupper())


def _aux(verb: str, subject: str) -> str:
    if verb in PAST_FORMS:
        return "did"
    if verb == "cost":  # "Tickets cost" now, "The refit cost" then
        return "do" if _looks_plural(bare_word(subject.split()[-1])) else "did"
    return "does" if verb.endswith("s") else "do"


def _specific_questions(subject: str, rest: list[str], timed: bool) -> list[str]:
    """Questions aimed at what the sentence states about its subject; rest starts at the verb.

    timed: the sentence opens with a time ("In 2019, ..."), which answers a "When" question.
    """
    verb = bare_word(rest[0])
    after = rest[1:]
    bare_after = [bare_word(word) for word in after]
    tail = " ".join(after)
    if verb in COPULAS:
        return _copula_questions(subject, verb, after, bare_after, timed)
    if verb in COUNT_VERBS:
        noun = _counted_noun(tail)
        if noun:
            return [f"How many {noun} {_aux(verb, subject)} {subject} {COUNT_VERBS[verb]}?"]
    if verb in COST_VERBS and PRICE_RE.search(tail):
        return [f"How much {_aux(verb, subject)} {subject} cost?"]
    if verb in TAKE_VERBS and DURATION_RE.search(tail):
        return [f"How long {_aux(verb, subject)} {subject} {TAKE_VERBS[verb]}?"]
    if verb in SCHEDULE_VERBS and (timed or STARTS_WITH_TIME_RE.match(tail)):
        return [f"When {_aux(verb, subject)} {subject} {SCHEDULE_VERBS[verb]}?"]
    return []


def _copula_questions(
    subject: str, verb: str, after: list[str], bare_after: list[str], timed: bool
) -> list[str]:
    skip = 1 if bare_after and (bare_after[0] in ADVERBS or bare_after[0].endswith("ly")) else 0
    if len(after) <= skip:
        return []
    head = bare_after[skip]
    following = after[skip + 1:]
    complement = " ".join(after[skip:])
    questions: list[str] = []
    if head in DATED_PARTICIPLES:
        clause = _first_clause(following)  # "designed by Per Lund and was completed in 1924"
        if timed or _mentions_time(" ".join(clause)):
            questions.append(f"When {verb} {subject} {head}?")
        if head not in NO_AGENT and _has_named_agent(clause):
            questions.append(f"Who {IRREGULAR_PAST.get(head, head)} {subject}?")
    elif head in PLACED and following and bare_word(following[0]) in LOCATIVE:
        questions.append(f"Where {verb} {subject} {head}?")
    elif head in {"in", "at", "near", "opposite", "beside"} and _names_a_place(following):
        questions.append(f"Where {verb} {subject}?")  # "The shop is at Strandkaien 12."
    elif head == "free" or PRICE_RE.match(complement):
        questions.append(f"How much {verb} {subject}?")
    elif head in PRICED and PRICE_RE.search(" ".join(following[:4])):
        questions.append(f"How much {verb} {subject} {head}?")
    elif head == "entitled" and following and bare_word(following[0]) == "to" \
            and (noun := _counted_noun(" ".join(following[1:]))):
        questions.append(f"How many {noun} {verb} {subject} entitled to?")
    elif STARTS_WITH_TIME_RE.match(complement):
        questions.append(f"When {verb} {subject}?")  # "Core hours are 10:00 to 15:00."
    elif head in {"open", "closed", "available", "staffed"} \
            and (timed or STARTS_WITH_TIME_RE.match(" ".join(following))):
        questions.append(f"When {verb} {subject} {head}?")
    elif match := MEASURE_RE.match(complement):
        questions.append(f"How {match.group(1).lower()} {verb} {subject}?")
    elif head in {"a", "an", "the", "one"} and len(following) >= 2:
        who = _is_person(subject) or any(bare_word(w) in ROLES for w in following[:4])
        questions.append(f"{'Who' if who else 'What'} {verb} {subject}?")
    elif _is_person(subject) and is_capitalised(after[skip]):
        questions.append(f"Who {verb} {subject}?")  # "The director is Anna Berg."
    return questions


def _names_a_place(words: list[str]) -> bool:
    if words and bare_word(words[0]) == "the":
        words = words[1:]
    if not words or STARTS_WITH_TIME_RE.match(" ".join(words[:2])):
        return False  # "in November" says when, not where
    return is_capitalised(words[0]) or words[0][:1].isdigit()


def _first_clause(words: list[str]) -> list[str]:
    clause: list[str] = []
    for word in words:
        if bare_word(word) in {"and", "but", "while", "which", "who", "whereas", "although"}:
            break
        clause.append(word)
        if word.endswith((",", ";", ":")):
            break
    return clause


def _is_person(subject: str) -> bool:
    words = subject.split()
    return words[0].lower().rstrip(".") in TITLES or bare_word(words[-1]) in ROLES


def _has_named_agent(words: list[str]) -> bool:
    """"... by Ingrid Dahl" or "... by the shipowner Ingrid Dahl": someone the passage names."""
    for at, word in enumerate(words):
        if bare_word(word) == "by":
            return any(is_capitalised(w) for w in words[at + 1:at + 4])
    return False


def _mentions_time(text: str) -> bool:
    return any(regex.search(text) for regex in (YEAR_RE, DATE_RE, TIME_RE, TIME_WORDS_RE))


def _counted_noun(tail: str) -> str:
    """"over 3,000 ship models from ..." -> "ship models"; "" when no plural noun follows a number."""
    match = QUANTITY_RE.match(tail)
    if not match or match.group(1).lower() in {"1", "one"}:
        return ""
    noun: list[str] = []
    for word in tail[match.end():].split()[:3]:
        bare = bare_word(word)
        if not bare.isalpha() or not word[:1].islower() or bare in STOPWORDS:
            break
        noun.append(bare)
        if bare.endswith("s") or bare in IRREGULAR_PLURALS:
            return " ".join(noun)
        if word != word.rstrip(".,;:!?"):
            break
    return ""


def _longest_name(words: list[str], names: frozenset[str]) -> str:
    """The longest run of capitalised words (titles and "of", "de", ... allowed inside)."""
    best: list[str] = []
    run: list[str] = []
    for at, word in enumerate(words + ["."]):
        bare = bare_word(word)
        capital = is_capitalised(word) and bare.replace(".", "").replace("-", "").isalpha()
        opener = at > 0 or bare in names or bare.rstrip(".") in TITLES
        if capital and opener and not NOT_A_NAME_RE.fullmatch(word.strip(".,;:!?()\"'“”‘’*_")):
            run.append(word)
            if word.endswith((",", ";", ":", "!", "?")) or (word.endswith(".") and bare not in TITLES):
                best, run = _longer(best, run), []
            continue
        if run and bare in NAME_JOINERS:
            run.append(word)
            continue
        if run and re.fullmatch(r"\d{1,4}[,.;:]?|[A-Z][,.;:]?", word):
            run.append(word)  # "Route 1", "Station A"
            if word[-1] in ",.;:":
                best, run = _longer(best, run), []
            continue
        best, run = _longer(best, run), []
    return clean_phrase(" ".join(best)) if best else ""


def _longer(best: list[str], run: list[str]) -> list[str]:
    while run and bare_word(run[-1]) in NAME_JOINERS:
        run = run[:-1]
    return run if len(run) > len(best) else best


def _is_topic_label(label: str) -> bool:
    """"Opening hours: ..." names a topic; "A: ...", "Note: ..." or "What happened: ..." do not."""
    words = label.split()
    return (len(label) > 1 and len(words) <= 4 and bare_word(words[0]) not in QUESTION_WORDS
            and bare_word(words[0]) not in PREPOSITIONS
            and label.strip().lower() not in {"q", "a", "question", "answer", "note", "notes", "tip",
                                              "warning", "important", "nb", "example", "see"})


def _label_questions(label: str, value: str, topic: str, names: frozenset[str]) -> list[str]:
    """"Length: 46.2 m" under "MV Corrie Dawn" -> "What is the length of MV Corrie Dawn?"."""
    if not _is_named(topic, names):
        return []
    lowered = _lower_first(label, names)
    if lowered.lower() in DATED_PARTICIPLES:
        return [f"When was {topic} {lowered.lower()}?"] if _mentions_time(value) else []
    if any(bare_word(word).endswith("ed") for word in label.split()):
        return []  # "Entered service": a verb, not a property
    verb = "are" if _looks_plural(bare_word(label.split()[-1])) else "is"
    return [f"What {verb} the {lowered} of {topic}?"]


def _is_named(topic: str, names: frozenset[str]) -> bool:
    """A heading naming one thing ("MV Corrie Dawn", "IR-2023-01"), not a subject ("Opening hours")."""
    words = topic.split()
    if not words or not all(is_capitalised(word) or word[:1].isdigit() for word in words):
        return False
    if len(words) > 1 and topic.isupper():
        return False  # "CURRENT FLEET"
    identifier = len(words) == 1 and bool(DIGIT_RE.search(topic)) and any(c.isalpha() for c in topic)
    acronym = any(2 <= len(word) <= 5 and word.isalpha() and word.isupper() for word in words)  # "MV"
    return identifier or acronym or any(bare_word(word) in names for word in words)


def sentence_questions(sentence: str, topic: str, names: frozenset[str]) -> list[tuple[str, float]]:
    """Candidate questions for one sentence, best first, each with how much it is worth."""
    found: list[tuple[str, float]] = []
    label = ""
    if (match := LABEL_RE.match(sentence)) and _is_topic_label(match.group(1)):
        label = clean_phrase(match.group(1))
        sentence = sentence[match.end():]
    opening = OPENING_TIME_RE.match(sentence)
    words = sentence[opening.end():].split() if opening else sentence.split()
    if subject := _subject(words, names):
        phrase, verb_at = subject
        specific = _specific_questions(phrase, words[verb_at:], timed=opening is not None)
        found += [(question, 1.5) for question in specific]
        found.append((_about(phrase), 0.5))
    if label:
        found += [(question, 1.5) for question in _label_questions(label, sentence, topic, names)]
        found.append((_about(_lower_first(label, names)), 0.5))
    if name := _longest_name(words, names):
        found.append((_about(name), 0.25))
    if topic:
        found.append((_about(_lower_first(topic, names)), 0.0))
    unique: list[tuple[str, float]] = []
    seen: set[str] = set()
    for question, worth in found:
        if question.casefold() not in seen:
            seen.add(question.casefold())
            unique.append((question, worth))
    return unique
