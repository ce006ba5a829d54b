"""qagen's built-in offline generator: question/answer pairs taken from the passage itself.

When no model endpoint is configured, qagen still runs its whole pipeline, with `OfflineModel`
standing in for the chat model. It is deterministic (no randomness, no clock, no salted hashing),
needs no network, and is extractive: every answer is a sentence, or a few consecutive sentences,
copied from the passage with only its whitespace normalised, so every pair is grounded in its
chunk by construction. When the passage supports fewer good pairs than asked, it returns fewer.

How `extract_pairs` works:

1. Blocks. The passage is read line by line as light Markdown or plain text. Headings (``#``
   lines, underlined lines, ALL-CAPS lines, "2. Leave" alone on its line, short lines with no
   sentence ending) are not answers but give their topic to the text under them. Bullet and
   numbered items and ``Label: value`` lines are blocks of their own; other lines join into
   paragraphs. Code (fenced or indented), tables, rules, HTML and image lines are skipped: no
   sentence-shaped answer lives there. A question the passage asks itself (a heading, bold line or
   ``Q:`` line ending in "?") is remembered for the block right after it.
2. Sentences. Blocks split after ".", "!" or "?" when a space and a capital or digit follow, except
   after abbreviations ("Dr.", "St.", "e.g.", "Jan. 5", "U.S.", initials). Decimals and times such
   as "3.5" and "9.30" never split since no space follows their dot. Not answers: fragments (under
   5 words, 3 for list and label lines, or starting in lower case, as a chunk cut mid-sentence
   does), run-ons (over 60 words), unterminated prose, questions, code-like text, and template
   syntax such as ``{{ x }}``, which qagen's pair checks would reject as a leaked prompt.
3. Questions. Each sentence's grammatical subject is found (the words before its first verb from a
   short list, rejected when they start with a pronoun, preposition or connective). A few patterns
   then ask for what the rest of the sentence states: "X was founded in 1921" -> "When was X
   founded?", "... by Y" -> "Who founded X?", "X is located in ..." -> "Where is X located?",
   "X is a ..." -> "What is X?" (or "Who" for people and roles), "X has 14 galleries" -> "How many
   galleries does X have?", "X costs NOK 50" -> "How much does X cost?", "X opens at 9.30" -> "When
   does X open?", "X is 42 metres tall" -> "How tall is X?". A ``Label: value`` line under a
   heading that names one thing asks for that property: "Length: 46.2 m" under "MV Corrie Dawn"
   -> "What is the length of MV Corrie Dawn?". Every sentence also gets the plain question "What
   should I know about <topic>?", the topic being its subject, its label, its longest
   proper name or its heading, in that order. A question the passage asks itself is used as is,
   answered by the sentences after it.
4. Score. Information counts: years, dates, times, prices, percentages and other numbers, proper
   names (capitalised words past the sentence start), a sensible length, and how specific the
   question is. Sentences leaning on earlier text ("It", "This", "However", ...) and Markdown
   markup lose points. Below a fixed bar a sentence is not used: no padding with weak pairs.
5. Pick. Candidates are taken round-robin over the passage's blocks (each block's best first,
   the best of each round first, ties in passage order), so pairs spread over the passage. A
   candidate whose answer overlaps or nearly repeats a chosen one (60% of content words shared)
   is skipped, and each pair takes the first of its questions no other pair has used, as long as
   the question does not hold the answer. Pairs come back in passage order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from qagen.records import Completion, Request

__all__ = ["OfflineModel", "extract_pairs"]

MIN_WORDS = 5
MIN_ITEM_WORDS = 3  # a list or "Label: value" line such as "Length: 46.2 m" says a lot in few words
MAX_WORDS = 60
MAX_CHARS = 600
MIN_SCORE = 1.5
NEAR_DUPLICATE = 0.6  # share of content words two answers may have in common
# The question every sentence with a clear topic can answer, when no sharper pattern fits.
# A fine-tuned model is asked without any passage in view, so the question must stand alone.
ABOUT_QUESTION = "What should I know about {phrase}?"

# --- word lists -------------------------------------------------------------------------------

_TITLES = frozenset("dr mr mrs ms prof st mt rev sr jr gen capt col lt sgt fr hon sir dame".split())
_NO_BREAK_AFTER = _TITLES | frozenset({"e.g", "i.e", "cf", "vs", "approx", "ca", "dept", "incl", "nr"})
_NO_BREAK_BEFORE_DIGIT = frozenset(
    "no nos vol p pp fig figs ch sec art jan feb mar apr jun jul aug sep sept oct nov dec".split()
)
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
_LEANING_START = frozenset(
    "it this that these those they he she his her its their however but and also so then such both "
    "otherwise instead moreover furthermore additionally".split()
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
_STOPWORDS = _DETERMINERS | _PREPOSITIONS | _COPULAS | frozenset(
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
_YEAR_RE = re.compile(r"\b(?:1[5-9]\d\d|20\d\d)s?\b")
_DATE_RE = re.compile(
    rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH}|\b{_MONTH}\.?\s+\d{{1,2}}\b"
    r"|\b\d{4}-\d\d-\d\d\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b"
)
_TIME_RE = re.compile(r"\b\d{1,2}[:.][0-5]\d\b(?![.,]?\d)|\b\d{1,2}\s?[ap]\.?m\b|\b(?:noon|midnight)\b")
_CURRENCY = r"(?:USD|EUR|GBP|NOK|SEK|DKK|CHF|JPY|INR|AUD|CAD)"
_PRICE_RE = re.compile(
    rf"[$€£¥₹]\s?\d|\b{_CURRENCY}\s?\d|\b\d[\d,.]*\s?(?:{_CURRENCY}|dollars?|euros?|pounds?|kroner"
    r"|kronor|francs?|cents?|pence|yen|rupees?)\b"
)
_PERCENT_RE = re.compile(r"\d\s?(?:%|percent\b|per cent\b)")
_DURATION_RE = re.compile(
    r"\b(?:\d[\d.,]*|an?|one|two|three|four|five|six|seven|eight|nine|ten|twelve|twenty|thirty|"
    r"forty|fifty|half an?)\s?(?:seconds?|minutes?|mins?|hours?|hrs?|days?|weeks?|months?|years?)\b"
)
_TIME_WORDS_RE = re.compile(
    rf"{_WEEKDAY}|\b{_MONTH}|\b(?:daily|weekly|weekdays?|weekends?|morning|afternoon|evening"
    r"|noon|midnight|every)\b"
)
_DIGIT_RE = re.compile(r"\d")
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
_ATX_RE = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_SETEXT_RE = re.compile(r"^\s{0,3}(?:=+|-+)\s*$")
_RULE_RE = re.compile(r"^\s{0,3}([-*_])(?:\s*\1){2,}\s*$")
_BULLET_RE = re.compile(r"^\s*(?:[-*+•‣◦]|\d{1,3}[.)]|[a-z][.)]|[A-Z]\))\s+(?=\S)")
_LABEL_RE = re.compile(r"^\s*(?:\*\*|__)?([A-Z][^:.!?]{0,40}?)(?:\*\*|__)?:(?:\*\*|__)?\s+(?=\S)")
_FENCE_RE = re.compile(r"^\s{0,3}(```|~~~)")
_QA_PREFIX_RE = re.compile(r"^(?:Q|Question|FAQ)\s*[:.)]\s*", re.IGNORECASE)
_ANSWER_PREFIX_RE = re.compile(r"^(?:\*\*|__)?(?:A|Answer)\s*[:.)](?:\*\*|__)?\s+", re.IGNORECASE)
_SENTENCE_END_RE = re.compile(r"(?:[.!?]+|…)[\"'”’)\]*_]*(?=\s+\S)")
_TERMINATED_RE = re.compile(r"(?:[.!?]|…)[\"'”’)\]*_]*$")
_TEMPLATE_MARK_RE = re.compile(r"\{\{|\}\}|\{%|%\}")
_MARKUP_CHARS = "*_`#[]<>\"“”‘’"


@dataclass(frozen=True)
class _Block:
    text: str  # whitespace-normalised, verbatim from the passage
    is_item: bool  # a bullet, numbered or "Label: value" line rather than prose
    topic: str  # the heading above, cleaned; "" when none
    group: int  # the paragraph or list it belongs to, for spreading picks
    asked: str  # the question the passage asks right before this block; "" when none


@dataclass(frozen=True)
class _Candidate:
    answer: str
    questions: tuple[str, ...]  # best first
    score: float
    group: int
    position: int  # order in the passage


@dataclass
class _Reader:
    """Turns passage lines into blocks; the state a line-by-line Markdown reading needs."""

    blocks: list[_Block]
    topic: str = ""
    asked: str = ""
    group: int = 0
    lines: list[str] | None = None  # the open block's lines
    is_item: bool = False

    def close(self) -> None:
        if not self.lines:
            self.lines = None
            return
        text = " ".join(" ".join(self.lines).split())
        self.lines = None
        core = _strip_markup_edges(text)
        if core.endswith("?") and _is_standalone_question(core):
            self.asked = _clean_phrase(_QA_PREFIX_RE.sub("", core))
            return
        if not self.is_item and not self.asked and _looks_like_title(text):
            # After a question, a short line such as "Only on weekdays" is its answer, not a title.
            self.set_topic(text)
            return
        if self.asked and (match := _ANSWER_PREFIX_RE.match(text)):
            text = text[match.end():]  # "A: ..." after a "Q: ...?" line
        self.blocks.append(_Block(text, self.is_item, self.topic, self.group, self.asked))
        self.asked = ""

    def open(self, line: str, is_item: bool) -> None:
        self.close()
        self.lines = [line]
        self.is_item = is_item

    def set_topic(self, heading: str) -> None:
        self.close()
        cleaned = _clean_phrase(_strip_markup_edges(heading))
        self.asked = cleaned if cleaned.endswith("?") else ""
        # A heading that is itself a question is answered below it, not a topic for other questions.
        # "About the museum" is about "the museum".
        self.topic = "" if self.asked else _topic(cleaned)
        self.group += 1

    def separate(self) -> None:
        self.close()
        self.group += 1


def _topic(heading: str) -> str:
    """"2. About the museum" is about "the museum"; "WEATHER LIMITS" reads as "weather limits"."""
    topic = re.sub(r"^(?:(?:\d{1,3}[.)]|\d{1,3}(?:\.\d{1,3})+\.?)\s+)?(?:(?:About|On|Re)\s+(?=\S))?",
                   "", heading)
    return topic.lower() if len(topic.split()) > 1 and topic.isupper() else topic


def _is_standalone_question(text: str) -> bool:
    return len(_split_sentences(text)) == 1 and len(text.split()) >= 2


def _looks_like_title(text: str) -> bool:
    """A short line with no sentence ending reads as a title: "Opening Hours", "IR-2023-01".

    Figures are allowed only in very short lines, so "Adults pay NOK 120 each" stays text.
    """
    stripped = _strip_markup_edges(text)
    words = len(stripped.split())
    return (
        words <= 8
        and not _TERMINATED_RE.search(stripped)
        and (words <= 3 or not _DIGIT_RE.search(stripped))
        and ":" not in stripped.rstrip(":")
        and (stripped[:1].isupper() or stripped[:1].isdigit())
    )


def _is_caps_title(stripped: str) -> bool:
    """"SAFETY RULES FOR VESSELS AND PIERS": a title line of a plain-text document."""
    letters = [ch for ch in stripped if ch.isalpha()]
    return len(stripped.split()) >= 2 and len(letters) >= 4 and stripped.isupper() \
        and len(stripped.split()) <= 12 and not _TERMINATED_RE.search(stripped)


def _blocks(passage: str) -> list[_Block]:
    reader = _Reader(blocks=[])
    fence = ""
    in_code = False  # an indented code block, which lasts until a blank line
    lines = passage.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for index, line in enumerate(lines):
        stripped = line.strip()
        if fence:
            if stripped.startswith(fence):
                fence = ""
            continue
        if match := _FENCE_RE.match(line):
            reader.separate()
            fence = match.group(1)
            continue
        if not stripped:
            reader.separate()
            in_code = False
            continue
        if in_code:
            continue
        if _SETEXT_RE.match(line) and reader.lines is not None and len(reader.lines) == 1 \
                and not reader.is_item:
            heading = reader.lines[0]
            reader.lines = None
            reader.set_topic(heading)
            continue
        if _RULE_RE.match(line):
            reader.separate()
            continue
        if match := _ATX_RE.match(line):
            reader.set_topic(match.group(1))
            continue
        if _is_skipped_line(stripped):
            reader.separate()
            continue
        if reader.lines is None and (line.startswith("\t") or line.startswith("    ")) \
                and not _follows_item(lines, index):
            reader.separate()
            in_code = True
            continue
        if stripped.startswith(">"):
            # Quote lines each stand alone: joining them would put their ">" marks inside answers.
            reader.open(stripped.lstrip("> ").strip(), is_item=False)
            reader.close()
            continue
        if match := _BULLET_RE.match(line):
            item = line[match.end():].strip()
            if _is_numbered_title(match.group(), item, lines, index):
                reader.set_topic(item)  # "2. Leave" alone on its line: a numbered section title
            else:
                reader.open(item, is_item=True)
            continue
        if _LABEL_RE.match(line):
            reader.open(stripped, is_item=True)
            continue
        if _is_caps_title(stripped):
            reader.set_topic(stripped)
            continue
        if reader.lines is None:
            reader.open(stripped, is_item=False)
        else:
            reader.lines.append(stripped)
    reader.close()
    return reader.blocks


def _is_numbered_title(marker: str, item: str, lines: list[str], index: int) -> bool:
    alone = index + 1 >= len(lines) or not lines[index + 1].strip()
    return alone and marker.strip()[:1].isdigit() and _looks_like_title(item)


def _follows_item(lines: list[str], index: int) -> bool:
    """An indented line after a list item (with blank lines between) continues the item, not code."""
    for back in range(index - 1, -1, -1):
        previous = lines[back]
        if previous.strip():
            return bool(_BULLET_RE.match(previous)) or previous.startswith((" ", "\t"))
    return False


def _is_skipped_line(stripped: str) -> bool:
    """Tables, HTML and images hold no sentence-shaped answer."""
    if stripped.startswith("|") or stripped.count("|") >= 2:
        return True
    if stripped.startswith("<") and stripped.endswith(">"):
        return True
    return stripped.startswith("![")


# --- sentences --------------------------------------------------------------------------------


def _split_sentences(text: str) -> list[str]:
    sentences: list[str] = []
    start = 0
    for match in _SENTENCE_END_RE.finditer(text):
        if _is_boundary(text, start, match):
            sentence = text[start:match.end()].strip()
            if sentence:
                sentences.append(sentence)
            start = match.end()
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def _is_boundary(text: str, start: int, match: re.Match[str]) -> bool:
    following = text[match.end():].lstrip()
    first = following[:1]
    if not (first.isupper() or first.isdigit() or first in "\"'“‘([*_"):
        return False
    if not match.group().startswith(".") or match.group().startswith(".."):
        return True
    before = text[start:match.start()].split()
    if not before:
        return True
    word = before[-1].lstrip("([\"'“‘*_")
    lower = word.lower()
    if lower in _NO_BREAK_AFTER:
        return False
    if lower in _NO_BREAK_BEFORE_DIGIT and first.isdigit():
        return False
    if len(word) == 1 and word.isupper():
        return False  # an initial, as in "J. Smith"
    if re.fullmatch(r"(?:[A-Za-z]\.)+[A-Za-z]", word):
        # "5 p.m. Everyone" ends a sentence; "e.g. Oslo" and "the U.S. Army" do not.
        return word.islower() and lower not in {"e.g", "i.e"}
    return True


# --- questions --------------------------------------------------------------------------------


def _bare(word: str) -> str:
    return word.strip(".,;:!?()[]{}\"'“”‘’*_`").lower()


def _strip_markup_edges(text: str) -> str:
    return text.strip().strip("*_`").strip()


def _clean_phrase(text: str) -> str:
    """A phrase fit for a question: no Markdown marks or quotes, no trailing punctuation."""
    cleaned = " ".join("".join(" " if ch in _MARKUP_CHARS else ch for ch in text).split())
    cleaned = cleaned.rstrip(",;:.").strip()
    if cleaned.count("(") != cleaned.count(")"):
        cleaned = " ".join(cleaned.replace("(", " ").replace(")", " ").split())
    return re.sub(r"['’]s$", "", cleaned)


def _about(phrase: str) -> str:
    return ABOUT_QUESTION.format(phrase=phrase)


def _is_capitalised(word: str) -> bool:
    core = word.strip("([\"'“‘*_")
    return core[:1].isupper()


def _known_names(sentences: Iterable[str]) -> frozenset[str]:
    """Words the passage capitalises mid-sentence: proper names, even when one opens a sentence."""
    names: set[str] = set()
    for sentence in sentences:
        words = sentence.split()
        for previous, word in zip(words, words[1:]):
            if _is_capitalised(word) and not previous.endswith((":", ".")):
                names.add(_bare(word))
    names.discard("i")
    return frozenset(names)


def _subject(words: list[str], names: frozenset[str]) -> tuple[str, int] | None:
    """The sentence's subject, ready for a question, and where its verb is; None when unclear."""
    for at, word in enumerate(words[:10]):
        bare = _bare(word)
        if at > 0 and bare in _VERB_TRIGGERS and _can_be_verb(bare, words[at - 1], words[at + 1:]):
            break
        if word.endswith((",", ";", ":")) or "(" in word:
            return None  # an opening clause or an aside: the subject is not simply the first words
    else:
        return None
    subject = list(words[:at])
    while subject and _bare(subject[-1]) in _ADVERBS:
        subject.pop()
    bare = [_bare(word) for word in subject]
    if not subject or len(subject) > 7 or bare[0] in _BAD_SUBJECT_START:
        return None
    if all(word in _DETERMINERS for word in bare):
        return None
    for previous, word, raw in zip(bare, bare[1:], subject):
        if word in {"the", "a", "an"} and previous not in _PREPOSITIONS:
            return None  # "Every Tuesday the café ...": two noun phrases, not one subject
        if _looks_plural(previous) and not _is_capitalised(raw) and word not in _PREPOSITIONS \
                and word not in {"or", "who", "that", "which"}:
            return None  # "The company reimburses travel ...": a verb we do not know
    phrase = _clean_phrase(" ".join(subject))
    return (_lower_first(phrase, names), at) if phrase else None


def _can_be_verb(bare: str, previous: str, following: list[str]) -> bool:
    """"The house is", "on a lead", "the museum's displays": a noun that looks like a verb."""
    if bare in _COPULAS or bare in _MODALS:
        return True
    if bare == "cost" and _PRICE_RE.match(" ".join(following[:2])):
        return True  # "The refit cost NOK 2 million"
    before = _bare(previous)
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
    if first.lower().rstrip(".") in _TITLES or (first.isupper() and len(first) > 1):
        return True
    return first.lower() in names or (bool(rest) and rest[:1].isupper())


def _aux(verb: str, subject: str) -> str:
    if verb in _PAST_FORMS:
        return "did"
    if verb == "cost":  # "Tickets cost" now, "The refit cost" then
        return "do" if _looks_plural(_bare(subject.split()[-1])) else "did"
    return "does" if verb.endswith("s") else "do"


def _specific_questions(subject: str, rest: list[str], timed: bool) -> list[str]:
    """Questions aimed at what the sentence states about its subject; rest starts at the verb.

    timed: the sentence opens with a time ("In 2019, ..."), which answers a "When" question.
    """
    verb = _bare(rest[0])
    after = rest[1:]
    bare_after = [_bare(word) for word in after]
    tail = " ".join(after)
    if verb in _COPULAS:
        return _copula_questions(subject, verb, after, bare_after, timed)
    if verb in _COUNT_VERBS:
        noun = _counted_noun(tail)
        if noun:
            return [f"How many {noun} {_aux(verb, subject)} {subject} {_COUNT_VERBS[verb]}?"]
    if verb in _COST_VERBS and _PRICE_RE.search(tail):
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
    elif head in _PLACED and following and _bare(following[0]) in _LOCATIVE:
        questions.append(f"Where {verb} {subject} {head}?")
    elif head in {"in", "at", "near", "opposite", "beside"} and _names_a_place(following):
        questions.append(f"Where {verb} {subject}?")  # "The shop is at Strandkaien 12."
    elif head == "free" or _PRICE_RE.match(complement):
        questions.append(f"How much {verb} {subject}?")
    elif head in _PRICED and _PRICE_RE.search(" ".join(following[:4])):
        questions.append(f"How much {verb} {subject} {head}?")
    elif head == "entitled" and following and _bare(following[0]) == "to" \
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
        who = _is_person(subject) or any(_bare(w) in _ROLES for w in following[:4])
        questions.append(f"{'Who' if who else 'What'} {verb} {subject}?")
    elif _is_person(subject) and _is_capitalised(after[skip]):
        questions.append(f"Who {verb} {subject}?")  # "The director is Anna Berg."
    return questions


def _names_a_place(words: list[str]) -> bool:
    if words and _bare(words[0]) == "the":
        words = words[1:]
    if not words or _STARTS_WITH_TIME_RE.match(" ".join(words[:2])):
        return False  # "in November" says when, not where
    return _is_capitalised(words[0]) or words[0][:1].isdigit()


def _first_clause(words: list[str]) -> list[str]:
    clause: list[str] = []
    for word in words:
        if _bare(word) in {"and", "but", "while", "which", "who", "whereas", "although"}:
            break
        clause.append(word)
        if word.endswith((",", ";", ":")):
            break
    return clause


def _is_person(subject: str) -> bool:
    words = subject.split()
    return words[0].lower().rstrip(".") in _TITLES or _bare(words[-1]) in _ROLES


def _has_named_agent(words: list[str]) -> bool:
    """"... by Ingrid Dahl" or "... by the shipowner Ingrid Dahl": someone the passage names."""
    for at, word in enumerate(words):
        if _bare(word) == "by":
            return any(_is_capitalised(w) for w in words[at + 1:at + 4])
    return False


def _mentions_time(text: str) -> bool:
    return any(regex.search(text) for regex in (_YEAR_RE, _DATE_RE, _TIME_RE, _TIME_WORDS_RE))


def _counted_noun(tail: str) -> str:
    """"over 3,000 ship models from ..." -> "ship models"; "" when no plural noun follows a number."""
    match = _QUANTITY_RE.match(tail)
    if not match or match.group(1).lower() in {"1", "one"}:
        return ""
    noun: list[str] = []
    for word in tail[match.end():].split()[:3]:
        bare = _bare(word)
        if not bare.isalpha() or not word[:1].islower() or bare in _STOPWORDS:
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
        bare = _bare(word)
        capital = _is_capitalised(word) and bare.replace(".", "").replace("-", "").isalpha()
        opener = at > 0 or bare in names or bare.rstrip(".") in _TITLES
        if capital and opener and not _NOT_A_NAME_RE.fullmatch(word.strip(".,;:!?()\"'“”‘’*_")):
            run.append(word)
            if word.endswith((",", ";", ":", "!", "?")) or (word.endswith(".") and bare not in _TITLES):
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
    return _clean_phrase(" ".join(best)) if best else ""


def _longer(best: list[str], run: list[str]) -> list[str]:
    while run and _bare(run[-1]) in _NAME_JOINERS:
        run = run[:-1]
    return run if len(run) > len(best) else best


def _is_topic_label(label: str) -> bool:
    """"Opening hours: ..." names a topic; "A: ...", "Note: ..." or "What happened: ..." do not."""
    words = label.split()
    return (len(label) > 1 and len(words) <= 4 and _bare(words[0]) not in _QUESTION_WORDS
            and _bare(words[0]) not in _PREPOSITIONS
            and label.strip().lower() not in {"q", "a", "question", "answer", "note", "notes", "tip",
                                              "warning", "important", "nb", "example", "see"})


def _label_questions(label: str, value: str, topic: str, names: frozenset[str]) -> list[str]:
    """"Length: 46.2 m" under "MV Corrie Dawn" -> "What is the length of MV Corrie Dawn?"."""
    if not _is_named(topic, names):
        return []
    lowered = _lower_first(label, names)
    if lowered.lower() in _DATED_PARTICIPLES:
        return [f"When was {topic} {lowered.lower()}?"] if _mentions_time(value) else []
    if any(_bare(word).endswith("ed") for word in label.split()):
        return []  # "Entered service": a verb, not a property
    verb = "are" if _looks_plural(_bare(label.split()[-1])) else "is"
    return [f"What {verb} the {lowered} of {topic}?"]


def _is_named(topic: str, names: frozenset[str]) -> bool:
    """A heading naming one thing ("MV Corrie Dawn", "IR-2023-01"), not a subject ("Opening hours")."""
    words = topic.split()
    if not words or not all(_is_capitalised(word) or word[:1].isdigit() for word in words):
        return False
    if len(words) > 1 and topic.isupper():
        return False  # "CURRENT FLEET"
    identifier = len(words) == 1 and bool(_DIGIT_RE.search(topic)) and any(c.isalpha() for c in topic)
    acronym = any(2 <= len(word) <= 5 and word.isalpha() and word.isupper() for word in words)  # "MV"
    return identifier or acronym or any(_bare(word) in names for word in words)


def _questions(sentence: str, topic: str, names: frozenset[str]) -> list[tuple[str, float]]:
    """Candidate questions for one sentence, best first, each with how much it is worth."""
    found: list[tuple[str, float]] = []
    label = ""
    if (match := _LABEL_RE.match(sentence)) and _is_topic_label(match.group(1)):
        label = _clean_phrase(match.group(1))
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


# --- scoring and picking ----------------------------------------------------------------------


def _information(sentence: str, names: frozenset[str]) -> float:
    figures = sum(1.0 for regex in (_YEAR_RE, _DATE_RE, _TIME_RE, _PRICE_RE, _PERCENT_RE)
                  if regex.search(sentence))
    if not figures and _DIGIT_RE.search(sentence):
        figures = 0.5
    words = sentence.split()
    capitalised = sum(1 for previous, word in zip(words, words[1:])
                      if _is_capitalised(word) and _bare(word).isalpha()
                      and not previous.endswith((":", ".")) and _bare(word) != "i")
    if words and _bare(words[0]) in names:
        capitalised += 1
    return min(3.0, figures) + min(2.0, 0.5 * capitalised)


def _length_points(words: int) -> float:
    if 8 <= words <= 35:
        return 1.0
    return 0.5 if words <= 50 else 0.0


def _is_answer_shaped(sentence: str, is_item: bool) -> bool:
    words = len(sentence.split())
    if words < (MIN_ITEM_WORDS if is_item else MIN_WORDS) or words > MAX_WORDS or len(sentence) > MAX_CHARS:
        return False
    if _TEMPLATE_MARK_RE.search(sentence):
        return False  # qagen's pair checks drop template syntax as a leaked prompt; pick another
    core = _strip_markup_edges(sentence)
    if core.endswith(("?", ":")) or core.rstrip("*_\"'”’)").endswith("?"):
        return False
    if not is_item and not _TERMINATED_RE.search(sentence):
        return False  # prose with no ending: a chunk cut mid-sentence, or a caption
    first_letter = next((ch for ch in core if ch.isalpha() or ch.isdigit()), "")
    if first_letter.islower():
        return False  # starts mid-sentence, or a list item finishing a lead-in such as "Staff must:"
    return _reads_as_prose(sentence)


def _reads_as_prose(text: str) -> bool:
    """Mostly letters and few code symbols: not code, markup or a table row."""
    non_space = [ch for ch in text if not ch.isspace()]
    symbols = sum(1 for ch in non_space if ch in "{}[]()<>=;\\/|`$")
    letters = sum(1 for ch in non_space if ch.isalpha())
    return symbols <= 0.1 * len(non_space) and letters >= 0.5 * len(non_space)


def _penalty(sentence: str) -> float:
    points = 0.0
    first = sentence.split()[0] if sentence.split() else ""
    if _bare(first) in _LEANING_START:
        points += 1.0
    if "**" in sentence or "`" in sentence or "](" in sentence or "__" in sentence:
        points += 0.5
    if "http://" in sentence or "https://" in sentence or "www." in sentence:
        points += 0.5
    return points


def _candidates(blocks: list[_Block]) -> list[_Candidate]:
    split = [(block, _split_sentences(block.text)) for block in blocks]
    names = _known_names(sentence for _, sentences in split for sentence in sentences)
    candidates: list[_Candidate] = []
    position = 0
    for block, sentences in split:
        if block.asked:
            faq = _answer_to_asked(block, names, position)
            if faq:
                candidates.append(faq)
        for sentence in sentences:
            position += 1
            if not _is_answer_shaped(sentence, block.is_item):
                continue
            questions = _questions(sentence, block.topic, names)
            if not questions:
                continue
            score = (_information(sentence, names) + _length_points(len(sentence.split()))
                     + questions[0][1] - _penalty(sentence))
            if score >= MIN_SCORE:
                candidates.append(_Candidate(sentence, tuple(q for q, _ in questions), score,
                                             block.group, position))
    return candidates


def _answer_to_asked(block: _Block, names: frozenset[str], position: int) -> _Candidate | None:
    """The passage's own question, answered by the sentences right after it."""
    answer: list[str] = []
    for sentence in _split_sentences(block.text):
        if len(" ".join(answer + [sentence]).split()) > MAX_WORDS:
            break
        answer.append(sentence)
    joined = " ".join(answer)
    if not answer or len(joined.split()) < 2 or joined.rstrip("*_\"'”’)").endswith("?"):
        return None
    if not (_reads_as_prose(joined) and _reads_as_prose(block.asked)) \
            or _TEMPLATE_MARK_RE.search(joined) or len(block.asked.split()) > MAX_WORDS:
        return None
    score = 2.5 + _information(joined, names) + _length_points(len(joined.split()))
    return _Candidate(joined, (block.asked,), score, block.group, position + 1)


def _content_words(text: str) -> frozenset[str]:
    return frozenset(w for w in re.findall(r"\w+", text.casefold()) if w not in _STOPWORDS)


def _repeats(answer: str, chosen: list[_Candidate]) -> bool:
    words = _content_words(answer)
    folded = answer.casefold()
    for other in chosen:
        other_folded = other.answer.casefold()
        if folded in other_folded or other_folded in folded:
            return True
        other_words = _content_words(other.answer)
        union = words | other_words
        if union and len(words & other_words) / len(union) >= NEAR_DUPLICATE:
            return True
    return False


def _round_robin(candidates: list[_Candidate]) -> list[_Candidate]:
    """Each block's best first, then each block's second best, ...; within a round, best first."""
    by_group: dict[int, list[_Candidate]] = {}
    for candidate in candidates:
        by_group.setdefault(candidate.group, []).append(candidate)
    ranked = [sorted(group, key=lambda c: (-c.score, c.position)) for group in by_group.values()]
    order: list[_Candidate] = []
    for depth in range(max((len(group) for group in ranked), default=0)):
        layer = [group[depth] for group in ranked if depth < len(group)]
        order += sorted(layer, key=lambda c: (-c.score, c.position))
    return order


def _is_fair(question: str, answer: str) -> bool:
    q = question.casefold()
    a = " ".join(answer.split()).casefold()
    return (q.endswith("?") and len(q) > 1 and q != a and a not in q
            and not _TEMPLATE_MARK_RE.search(question) and not _TEMPLATE_MARK_RE.search(answer))


def extract_pairs(passage: str, n: int) -> list[tuple[str, str]]:
    """Up to n (question, answer) pairs whose answers are sentences copied from the passage.

    Deterministic; fewer than n (possibly none) when the passage does not support n good pairs.
    """
    if n <= 0 or not passage.strip():
        return []
    normalised_passage = " ".join(passage.split())
    chosen: list[_Candidate] = []
    asked: list[str] = []
    used: set[str] = set()
    for candidate in _round_robin(_candidates(_blocks(passage))):
        if len(chosen) >= n:
            break
        if candidate.answer not in normalised_passage or _repeats(candidate.answer, chosen):
            continue
        question = next((q for q in candidate.questions
                         if q.casefold() not in used and _is_fair(q, candidate.answer)), None)
        if question is None:
            continue
        used.add(question.casefold())
        chosen.append(candidate)
        asked.append(question)
    pairs = sorted(zip(chosen, asked), key=lambda pair: pair[0].position)
    return [(question, candidate.answer) for candidate, question in pairs]


class OfflineModel:
    """The built-in model used when no endpoint is configured: `extract_pairs` behind `complete`."""

    name = "offline"

    def __init__(self, count_tokens: Callable[[str], int]) -> None:
        self._count_tokens = count_tokens

    async def complete(self, request: Request) -> Completion:
        pairs = extract_pairs(request.passage, request.n)
        text = "\n".join(
            json.dumps({"question": q, "answer": a}, ensure_ascii=False) for q, a in pairs
        )
        return Completion(
            text=text,
            finish_reason="stop",
            prompt_tokens=sum(self._count_tokens(message.content) for message in request.messages),
            completion_tokens=self._count_tokens(text),
        )

    async def aclose(self) -> None:
        """Nothing to release; here so the pipeline closes every model the same way."""
