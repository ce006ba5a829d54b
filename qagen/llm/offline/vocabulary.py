"""The word lists and patterns the offline generator reads sentences with.

Verbs and their forms, determiners, prepositions, roles, names' joining words, and the
patterns of dates, times, prices, durations and quantities: what ``qagen.llm.offline.questions``
needs to find a sentence's subject and ask about the rest, and the scoring in
``qagen.llm.offline.model`` reuses a few (``STOPWORDS``, the date, time and price patterns).
"""

from __future__ import annotations

import re

# --- word lists -------------------------------------------------------------------------------

COPULAS = frozenset({"is", "are", "was", "were"})
MODALS = frozenset(
    "will can cannot can't may must should would could might shall do does did don't doesn't didn't "
    "won't isn't aren't wasn't weren't".split()
)
DETERMINERS = frozenset("the a an our your each every all most many some both any no".split())
BAD_SUBJECT_START = frozenset(
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
ADVERBS = frozenset(
    "also usually now still only always often currently normally generally typically recently then "
    "already never even just mainly mostly newly first originally later officially formally "
    "finally partly fully".split()
)
PREPOSITIONS = frozenset(
    "of in at on for from with by to near and behind under over inside outside across along beside "
    "between above below around into onto through within without about after before during since "
    "opposite per via".split()
)
STOPWORDS = DETERMINERS | PREPOSITIONS | COPULAS | frozenset(
    "it its this that these those they he she we you i or but as be been has have had not are "
    "there their which who what when where how also than then so".split()
)
ROLES = frozenset(
    "director founder manager curator head chair chairman chairwoman chairperson president ceo "
    "owner author architect editor captain mayor principal leader secretary treasurer coordinator "
    "officer supervisor chief minister king queen artist painter designer engineer inventor creator "
    "composer writer poet scientist professor teacher doctor superintendent master mate engineer "
    "deckhand driver".split()
)
# Plural words for people: a subject that can be asked "Who ...?".
PEOPLE = frozenset(
    "people staff employees members passengers drivers crews crew masters deckhands engineers residents "
    "children adults visitors users customers islanders traders directors students runners sailors "
    "riders players teams managers officers volunteers".split()
)
IRREGULAR_PLURALS = frozenset("people children staff men women persons personnel crew".split())
DATED_PARTICIPLES = frozenset(
    "founded built established opened reopened completed created launched introduced born published "
    "released designed started formed renovated restored rebuilt inaugurated constructed signed held "
    "discovered invented added installed appointed elected closed demolished destroyed acquired "
    "painted written made drawn begun finished extended expanded moved renamed donated bought sold "
    "named granted awarded issued adopted approved updated merged".split()
)
# For "Who <past> X?" from "X was <participle> by Y"; regular verbs use the participle itself.
IRREGULAR_PAST = {"built": "built", "written": "wrote", "drawn": "drew", "made": "made",
                   "held": "held", "begun": "began", "bought": "bought", "sold": "sold"}
NO_AGENT = frozenset({"born", "closed", "demolished", "destroyed", "moved"})
QUESTION_WORDS = frozenset("what which who whom whose when where why how".split())
NAME_JOINERS = frozenset("of de da van von der den la le du del".split())  # "Museum of Art"
PRICED = frozenset("reimbursed paid charged priced valued taxed fined refunded billed insured".split())
PLACED = frozenset({"located", "situated", "based", "housed"})
LOCATIVE = frozenset("in at on near inside next beside opposite behind along outside".split())


def _verb_forms(*rows: str) -> dict[str, str]:
    """Map every form of each verb ("base third-person past") to its base form."""
    forms: dict[str, str] = {}
    for row in rows:
        base, *others = row.split()
        for form in (base, *others):
            forms[form] = base
    return forms


COUNT_VERBS = _verb_forms(
    "have has had", "employ employs employed", "contain contains contained",
    "include includes included", "hold holds held", "house houses housed", "offer offers offered",
    "seat seats seated", "attract attracts attracted", "receive receives received",
    "welcome welcomes welcomed", "sell sells sold", "serve serves served", "own owns owned",
    "feature features featured", "display displays displayed",
)
SCHEDULE_VERBS = _verb_forms(
    "open opens opened", "close closes closed", "start starts started", "begin begins began",
    "end ends ended", "run runs ran", "depart departs departed", "leave leaves left",
    "arrive arrives arrived", "reopen reopens reopened", "finish finishes finished",
    "launch launches launched", "return returns returned",
)
COST_VERBS = frozenset({"cost", "costs"})
IRREGULAR_PAST_FORMS = frozenset(
    "made kept gave became lay stood meant led told built won went rose met paid came spent took left "
    "began ran sold bought lost brought found sent".split()
)
TAKE_VERBS = _verb_forms("take takes took", "last lasts lasted")
PAST_FORMS = frozenset(
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
    "designed created donated established introduced rose rise rises went go goes met meet meets "
    "paid pay pays carries carry carried spends spend spent leads reports report reported took "
    "bought buy buys became come comes came gave won win wins lost finished sailed sail sails "
    "contributes contribute contributed elects elect elected marks mark marked joined join joins "
    "celebrated approved approve approves replaced replace replaces retired retire retires "
    "charges charge charged sets set waits wait waited travels travel travelled work works "
    "worked answers answer answered reviews review reviewed declares declare declared".split()
)
VERB_TRIGGERS = (COPULAS | MODALS | COST_VERBS | _OTHER_VERBS
                  | frozenset(COUNT_VERBS) | frozenset(SCHEDULE_VERBS) | frozenset(TAKE_VERBS))


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
# What each alternative of DATE_RE and PRICE_RE needs in the text, tested before the pattern: both are
# tried at every position and rarely match (155 and 14 of 11,186 scored sentences with a digit at 10 MB,
# searched in 0.09 s and 0.12 s; these tests take a fifth of that).
_DATE_NEEDS = ("-", "/", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_PRICE_NEEDS = ("$", "€", "£", "¥", "₹", "USD", "EUR", "GBP", "NOK", "SEK", "DKK", "CHF", "JPY", "INR", "AUD", "CAD",
                "dollar", "euro", "pound", "kron", "franc", "cent", "pence", "yen", "rupee")


def has_date(text: str) -> bool:
    """Whether DATE_RE finds a date in the text."""
    return any(need in text for need in _DATE_NEEDS) and DATE_RE.search(text) is not None


def has_price(text: str) -> bool:
    """Whether PRICE_RE finds a price in the text."""
    return any(need in text for need in _PRICE_NEEDS) and PRICE_RE.search(text) is not None


DURATION_RE = re.compile(
    r"\b(?:\d[\d.,]*|an?|one|two|three|four|five|six|seven|eight|nine|ten|twelve|twenty|thirty|"
    r"forty|fifty|half an?)\s?(?:seconds?|minutes?|mins?|hours?|hrs?|days?|weeks?|months?|years?)\b"
)
TIME_WORDS_RE = re.compile(
    rf"{_WEEKDAY}|\b{_MONTH}|\b(?:daily|weekly|weekdays?|weekends?|morning|afternoon|evening"
    r"|noon|midnight|every)\b"
)
STARTS_WITH_TIME_RE = re.compile(
    rf"(?:(?:at|from|between|on|in|until|till|by|before|after|every|each|during)\s+)?(?:\d{{1,2}}[:.][0-5]\d\b|\d{{1,2}}\s?[ap]\.?m\b|{_WEEKDAY}"
    rf"|{_MONTH}|\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH})"
)
NOT_A_NAME_RE = re.compile(rf"{_MONTH}\.?|{_WEEKDAY}|{_CURRENCY}|I")
QUANTITY_RE = re.compile(
    r"(?:(?:over|about|around|nearly|almost|approximately|roughly|some|more than|fewer than|"
    r"less than|up to|at least|just over|just under)\s+)?"
    r"(\d[\d,.]*|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|"
    r"thirty|forty|fifty|hundreds of|thousands of|dozens of|several)\s+",
    re.IGNORECASE,
)
MEASURE_RE = re.compile(
    r"(?:about|around|over|nearly|almost|approximately|roughly|some|just over|just under)?\s*"
    r"\d[\d,.]*\s*(?:m|km|cm|mm|ft|metres?|meters?|feet|kilometres?|kilometers?|miles?|years?|"
    r"storeys?|stories|floors?)?\s+(tall|high|long|wide|deep|old)\b",
    re.IGNORECASE,
)

# "In 2019, ...", "Every Tuesday ...", "On 17 May 1905 ...": a time before the sentence's subject.
OPENING_TIME_RE = re.compile(
    r"^(?:In|On|Since|During|From|Until|After|Before|By|At|Every|Each)\s+"
    r"(?:(?:early|late|mid|the|spring|summer|autumn|fall|winter|of)\s+)*"
    rf"(?:\d{{1,2}}(?:st|nd|rd|th)?\s+)?(?:{_MONTH}\.?\s+)?(?:\d{{1,2}},?\s+)?"
    rf"(?:(?:1[5-9]\d\d|20\d\d)s?|{_WEEKDAY}|{_MONTH}|\d{{1,2}}[:.]\d\d)\b,?\s+(?=\S)"
)
