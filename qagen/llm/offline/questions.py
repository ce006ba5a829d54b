"""How the offline generator (``qagen.llm.offline.model``) asks about one sentence of a passage.

``sharp_questions`` finds the sentence's grammatical subject and, with a few patterns, asks
for what the rest of the sentence states ("X was founded in 1921" -> "When was X founded?"),
with the clause forms of ``qagen.llm.offline.forms`` (why, when, where, who, what happens if), or
for the property a ``Label: value`` line gives (``qagen.llm.offline.labels``). The plain
``ABOUT_QUESTION`` is kept as a last resort, worth less than any of these and made only when a
pick gets to it. Step 3 of the method described in ``qagen.llm.offline.model``. The word lists and patterns this takes (verbs,
names, dates, times, prices) are in ``qagen.llm.offline.vocabulary``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from qagen.llm.offline.forms import clause_questions, condition_question
from qagen.llm.offline.labels import is_topic_label, label_questions
from qagen.llm.offline.passage import LABEL_RE, TITLES, clean_phrase
from qagen.llm.offline.words import OPENING_MARKS, bare_word, is_capitalised, looks_plural, lower_first, mentions_time
from qagen.llm.offline.vocabulary import (
    ADVERBS,
    BAD_SUBJECT_START,
    COPULAS,
    COST_VERBS,
    COUNT_VERBS,
    DATED_PARTICIPLES,
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
    ROLES,
    SCHEDULE_VERBS,
    STARTS_WITH_TIME_RE,
    STOPWORDS,
    TAKE_VERBS,
    VERB_TRIGGERS,
)


# The question every sentence with a clear topic can answer, when no sharper pattern fits.
# A fine-tuned model is asked without any passage in view, so the question must stand alone.
ABOUT_QUESTION = "What should I know about {phrase}?"
VAGUE_WORTH = -1.0
# "**2011**: the MV Saltmarrow took over Route 2 ...": a timeline item, its year opening the sentence.
_YEAR_ITEM_RE = re.compile(r"^(?:\*\*|__)?(?:1[5-9]\d\d|20\d\d)s?(?:\*\*|__)?\s*[:–—-]\s+(?=\S)")
# Patterns used per word are compiled here, not looked up in re's cache per call.
_ACRONYM_RE = re.compile(r"\([A-Z][A-Za-z0-9&.-]{1,10}\)")  # "(BSFC)"
_NAME_NUMBER_RE = re.compile(r"\d{1,4}[,.;:]?|[A-Z][,.;:]?")  # "Route 1", "Station A"
# Words that alone never name a subject, on top of the stop words and subject openers.
FRAGMENT_WORDS = frozenset("not unless except only if then there here".split())


# --- questions --------------------------------------------------------------------------------




def _about(phrase: str) -> str:
    return ABOUT_QUESTION.format(phrase=phrase)



def _subject(words: list[str], names: frozenset[str]) -> tuple[str, int] | None:
    """The sentence's subject, ready for a question, and where its verb is; None when unclear."""
    end = -1  # where the subject ends, when an aside stands between it and its verb
    for at, word in enumerate(words[:10]):
        bare = bare_word(word)
        if at > 0 and bare in VERB_TRIGGERS and _can_be_verb(bare, words[at - 1], words[at + 1:]):
            break
        if "(" in word and _ACRONYM_RE.fullmatch(word):
            continue  # "Brannoch Sound Ferry Cooperative (BSFC)"
        if word.endswith(",") and at > 0 and end < 0 and (close := _aside_end(words, at)):
            end = at + 1  # "The current director, Dr. Erik Holm, has led ..."
            at = close
            break
        if word.endswith((",", ";", ":")) or "(" in word:
            return None  # an opening clause or an aside: the subject is not simply the first words
    else:
        return None
    subject = list(words[:end if end > 0 else at])
    while subject and bare_word(subject[-1]) in ADVERBS:
        subject.pop()
    bare_subject = [bare_word(word) for word in subject]
    if not subject or len(subject) > 9 or bare_subject[0] in BAD_SUBJECT_START:
        return None
    if all(word in DETERMINERS for word in bare_subject):
        return None
    for previous, word, raw in zip(bare_subject, bare_subject[1:], subject):
        if word in {"the", "a", "an"} and previous not in PREPOSITIONS:
            return None  # "Every Tuesday the café ...": two noun phrases, not one subject
        if looks_plural(previous) and not is_capitalised(raw) and word not in PREPOSITIONS \
                and word not in {"or", "who", "that", "which"}:
            return None  # "The company reimburses travel ...": a verb we do not know
    phrase = clean_phrase(" ".join(subject))
    return (lower_first(phrase, names), at) if phrase else None


def _aside_end(words: list[str], comma: int) -> int:
    """Where the verb after an aside starts ("..., 18:30 from Port Essary, arrives"); 0 when there is none."""
    for close in range(comma + 1, min(comma + 9, len(words) - 1)):
        if words[close].endswith((";", ":")) or "(" in words[close]:
            return 0
        if words[close].endswith(","):
            verb = bare_word(words[close + 1])
            return close + 1 if verb in VERB_TRIGGERS and _can_be_verb(verb, "", words[close + 2:]) else 0
    return 0


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
    return looks_plural(before)








def _aux(verb: str, subject: str) -> str:
    if verb in PAST_FORMS:
        return "did"
    if verb == "cost":  # "Tickets cost" now, "The refit cost" then
        return "do" if looks_plural(bare_word(subject.split()[-1])) else "did"
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
        if timed or mentions_time(" ".join(clause)):
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
        if not run and not (word[0].isupper() or word[0] in OPENING_MARKS):
            continue  # no run to extend or end, and no capital to start one (is_capitalised is False)
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
        if run and _NAME_NUMBER_RE.fullmatch(word):
            run.append(word)  # "Route 1", "Station A"
            if word[-1] in ",.;:":
                best, run = _longer(best, run), []
            continue
        if run:
            best, run = _longer(best, run), []
    return clean_phrase(" ".join(best)) if best else ""


def _longer(best: list[str], run: list[str]) -> list[str]:
    while run and bare_word(run[-1]) in NAME_JOINERS:
        run = run[:-1]
    return run if len(run) > len(best) else best








def _the(topic: str) -> str:
    return topic if not topic or topic[:1].isupper() or topic.split()[0] in DETERMINERS else f"the {topic}"


def _has_content(phrase: str) -> bool:
    """Whether a phrase names something: "Not", "For" or "unless there" do not."""
    words = [bare_word(word) for word in phrase.split()]
    return bool(words) and words[0] not in BAD_SUBJECT_START and words[0] not in FRAGMENT_WORDS \
        and any(any(ch.isalnum() for ch in word) and word not in STOPWORDS and word not in FRAGMENT_WORDS for word in words)


def _label_match(sentence: str) -> re.Match[str] | None:
    """The match of a ``Label: value`` line whose label names a property ("Length: 46.2 m")."""
    if ":" in sentence and (match := LABEL_RE.match(sentence)) and (is_topic_label(match.group(1))
                                                or match.group(1).strip().lower() == "what happened"):
        return match
    return None


def asks_nothing(sentence: str, topic: str) -> bool:
    """Whether the sentence is a label line with no heading above it to ask about: it gets no question.

    Tested before anything else about the sentence: 3 label lines in 4 have no heading at 10 MB.
    """
    return not topic and _label_match(sentence) is not None


def sharp_questions(
    sentence: str, topic: str, names: frozenset[str], sentence_words: list[str] | None = None
) -> tuple[list[tuple[str, float, str]], Callable[[], list[str]] | None]:
    """The sentence's questions, best first, as (question, worth, answer), and what makes its last-resort ones.

    The answer is "" when it is the sentence itself, or the sentence restated with its heading. The
    vague ``ABOUT_QUESTION``s come after all these, worth ``VAGUE_WORTH`` and answered by the sentence
    itself, so they are made only when a pick gets to them (finding their names took 3.0 of
    extract_pairs' 40 s under cProfile at 10 MB, for questions rarely asked). The second item is None
    for a label line, which has none. sentence_words: ``sentence.split()``, when the caller has it.
    """
    found: list[tuple[str, float, str]] = []
    label = raw_label = ""
    if match := _label_match(sentence):
        if not topic:
            return [], None  # a label asks for a property of the heading above: none, no question
        raw_label = match.group(1)
        label = clean_phrase(raw_label)
        value = sentence[match.end():]
        found += [(question, 1.5, answer) for question, answer
                  in label_questions(raw_label, label, value, topic, names)]
        sentence = value
        sentence_words = None  # the words of the whole line, not of its value
    if not label and (condition := condition_question(sentence)):
        found.append((condition, 1.5, ""))
    opening = OPENING_TIME_RE.match(sentence) or _YEAR_ITEM_RE.match(sentence)
    if opening:
        words = sentence[opening.end():].split()
    else:
        words = sentence.split() if sentence_words is None else sentence_words
    subject_phrase = ""
    if not label and (subject := _subject(words, names)) and _has_content(subject[0]):
        subject_phrase, verb_at = subject
        specific = _specific_questions(subject_phrase, words[verb_at:], timed=opening is not None)
        found += [(question, 1.5, "") for question in specific]
        found += [(question, 1.25, "") for question in clause_questions(
            subject_phrase, words[verb_at:], timed=opening is not None, topic=_the(lower_first(topic, names)))]
    unique: list[tuple[str, float, str]] = []
    seen: set[str] = set()
    for question, worth, answer in found:
        if question.casefold() not in seen:
            seen.add(question.casefold())
            unique.append((question, worth, answer))
    if label:
        return unique, None

    def vague_questions() -> list[str]:
        # The plain question is the last resort: a fine-tuned model learns little from it.
        phrases = [subject_phrase] if subject_phrase else []
        if name := _longest_name(words, names):
            phrases.append(name)
        if topic:
            phrases.append(lower_first(topic, names))
        asked = set(seen)
        questions: list[str] = []
        for phrase in phrases:
            if _has_content(phrase) and (question := _about(phrase)).casefold() not in asked:
                asked.add(question.casefold())
                questions.append(question)
        return questions

    return unique, vague_questions
