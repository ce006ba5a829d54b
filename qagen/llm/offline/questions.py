"""How the offline generator (``qagen.offline``) asks about one sentence of a passage.

``sentence_questions`` finds the sentence's grammatical subject and, with a few patterns, asks
for what the rest of the sentence states ("X was founded in 1921" -> "When was X founded?"), or
for the property a ``Label: value`` line gives under a heading that names one thing; every
sentence with a clear topic also gets the plain ``ABOUT_QUESTION``. Step 3 of the method
described in ``qagen.offline``. The word lists and patterns this takes (verbs, names, dates,
times, prices) live here too; the scoring in ``qagen.offline`` reuses a few of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from qagen.llm.offline.passage import DIGIT_RE, LABEL_RE, TITLES, clean_phrase

__all__ = [
    "ABOUT_QUESTION",
    "DATE_RE",
    "PRICE_RE",
    "STOPWORDS",
    "TIME_RE",
    "YEAR_RE",
    "bare_word",
    "is_capitalised",
    "known_names",
    "sentence_questions",
]

# The question every sentence with a clear topic can answer, when no sharper pattern fits.
# A fine-tuned model is asked without any passage in view, so the question must stand alone.
ABOUT_QUESTION = "What should I know about {phrase}?"


# --- word lists -------------------------------------------------------------------------------

_COPULAS = frozenset({"is", "are", "was", "were"})
_MODALS = frozenset(
    "will can cannot can't may must should would could might shall do does did don't doesn't didn't "
    "won't isn't aren't wasn't weren't".split()
)
_DETERMINERS = frozenset("the a an our your each every all most many some both any no".split())
_BAD_SUBJECT_START = frozenset(
    # pronouns and words pointing back at earlier text
    "it this that these those they he she we you i there here its their his her my such which who "
    "what when where why how one "
    # prepositions and subordinators: the sentence opens with a clause, not its subject
    "in on at after before since during for from to with by as if because while although though "
    "unlike like until once upon under over between within without through throughout across about "
    "despite near "
    # connectives and adverbs
    "and but or so yet however also then thus therefore moreover furthermore meanwhile today now "
    "currently finally first second third additionally instead otherwise still only just even "
    "perhaps usually often sometimes please note".split()
)
_ADVERBS = frozenset(
    "also usually now still only always often currently normally generally typically recently then "
    "already never even just mainly mostly newly first originally later officially formally "
    "finally partly fully".split()
)
_PREPOSITIONS = frozenset(
    "of in at on for from with by to near and behind under over inside outside across along beside "
    "between above below around into onto through within without about after before during since "
    "opposite per via".split()
)
STOPWORDS = _DETERMINERS | _PREPOSITIONS | _COPULAS | frozenset(
    "it its this that these those they he she we you i or but as be been has have had not are "
    "there their which who what when where how also than then so".split()
)
_ROLES = frozenset(
    "director founder manager curator head chair chairman chairwoman chairperson president ceo "
    "owner author architect editor captain mayor principal leader secretary treasurer coordinator "
    "officer supervisor chief minister king queen artist painter designer engineer inventor creator "
    "composer writer poet scientist professor teacher doctor".split()
)
_IRREGULAR_PLURALS = frozenset("people children staff men women persons personnel crew".split())
_DATED_PARTICIPLES = frozenset(
    "founded built established opened reopened completed created launched introduced born published "
    "released designed started formed renovated restored rebuilt inaugurated constructed signed held "
    "discovered invented added installed appointed elected closed demolished destroyed acquired "
    "painted written made drawn begun finished extended expanded moved renamed donated bought sold "
    "named granted awarded issued adopted approved updated merged".split()
)
# For "Who <past> X?" from "X was <participle> by Y"; regular verbs use the participle itself.
_IRREGULAR_PAST = {"built": "built", "written": "wrote", "drawn": "drew", "made": "made",
                   "held": "held", "begun": "began", "bought": "bought", "sold": "sold"}
_NO_AGENT = frozenset({"born", "closed", "demolished", "destroyed", "moved"})
_QUESTION_WORDS = frozenset("what which who whom whose when where why how".split())
_NAME_JOINERS = frozenset("of de da van von der den la le du del".split())  # "Museum of Art"
_PRICED = frozenset("reimbursed paid charged priced valued taxed fined refunded billed insured".split())
_PLACED = frozenset({"located", "situated", "based", "housed"})
_LOCATIVE = frozenset("in at on near inside next beside opposite behind along outside".split())


def _verb_forms(*rows: str) -> dict[str, str]:
    """Map every form of each verb ("base third-person past") to its base form."""
    forms: dict[str, str] = {}
    for row in rows:
        base, *others = row.split()
        for form in (base, *others):
            forms[form] = base
    return forms


_COUNT_VERBS = _verb_forms(
    "have has had", "employ employs employed", "contain contains contained",
    "include includes included", "hold holds held", "house houses housed", "offer offers offered",
    "seat seats seated", "attract attracts attracted", "receive receives received",
    "welcome welcomes welcomed", "sell sells sold", "serve serves served", "own owns owned",
    "feature features featured", "display displays displayed",
)
_SCHEDULE_VERBS = _verb_forms(
    "open opens opened", "close closes closed", "start starts started", "begin begins began",
    "end ends ended", "run runs ran", "depart departs departed", "leave leaves left",
    "arrive arrives arrived", "reopen reopens reopened", "finish finishes finished",
    "launch launches launched", "return returns returned",
)
_COST_VERBS = frozenset({"cost", "costs"})
_IRREGULAR_PAST_FORMS = frozenset("made kept gave became lay stood meant led told built".split())
_TAKE_VERBS = _verb_forms("take takes took", "last lasts lasted")
_PAST_FORMS = frozenset(
    "had employed contained included held housed offered seated attracted received welcomed sold "
    "served owned featured displayed opened closed started began ended ran departed left arrived "
    "reopened finished launched returned took lasted".split()
)
# Other common verbs: they only mark where the subject ends, for the plain "about" question.
_OTHER_VERBS = frozenset(
    "provides provide provided allows allow allowed requires require required needs need needed "
    "uses use used shows show showed describes describe described explains explain explained "
    "covers cover covered lists accepts accept accepted supports support supported gives give gave "
    "makes make made lets helps help helped keeps keep kept remains remain remained becomes become "
    "became lies lie lay stands stand stood consists consist consisted belongs belong belonged "
    "depends depend depended means mean meant applies apply applied leads lead led connects "
    "connect connected operates operate operated manages manage managed hosts host hosted "
    "organises organise organised organizes organize organized tells tell told founded built "
    "designed created donated established introduced".split()
)
_VERB_TRIGGERS = (_COPULAS | _MODALS | _COST_VERBS | _OTHER_VERBS
                  | frozenset(_COUNT_VERBS) | frozenset(_SCHEDULE_VERBS) | frozenset(_TAKE_VERBS))


# --- patterns ---------------------------------------------------------------------------------

_MONTH = (r"(?:January|February|March|April|May|June|July|August|September|October|November"
          r"|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\b")
_WEEKDAY = r"\b(?:Mon|Tue|Tues|Wed|Wednes|Thu|Thurs|Fri|Sat|Satur|Sun)(?:day)?s?\b"
YEAR_RE = re.compile(r"\b(?:1[5-9]\d\d|20\d\d)s?\b")
DATE_RE = re.compile(
    rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH}|\b{_MONTH}\.?\s+\d{{1,2}}\b"
    r"|\b\d{4}-\d\d-\d\d\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b"
)
TIME_RE = re.compile(r"\b\d{1,2}[:.][0-5]\d\b(?![.,]?\d)|\b\d{1,2}\s?[ap]\.?m\b|\b(?:noon|midnight)\b")
_CURRENCY = r"(?:USD|EUR|GBP|NOK|SEK|DKK|CHF|JPY|INR|AUD|CAD)"
PRICE_RE = re.compile(
    rf"[$€£¥₹]\s?\d|\b{_CURRENCY}\s?\d|\b\d[\d,.]*\s?(?:{_CURRENCY}|dollars?|euros?|pounds?|kroner"
    r"|kronor|francs?|cents?|pence|yen|rupees?)\b"
)
_DURATION_RE = re.compile(
    r"\b(?:\d[\d.,]*|an?|one|two|three|four|five|six|seven|eight|nine|ten|twelve|twenty|thirty|"
    r"forty|fifty|half an?)\s?(?:seconds?|minutes?|mins?|hours?|hrs?|days?|weeks?|months?|years?)\b"
)
_TIME_WORDS_RE = re.compile(
    rf"{_WEEKDAY}|\b{_MONTH}|\b(?:daily|weekly|weekdays?|weekends?|morning|afternoon|evening"
    r"|noon|midnight|every)\b"
)
_STARTS_WITH_TIME_RE = re.compile(
    rf"(?:(?:at|from|between|on|in|until|till|by|before|after|every|each|during)\s+)?(?:\d{{1,2}}[:.][0-5]\d\b|\d{{1,2}}\s?[ap]\.?m\b|{_WEEKDAY}"
    rf"|{_MONTH}|\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH})"
)
_NOT_A_NAME_RE = re.compile(rf"{_MONTH}\.?|{_WEEKDAY}|{_CURRENCY}|I")
_QUANTITY_RE = re.compile(
    r"(?:(?:over|about|around|nearly|almost|approximately|roughly|some|more than|fewer than|"
    r"less than|up to|at least|just over|just under)\s+)?"
    r"(\d[\d,.]*|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|"
    r"thirty|forty|fifty|hundreds of|thousands of|dozens of|several)\s+",
    re.IGNORECASE,
)
_MEASURE_RE = re.compile(
    r"(?:about|around|over|nearly|almost|approximately|roughly|some|just over|just under)?\s*"
    r"\d[\d,.]*\s*(?:m|km|cm|mm|ft|metres?|meters?|feet|kilometres?|kilometers?|miles?|years?|"
    r"storeys?|stories|floors?)?\s+(tall|high|long|wide|deep|old)\b",
    re.IGNORECASE,
)

# "In 2019, ...", "Every Tuesday ...", "On 17 May 1905 ...": a time before the sentence's subject.
_OPENING_TIME_RE = re.compile(
    r"^(?:In|On|Since|During|From|Until|After|Before|By|At|Every|Each)\s+"
    r"(?:(?:early|late|mid|the|spring|summer|autumn|fall|winter|of)\s+)*"
    rf"(?:\d{{1,2}}(?:st|nd|rd|th)?\s+)?(?:{_MONTH}\.?\s+)?(?:\d{{1,2}},?\s+)?"
    rf"(?:(?:1[5-9]\d\d|20\d\d)s?|{_WEEKDAY}|{_MONTH}|\d{{1,2}}[:.]\d\d)\b,?\s+(?=\S)"
)


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
        if at > 0 and bare in _VERB_TRIGGERS and _can_be_verb(bare, words[at - 1], words[at + 1:]):
            break
        if word.endswith((",", ";", ":")) or "(" in word:
            return None  # an opening clause or an aside: the subject is not simply the first words
    else:
        return None
    subject = list(words[:at])
    while subject and bare_word(subject[-1]) in _ADVERBS:
        subject.pop()
    bare = [bare_word(word) for word in subject]
    if not subject or len(subject) > 7 or bare[0] in _BAD_SUBJECT_START:
        return None
    if all(word in _DETERMINERS for word in bare):
        return None
    for previous, word, raw in zip(bare, bare[1:], subject):
        if word in {"the", "a", "an"} and previous not in _PREPOSITIONS:
            return None  # "Every Tuesday the café ...": two noun phrases, not one subject
        if _looks_plural(previous) and not is_capitalised(raw) and word not in _PREPOSITIONS \
                and word not in {"or", "who", "that", "which"}:
            return None  # "The company reimburses travel ...": a verb we do not know
    phrase = clean_phrase(" ".join(subject))
    return (_lower_first(phrase, names), at) if phrase else None


def _can_be_verb(bare: str, previous: str, following: list[str]) -> bool:
    """"The house is", "on a lead", "the museum's displays": a noun that looks like a verb."""
    if bare in _COPULAS or bare in _MODALS:
        return True
    if bare == "cost" and PRICE_RE.match(" ".join(following[:2])):
        return True  # "The refit cost NOK 2 million"
    before = bare_word(previous)
    if before in _DETERMINERS or before in _PREPOSITIONS or before.endswith(("'s", "’s")):
        return False
    if bare.endswith(("s", "ed")) or bare in _PAST_FORMS or bare in _IRREGULAR_PAST_FORMS:
        return True
    # A plain form such as "leave" or "open" is a verb after a plural ("Tickets cost", "Staff
    # leave"), a noun otherwise ("Unused leave of ...").
    return _looks_plural(before)


def _looks_plural(bare: str) -> bool:
    return bare in _IRREGULAR_PLURALS or (
        bare.endswith("s") and not bare.endswith(("ss", "us", "is", "'s", "’s"))
    )


def _lower_first(phrase: str, names: frozenset[str]) -> str:
    first, _, rest = phrase.partition(" ")
    if _keeps_capital(first, rest, names):
        return phrase
    return first.lower() + (" " + rest if rest else "")


def _keeps_capital(first: str, rest: str, names: frozenset[str]) -> bool:
    if first.lower() in _DETERMINERS:
        return False
    if first.lower().rstrip(".") in TITLES or (first.isupper() and len(first) > 1):
        return True
    return first.lower() in names or (bool(rest) and rest[:1].isupper())


def _aux(verb: str, subject: str) -> str:
    if verb in _PAST_FORMS:
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
    if verb in _COPULAS:
        return _copula_questions(subject, verb, after, bare_after, timed)
    if verb in _COUNT_VERBS:
        noun = _counted_noun(tail)
        if noun:
            return [f"How many {noun} {_aux(verb, subject)} {subject} {_COUNT_VERBS[verb]}?"]
    if verb in _COST_VERBS and PRICE_RE.search(tail):
        return [f"How much {_aux(verb, subject)} {subject} cost?"]
    if verb in _TAKE_VERBS and _DURATION_RE.search(tail):
        return [f"How long {_aux(verb, subject)} {subject} {_TAKE_VERBS[verb]}?"]
    if verb in _SCHEDULE_VERBS and (timed or _STARTS_WITH_TIME_RE.match(tail)):
        return [f"When {_aux(verb, subject)} {subject} {_SCHEDULE_VERBS[verb]}?"]
    return []


def _copula_questions(
    subject: str, verb: str, after: list[str], bare_after: list[str], timed: bool
) -> list[str]:
    skip = 1 if bare_after and (bare_after[0] in _ADVERBS or bare_after[0].endswith("ly")) else 0
    if len(after) <= skip:
        return []
    head = bare_after[skip]
    following = after[skip + 1:]
    complement = " ".join(after[skip:])
    questions: list[str] = []
    if head in _DATED_PARTICIPLES:
        clause = _first_clause(following)  # "designed by Per Lund and was completed in 1924"
        if timed or _mentions_time(" ".join(clause)):
            questions.append(f"When {verb} {subject} {head}?")
        if head not in _NO_AGENT and _has_named_agent(clause):
            questions.append(f"Who {_IRREGULAR_PAST.get(head, head)} {subject}?")
    elif head in _PLACED and following and bare_word(following[0]) in _LOCATIVE:
        questions.append(f"Where {verb} {subject} {head}?")
    elif head in {"in", "at", "near", "opposite", "beside"} and _names_a_place(following):
        questions.append(f"Where {verb} {subject}?")  # "The shop is at Strandkaien 12."
    elif head == "free" or PRICE_RE.match(complement):
        questions.append(f"How much {verb} {subject}?")
    elif head in _PRICED and PRICE_RE.search(" ".join(following[:4])):
        questions.append(f"How much {verb} {subject} {head}?")
    elif head == "entitled" and following and bare_word(following[0]) == "to" \
            and (noun := _counted_noun(" ".join(following[1:]))):
        questions.append(f"How many {noun} {verb} {subject} entitled to?")
    elif _STARTS_WITH_TIME_RE.match(complement):
        questions.append(f"When {verb} {subject}?")  # "Core hours are 10:00 to 15:00."
    elif head in {"open", "closed", "available", "staffed"} \
            and (timed or _STARTS_WITH_TIME_RE.match(" ".join(following))):
        questions.append(f"When {verb} {subject} {head}?")
    elif match := _MEASURE_RE.match(complement):
        questions.append(f"How {match.group(1).lower()} {verb} {subject}?")
    elif head in {"a", "an", "the", "one"} and len(following) >= 2:
        who = _is_person(subject) or any(bare_word(w) in _ROLES for w in following[:4])
        questions.append(f"{'Who' if who else 'What'} {verb} {subject}?")
    elif _is_person(subject) and is_capitalised(after[skip]):
        questions.append(f"Who {verb} {subject}?")  # "The director is Anna Berg."
    return questions


def _names_a_place(words: list[str]) -> bool:
    if words and bare_word(words[0]) == "the":
        words = words[1:]
    if not words or _STARTS_WITH_TIME_RE.match(" ".join(words[:2])):
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
    return words[0].lower().rstrip(".") in TITLES or bare_word(words[-1]) in _ROLES


def _has_named_agent(words: list[str]) -> bool:
    """"... by Ingrid Dahl" or "... by the shipowner Ingrid Dahl": someone the passage names."""
    for at, word in enumerate(words):
        if bare_word(word) == "by":
            return any(is_capitalised(w) for w in words[at + 1:at + 4])
    return False


def _mentions_time(text: str) -> bool:
    return any(regex.search(text) for regex in (YEAR_RE, DATE_RE, TIME_RE, _TIME_WORDS_RE))


def _counted_noun(tail: str) -> str:
    """"over 3,000 ship models from ..." -> "ship models"; "" when no plural noun follows a number."""
    match = _QUANTITY_RE.match(tail)
    if not match or match.group(1).lower() in {"1", "one"}:
        return ""
    noun: list[str] = []
    for word in tail[match.end():].split()[:3]:
        bare = bare_word(word)
        if not bare.isalpha() or not word[:1].islower() or bare in STOPWORDS:
            break
        noun.append(bare)
        if bare.endswith("s") or bare in _IRREGULAR_PLURALS:
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
        if capital and opener and not _NOT_A_NAME_RE.fullmatch(word.strip(".,;:!?()\"'“”‘’*_")):
            run.append(word)
            if word.endswith((",", ";", ":", "!", "?")) or (word.endswith(".") and bare not in TITLES):
                best, run = _longer(best, run), []
            continue
        if run and bare in _NAME_JOINERS:
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
    while run and bare_word(run[-1]) in _NAME_JOINERS:
        run = run[:-1]
    return run if len(run) > len(best) else best


def _is_topic_label(label: str) -> bool:
    """"Opening hours: ..." names a topic; "A: ...", "Note: ..." or "What happened: ..." do not."""
    words = label.split()
    return (len(label) > 1 and len(words) <= 4 and bare_word(words[0]) not in _QUESTION_WORDS
            and bare_word(words[0]) not in _PREPOSITIONS
            and label.strip().lower() not in {"q", "a", "question", "answer", "note", "notes", "tip",
                                              "warning", "important", "nb", "example", "see"})


def _label_questions(label: str, value: str, topic: str, names: frozenset[str]) -> list[str]:
    """"Length: 46.2 m" under "MV Corrie Dawn" -> "What is the length of MV Corrie Dawn?"."""
    if not _is_named(topic, names):
        return []
    lowered = _lower_first(label, names)
    if lowered.lower() in _DATED_PARTICIPLES:
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
    opening = _OPENING_TIME_RE.match(sentence)
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
