"""Wh-questions for a clause: what the rest of a sentence answers about its subject.

``clause_questions`` takes a sentence's subject and the words from its verb on, and asks for the
part of the clause a reader would want: the reason ("because ..." -> "Why ...?"), the time
("... on Saturday 2 June 1962" -> "When did ... leave ...?"), the place ("... at Orrin Bay" ->
"Where does ... spend the night?"), the count ("employs 62 people" -> "How many people ...?"),
the doer when the subject is a person, role or body ("The General Manager leads the three
departments" -> "Who leads the three departments?"), and otherwise what the subject does or
whether it may ("What does the Gullwing carry?", "Must vehicle spaces be booked ...?").
``condition_question`` asks "What happens if ...?" of a sentence that opens with a condition.
The question keeps the clause's own words, so it names its subject and stands alone.
"""

from __future__ import annotations

import re

from qagen.llm.offline.vocabulary import (
    ADVERBS,
    COPULAS,
    MODALS,
    PEOPLE,
    PREPOSITIONS,
    QUANTITY_RE,
    ROLES,
    STOPWORDS,
)

__all__ = ["base_form", "clause_questions", "condition_question", "first_clause"]

_IRREGULAR_BASE = {
    "rose": "rise", "went": "go", "took": "take", "left": "leave", "began": "begin", "ran": "run",
    "met": "meet", "paid": "pay", "sold": "sell", "bought": "buy", "built": "build", "made": "make",
    "held": "hold", "became": "become", "came": "come", "gave": "give", "kept": "keep", "led": "lead",
    "told": "tell", "stood": "stand", "lay": "lie", "meant": "mean", "spent": "spend", "sent": "send",
    "won": "win", "lost": "lose", "brought": "bring", "found": "find", "had": "have", "has": "have",
    "does": "do", "did": "do", "goes": "go", "saw": "see", "got": "get", "grew": "grow", "fell": "fall",
    "wrote": "write", "drove": "drive", "flew": "fly", "sailed": "sail", "carried": "carry",
}
# A stem that takes its "e" back once "ed" is gone: "approv(e)d", "retir(e)d", "handl(e)d", "charg(e)d".
_KEEP_E = re.compile(
    r"(?:[^aeiou][aeiou](?:v|c|z|s|g|r|k|m|n|l|p|d)|[aeiou]{2}[cvszg]|[^aeiou](?:at|ut|ir|ur|ar|iz|is)"
    r"|[bcdfgkpstz]l|[rld]g|[^aeiou]v|[^aeiou]c|[aiou]s)$"
)
_NO_E = ("er", "en", "ow", "ain", "ol", "el", "velop", "on", "om")
_DOUBLED = re.compile(r"([bdfgklmnprtz])\1$")  # "stopp", "planned"
_NEGATIONS = frozenset({"not", "never", "no"})
_CLAUSE_BREAKS = frozenset(
    "and but because which who whose while whereas although though so unless except where when if".split()
)
_BODIES = frozenset(
    "cooperative company board council committee office department team government club society "
    "authority ministry agency association union school university firm supplier".split()
)
_MONTH = (r"(?:January|February|March|April|May|June|July|August|September|October|November|December"
          r"|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\b")
_WEEKDAY = r"(?:Mon|Tues|Tue|Wednes|Wed|Thurs|Thu|Fri|Satur|Sat|Sun)(?:day)?s?\b"
# A time phrase inside a clause: "on Saturday 2 June 1962", "between 1 June and 31 August",
# "on the 25th of each month", "in January", "at 06:15", "90 days before departure".
_TIME_PHRASE_RE = re.compile(
    r"\b(?:(?:on|in|at|from|between|by|until|till|since|before|after|every|each|within|during|"
    r"no later than|until the end of)\s+(?:the\s+|early\s+|late\s+|mid-)?"
    rf"(?:\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH}|\d{{1,2}}(?:st|nd|rd|th)\b|{_WEEKDAY}|{_MONTH}|\d{{1,2}}[:.][0-5]\d\b|(?:1[5-9]|20)\d\d\b|"
    r"\d+\s+(?:working\s+)?(?:days?|hours?|minutes?|weeks?|months?|years?)\b|"
    r"(?:first|last|second|third|next)\s+\w+|(?:morning|evening|night|weekend|summer|winter|spring|autumn)\b)"
    r"|\d+\s+(?:working\s+)?(?:days?|hours?|minutes?|weeks?|months?)\s+(?:before|after|ahead|in advance)\b"
    r"|\b(?:every|each)\s+(?:day|week|month|year|quarter|two|three|four)\b)"
)
# A named place: "at Orrin Bay", "in Port Essary", "to Kellimore" (a capital after the preposition).
_PLACE_PHRASE_RE = re.compile(r"\b(?:at|in|on|near|inside|outside|beside|behind|from|off)\s+(?:the\s+)?(?=[A-Z])")
# Verbs after which "in/at/on the <noun>" says where: "stowed under the seats", "entered in the log".
_PLACING = frozenset(
    "stowed kept stored entered placed posted published held located moored berthed parked found "
    "lives live go goes stay stays meet meets sits sit".split()
)
_PLACING_VERBS = frozenset("won wins finished finishes came comes placed places".split())
_NUMBER_START_RE = re.compile(r"(?:about |around |over |under |at least |at most |up to )?[$€£¥]?\d")
_LOWER_PLACE_RE = re.compile(r"\b(?:at|in|on|under|inside|beside|behind|near)\s+(?:the|a|each|every)\s+[a-z]")


def base_form(verb: str) -> str:
    """"carries" -> "carry", "entered" -> "enter", "approved" -> "approve", "left" -> "leave"."""
    if verb in _IRREGULAR_BASE:
        return _IRREGULAR_BASE[verb]
    if verb.endswith("ied") and len(verb) > 4:
        return verb[:-3] + "y"
    if verb.endswith("ed") and len(verb) >= 4:
        stem = verb[:-2]
        if stem.endswith("ll"):
            return stem[:-1] if len(stem) > 5 else stem  # "travelled" -> "travel", "called" -> "call"
        if _DOUBLED.search(stem) and not stem.endswith(("ss", "dd", "zz")):
            return stem[:-1]  # "stopped" -> "stop"
        if stem.endswith("e"):
            return stem + "e"  # "agreed" -> "agree"
        return stem + "e" if _KEEP_E.search(stem) and not stem.endswith(_NO_E) else stem
    if verb.endswith("ies") and len(verb) > 4:
        return verb[:-3] + "y"
    if verb.endswith(("sses", "shes", "ches", "xes", "zes", "oes")):
        return verb[:-2]
    if verb.endswith("s") and not verb.endswith("ss") and len(verb) > 3:
        return verb[:-1]
    return verb


def _third_person(base: str) -> str:
    if base == "have":
        return "has"
    if base.endswith("y") and base[-2:-1] not in "aeiou":
        return base[:-1] + "ies"
    if base.endswith(("s", "sh", "ch", "x", "z", "o")):
        return base + "es"
    return base + "s"


def _bare(word: str) -> str:
    return word.strip(".,;:!?()[]{}\"'“”‘’*_`").lower()


def first_clause(words: list[str]) -> list[str]:
    """The words up to the first comma, semicolon or linking word ("and", "because", "which", ...)."""
    clause: list[str] = []
    for word in words:
        if _bare(word) in _CLAUSE_BREAKS and clause:
            break
        if word.startswith(("(", "—", "–")):
            break
        clause.append(word)
        if word.endswith((",", ";", ":", ".", "!", "?", ")")):
            break
    if clause:
        clause[-1] = clause[-1].rstrip(",;:.!?")
    while clause and _bare(clause[-1]) in STOPWORDS:
        clause.pop()
    return clause


def _is_doer(subject: str) -> bool:
    words = subject.split()
    last = _bare(words[-1])
    return last in ROLES or last in PEOPLE or last in _BODIES or last.rstrip("s") in ROLES


def _drop_adverbs(words: list[str]) -> list[str]:
    return [w for w in words if not (_bare(w).endswith("ly") and w[:1].islower()) and _bare(w) not in ADVERBS]


def _before(phrase_re: re.Pattern[str], words: list[str]) -> list[str] | None:
    """The clause's words before the first phrase matching ``phrase_re``; None when there is none."""
    text = " ".join(words)
    match = phrase_re.search(text)
    if not match:
        return None
    return _drop_adverbs(text[:match.start()].split())


def clause_questions(subject: str, rest: list[str], timed: bool, topic: str = "") -> list[str]:
    """Questions about the clause ``subject rest...``; ``rest`` starts at the verb.

    timed: the sentence opened with a time ("On 14 March 1962, ..."), which answers "When".
    topic: the heading above, named in a question that would not stand alone without it.
    """
    if not rest or subject.split()[0].lower() in {"no", "none", "neither"}:
        return []  # "No ferries run on 25 December": nothing to ask "When" about
    if len(rest) > 1 and _bare(rest[1]) in {"and", "or"}:
        return []  # "starts and ends the day at ...": two verbs, one question would garble them
    verb = _bare(rest[0])
    tail = rest[1:]
    negated = bool(tail) and _bare(tail[0]) in _NEGATIONS
    if negated:
        tail = tail[1:]
    if verb in {"has", "have", "had"} and tail and _is_participle(tail[0]) and not _bare(tail[0]) == "been":
        # "has led the museum since March 2019": the perfect, asked "Since when has ... led ...?".
        aux, main, tail = verb, _bare(tail[0]), tail[1:]
        clause = first_clause(tail)
        pre = _before(_TIME_PHRASE_RE, clause)
        at = len(" ".join(pre or []))
        if pre is not None and " ".join(clause)[at:].lstrip().startswith("since") and not negated:
            return [_q(f"Since when {aux} {subject} {main}", pre)]
        return []
    if verb in COPULAS or verb in MODALS:
        aux, main = verb, ""
        if verb in MODALS and tail and _bare(tail[0]) not in PREPOSITIONS:
            main, tail = _bare(tail[0]), tail[1:]  # "must be booked", "may sail"
        active_verb = ""
    else:
        base = base_form(verb)
        past = verb != base and verb != _third_person(base) and not verb.endswith("s")
        aux = "did" if past else ("does" if verb.endswith("s") else "do")
        main, active_verb = base, verb
    lead = f"{aux} {subject}" + (f" {main}" if main else "")
    clause = first_clause(tail)
    questions: list[str] = []

    if active_verb in _PLACING_VERBS and clause:
        # "Sea Lark won the race", "Orrin Lass finished second in 2:44:31": who came where.
        placed = _before_time(clause)
        if topic and len(placed) <= 2 and not any(_bare(w) in {"race", "in", "at"} for w in placed):
            placed = [*placed, "in", topic]  # "Who finished second in the Brannoch Sound Regatta 2023?"
        questions.append(_q(f"Who {active_verb}", placed))
    if because := _because(rest):
        not_ = " not" if negated else ""
        questions.append(_q(f"Why {aux} {subject}{not_}" + (f" {main}" if main else ""), because))
    if not negated:
        if timed:
            questions.append(_q(f"When {lead}", _drop_adverbs(clause)))
        elif (pre := _before(_TIME_PHRASE_RE, clause)) is not None:
            questions.append(_q(f"When {lead}", pre))
        if (pre := _before(_PLACE_PHRASE_RE, clause)) is not None and not _TIME_PHRASE_RE.match(
                " ".join(clause[len(pre):])):
            questions.append(_q(f"Where {lead}", pre))
        elif (main in _PLACING or verb in _PLACING or (verb in COPULAS and tail and _bare(tail[0]) in _PLACING)) \
                and (pre := _before(_LOWER_PLACE_RE, clause)) is not None:
            questions.append(_q(f"Where {lead}", pre))
    if active_verb and (match := QUANTITY_RE.match(" ".join(tail))):
        noun = _plural_after(" ".join(tail)[match.end():].split())
        if noun and match.group(1).lower() not in {"1", "one"}:
            questions.append(f"How many {noun} {aux} {subject} {main}?")
    if not negated and _is_doer(subject) and clause and (active_verb or (verb in MODALS and main)) \
            and main not in {"have", "be", "do"}:
        if verb in MODALS:
            said = f"{verb} {main}"
        else:
            said = active_verb if aux == "did" else _third_person(main)
        questions.append(_q(f"Who {said}", clause))
    if active_verb and clause and _bare(clause[0]) not in PREPOSITIONS | {"to", "not"} and not negated:
        questions.append(f"What {aux} {subject} {main}?")
    if verb in COPULAS and not negated and tail and _NUMBER_START_RE.match(" ".join(tail)):
        questions.append(f"What {verb} {subject}?")  # "The default timeout is 30 seconds."
    if (verb in COPULAS and tail and _is_participle(tail[0])) or (verb in MODALS and main):
        body = first_clause(tail)
        if body and len(body) <= 12:
            questions.append(_q(f"{aux.capitalize()} {subject}" + (f" {main}" if main else ""), body))
    return questions


def _before_time(words: list[str]) -> list[str]:
    """The words before a finishing time: "second in 2:44:31" -> "second"."""
    for at, word in enumerate(words):
        if _bare(word) == "in" and at + 1 < len(words) and re.match(r"\d{1,2}:\d\d", words[at + 1]):
            return words[:at]
    return words


def _q(lead: str, words: list[str]) -> str:
    text = " ".join([lead, *words]).strip()
    return text[:1].upper() + text[1:] + "?"


def _is_participle(word: str) -> bool:
    bare = _bare(word)
    return bare.endswith(("ed", "en")) or bare in {"paid", "run", "held", "kept", "made", "sold", "built",
                                                     "allowed", "set", "put", "shut", "lost", "told"}


def _because(rest: list[str]) -> list[str]:
    """The clause before "because": "Why are bicycles not carried on Route 4?"."""
    bare = [_bare(w) for w in rest]
    if "because" not in bare:
        return []
    at = bare.index("because")
    before = [w for w in rest[1:at] if _bare(w) not in _NEGATIONS]
    if rest[1:2] and _bare(rest[1]) in _NEGATIONS:
        before = [w for w in rest[2:at]]
    if rest[0] and _bare(rest[0]) in MODALS and before:
        before = before[1:]  # the main verb was put next to the subject
    before = [w.rstrip(",;") for w in before]
    return before if 0 < len(before) <= 14 and not any(w.endswith(";") for w in rest[1:at]) else []


def _plural_after(words: list[str]) -> str:
    noun: list[str] = []
    for word in words[:3]:
        bare = _bare(word)
        if not bare.isalpha() or not word[:1].islower() or bare in STOPWORDS:
            break
        noun.append(bare)
        if bare.endswith("s") or bare in PEOPLE:
            return " ".join(noun)
        if word != word.rstrip(".,;:"):
            break
    return ""


_CONDITION_RE = re.compile(r"^(If|When|Whenever|Once|Should)\s+(\S.*?),\s+(?=\S)")
_POINTING = frozenset("it this that they he she these those there its".split())


def condition_question(sentence: str) -> str:
    """"If the cooperative cancels a sailing, ..." -> "What happens if the cooperative cancels a sailing?"."""
    match = _CONDITION_RE.match(sentence)
    if not match:
        return ""
    words = match.group(2).split()
    if not 2 <= len(words) <= 18 or _bare(words[0]) in _POINTING or "," in match.group(2):
        return ""
    word = match.group(1).lower()
    word = "if" if word == "should" else word
    return f"What happens {word} {' '.join(words)}?"
