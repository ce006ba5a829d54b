"""The faster code of the check stage equals the plain code it replaced (kept here as the reference).

``unify`` replacing only the quotes a text holds, ``is_refusal`` as two patterns, a chunk's numbers
found from its lines (``ChunkProfile.holds_number``) and its windows read as pairs need them
(``passages.iter_windows``, ``ChunkWindows``); and the dataset's check of the chat examples it makes
(``check_made_chat``) equal to ``check_chat``; the names and figures of the template's example looked for only in
the pairs that hold their needles (``grounding._leaked``).
"""

from __future__ import annotations

import re
import unicodedata

import pytest

from qagen.dataset.checks import check_chat, check_made_chat
from qagen.dataset.formats import ExampleFormat
from qagen.quality import grounding, passages, profiles
from qagen.quality.grounding import is_refusal
from qagen.quality.profiles import CURRENCY_SIGNS, split_numbers
from qagen.quality.retrieval import tokenize
from qagen.quality.text import QUOTES, unify
from qagen.records import Pair
from test_profiles import LINE_TEXTS, NEEDLE_TEXTS, TRICKY_TEXTS, UNIT_LINES, _chunks, reference_profile

ODD_TEXTS = [
    "", " ", "plain ascii", "back`tick and 'quote'", "don’t ‘this’ “that” ʼokina",
    "ﬁ ligature, full-width ＡＢＣ１２３, no-break\u00a0space, ² and ½", "ΟΔΟΣ Σ straße İstanbul 中文 ٣",
    "mixed ` ’ ‘ “ ” ʼ ＇ ＂ at once", "e\u0301 combining, \u212b angstrom, \u2126 ohm", "| a | b |\n|---|---|\n# Heading 5",
]


def reference_unify(text: str) -> str:
    return unicodedata.normalize("NFKC", text).translate(QUOTES)


@pytest.mark.parametrize("text", [*ODD_TEXTS, *TRICKY_TEXTS, *NEEDLE_TEXTS])
def test_unify_equals_nfkc_then_the_quotes_table(text: str) -> None:
    assert unify(text) == reference_unify(text)


REFERENCE_REFUSAL = re.compile(
    r"""
    ^\W*(?:i\s+(?:do\s+not|don'?t|cannot|can'?t|am\s+unable\s+to|am\s+not\s+able\s+to)\s+(?:know|say|tell|find|answer|determine))
    | ^\W*(?:i'?m|i\s+am)\s+(?:sorry|unable|not\s+sure)
    | ^\W*(?:unknown|n/?a|not\s+available|no\s+answer|not\s+applicable|unanswerable)\W*$
    | \b(?:not|never)\s+(?:mentioned|stated|specified|provided|given|covered|included|described|found)\s+in\s+the\s+(?:passage|text|document|context|source|information)
    | \b(?:passage|text|document|context|source)s?\s+(?:does\s+not|doesn'?t|do\s+not|don'?t)\s+(?:say|mention|state|specify|provide|contain|include|give|cover|tell|describe)
    | \b(?:there\s+is|there's)\s+no\s+(?:mention|information|indication)
    | \bno\s+information\s+(?:is\s+)?(?:given|provided|available)
    | \bnot\s+enough\s+information
    | \bcannot\s+be\s+(?:determined|answered)
    | \bas\s+an\s+ai\b
    """,
    re.IGNORECASE | re.VERBOSE,
)

REFUSALS = [
    "I don't know.", "  I do not know", "...I cannot say", "i can't tell you", "I am unable to determine", "I'm sorry",
    "I am not sure.", "Unknown", "N/A", "n/a.", "Not available!", "no answer", "Unanswerable\n", "It is unknown to me.",
    "That is not mentioned in the passage.", "Never stated in the text", "The document does not say.", "The sources don't mention it",
    "There is no mention of it.", "there's no information", "No information is given.", "Not enough information.",
    "This cannot be determined.", "As an AI, I think", "As an AIM member", "pass as an ai", "cannot\nbe answered",
    "THE PASSAGE DOES NOT SAY", "The paſſage does not ſay", "unſtated; not ſpecified in the text", "The ferry leaves at 06:15.",
    "Is it not mentioned in the passage?", "context doesn't cover", "notmentioned in the text", "xnot enough information",
    "I know", "Im sorry", "I'm unable", "NA", "n/ax", "", " ", "Σ not enough information", "İ don't know",
]


@pytest.mark.parametrize("answer", [*REFUSALS, *ODD_TEXTS, *TRICKY_TEXTS, *NEEDLE_TEXTS])
def test_is_refusal_equals_the_one_pattern(answer: str) -> None:
    assert is_refusal(answer) == (REFERENCE_REFUSAL.search(answer) is not None)


def test_is_refusal_equals_the_one_pattern_after_any_character() -> None:
    # The letters tested before the branches: any character before "not enough information" or after "As an".
    for code in [*range(0x250), 0x130, 0x131, 0x17F, 0x212A, 0x3A3, 0x3C2, 0x1E9E, 0xFB05, 0xFB06]:
        char = chr(code)
        for text in (f"{char}ot enough information", f"{char}s an ai", f"x {char}assage does not say", f"{char} don't know"):
            assert is_refusal(text) == (REFERENCE_REFUSAL.search(text) is not None), text


def _asked_numbers(chunk: str) -> list[str]:
    numbers = reference_profile(chunk)[1]
    others = {"£" + n for n in numbers} | {n + "%" for n in numbers} | {n + "0" for n in numbers} | {"9", "10", "£9.4", "$12", "5%", "1:00"}
    return sorted(numbers | others)


@pytest.mark.parametrize("chunk", [*LINE_TEXTS, *NEEDLE_TEXTS, *TRICKY_TEXTS, *_chunks()])
def test_a_chunk_holds_a_number_as_its_whole_profile_does(chunk: str) -> None:
    numbers = reference_profile(chunk)[1]
    asked = _asked_numbers(chunk)
    assert [profiles.ChunkProfile(chunk).holds_number(key) for key in asked] == [key in numbers for key in asked]
    lazy = profiles.ChunkProfile(chunk)  # one profile asked for every key, as a chunk's pairs ask it
    assert [lazy.holds_number(key) for key in asked] == [key in numbers for key in asked]


def test_a_number_present_is_found_without_reading_the_chunk_whole() -> None:
    chunk = "# Fares\n\nThe single fare is £9.40 on Route 12.\nA return costs nine pounds.\n\n" + "Other text here.\n" * 50
    lazy = profiles.ChunkProfile(chunk)
    assert lazy.holds_number("£9.4") and lazy.holds_number("12") and not lazy.holds_number("137")
    assert "_whole" not in lazy.__dict__


# passages._units as it was before it became a generator with its first-line tests reordered.
def reference_units(text: str) -> list[passages._Unit]:
    units: list[passages._Unit] = []
    headings: dict[int, str] = {}  # level -> heading text; capitals headings are level 0
    for block in re.split(r"\n\s*\n", text):
        lines = [line for line in block.splitlines() if line.strip()]
        if not lines:
            continue
        title: tuple[str, ...] = ()
        table_header: tuple[str, ...] = ()
        pieces: list[str] = []  # the block's lines joined into items, before sentence splitting
        listed: set[int] = set()  # the pieces that are list items
        for position, line in enumerate(lines):
            stripped = line.strip()
            first = stripped[0]
            if first == "#" and passages._HEADING.match(line):
                level = len(stripped) - len(stripped.lstrip("#"))
                headings = {lv: h for lv, h in headings.items() if lv < level}
                headings[level] = stripped
                continue
            if position == 0 and passages._is_caps_heading(stripped):  # the cheap test first: profiled, 1.2 s at 10 MB
                headings = {0: stripped}
                continue
            if first == "|":
                if passages._TABLE_RULE.match(stripped.strip("|")):
                    continue
                if not table_header:
                    table_header = (stripped,)
                pieces.append(stripped)
                continue
            nxt = lines[position + 1] if position + 1 < len(lines) else ""
            if position == 0 and nxt and passages._is_title(stripped, nxt):
                title = (stripped,)
                continue
            list_item = (first in "-*•+" or first.isdigit()) and passages._LIST_ITEM.match(line) is not None
            starts_item = list_item or ("A" <= first <= "Z" and passages._KEY_VALUE.match(line) is not None) or (line[:1].isspace() and not pieces)
            if pieces and not starts_item and not pieces[-1].startswith("|"):
                pieces[-1] += " " + stripped
            else:
                if list_item:
                    listed.add(len(pieces))
                pieces.append(stripped)
        context = (*headings.values(), *title)
        for number, piece in enumerate(pieces):
            item = len(units) if number in listed else -1  # the item's first unit names it
            if piece.startswith("|"):
                units.append(passages._Unit(piece, (*context, *table_header), row=piece not in table_header))
                continue
            for sentence in passages._SENTENCE_END.split(piece) if "." in piece or "!" in piece or "?" in piece else (piece,):
                if sentence.strip():
                    units.append(passages._Unit(sentence.strip(), context, item=item))
    return units


def reference_windows(text: str, reach: int = 1) -> tuple[str, ...]:
    units = reference_units(text)
    found: list[str] = []
    for i, unit in enumerate(units):
        around = [
            u.text for u in units[max(0, i - reach) : i + reach + 1]
            if u.context == unit.context and not unit.row and u.item == unit.item
        ]
        found.append("\n".join(dict.fromkeys([*unit.context, *(around or [unit.text])])))
    return tuple(dict.fromkeys(found)) or (text,)


WINDOW_TEXTS = [
    "\n".join(UNIT_LINES), "\n\n".join(UNIT_LINES), "Title line\n" + "\n".join(UNIT_LINES), *UNIT_LINES, *ODD_TEXTS, *LINE_TEXTS, *NEEDLE_TEXTS, *TRICKY_TEXTS, *_chunks(),
    "- one. two.\n- three\n  four. Five.\n\n1. a\n2) b. C d.", "\n\n\n", "   \n  \n", "# Only a heading", "CURRENT FLEET\n\nMV X\n  Length: 4 m",
]


@pytest.mark.parametrize("chunk", WINDOW_TEXTS)
def test_units_equal_the_reference(chunk: str) -> None:
    assert passages._units(chunk) == reference_units(chunk)


@pytest.mark.parametrize("chunk", WINDOW_TEXTS)
def test_windows_read_as_needed_equal_the_windows_of_every_unit(chunk: str) -> None:
    for reach in (0, 1, 2):
        assert passages.windows.__wrapped__(chunk, reach) == reference_windows(chunk, reach)
    assert profiles.ChunkWindows(chunk).texts == reference_windows(chunk)
    spots = profiles.ChunkWindows(chunk)
    assert next(spots.containing_any(None)).source == reference_windows(chunk)[0]  # a window read before the rest
    every = list(spots.containing_any(None))
    assert [p.source for p in every] == list(reference_windows(chunk))
    assert [p.source for p in spots.containing_all(["e"])] == [w for w in reference_windows(chunk) if "e" in profiles.search_form(w)]


# ---------------------------------------------------------------- the dataset's chat examples

QUESTIONS = [
    "What does the ferry cost?", "", "   ", "the fare", "Explain {{ user.name }}", "What is {question}?", '{"question": "x"}',
    "Which <|im_start|> token?", "Is [INST] quoted?", "Wie viel kostet es？", "中文问题", "List the {{ fares }} here",
]
ANSWERS = [
    "It costs £9.40.", "", " ", "What does the ferry cost?", "what does the ferry cost", 'The fare is 5", }', "```json {}",
    '"answer": "yes"', "{{ user.name }} is shown.", "Yes {% if x %}", "word " * 300, "Ünïcode ＦＵＬＬ", "{n} items",
]
SOURCES = [None, "", "Shows {{ user.name }} and {% if x %} and {question}.", "Plain chunk text."]


@pytest.mark.parametrize("system", [None, "", "You answer questions.", "Answer {{ style }} please."])
def test_a_made_chat_example_is_checked_as_check_chat_checks_it(system: str | None) -> None:
    made = ExampleFormat(kind="chat", system_message=system)
    count = len  # a character a token: the long answer goes over the limit below
    for question in QUESTIONS:
        for answer in ANSWERS:
            for source in SOURCES:
                pair = Pair(id="p", question=question, answer=answer, kind="grounded", source="s.md", chunk_id="c")
                example = made.example(pair)
                found, tokens = check_chat(example, count, 1000, None, source)
                assert check_made_chat(example, count, 1000, source) == ([f for f in found if f.is_error], tokens)


# ---------------------------------------------------------------- names and figures of the template's example

def reference_leaked(question: str, answer: str, example: str, chunk: profiles.ChunkProfile) -> list[str]:
    example_numbers, example_names = grounding._example_anchors(example)
    found = []
    for name in dict.fromkeys([*grounding._names(question), *grounding._names(answer)]):
        terms = set(tokenize(name))
        if terms and terms <= example_names and not terms <= chunk.terms:
            found.append(name)
    for key, written in split_numbers(f"{question}\n{answer}")[0]:
        if key in example_numbers and key not in chunk.numbers and len(key.strip(CURRENCY_SIGNS + "%.:")) >= 2:
            found.append(written)
    return found


EXAMPLES = [
    "The MV Brindle Point sails at 06:15 from Pier 4.2; built 1964, it carries 120 cars for £9.40.",
    "Ferries of the Ünïon Line: 12 boats since 1,964.",  # a name without a needle, a small figure without one
    "",
    "Route Four runs twice. The Brindley Express costs $3.",
]
LEAK_PAIRS = [
    ("When did the MV Brindle Point enter service?", "The MV Brindle Point entered service in 1964."),
    ("What does Brindle Point carry?", "It carries 120 cars and costs £9.40 or 9.40 euros."),
    ("Which line runs the Ünïon ferries?", "The Ünïon Line, with 12 boats since 1964."),
    ("Where is Pier 4.2?", "Pier 4.20 is at 06:15 on Route Four."),
    ("Is the Brindley Express cheap?", "It costs $3, unlike POINT BRINDLE fares of 1,964."),
    ("What is it?", "Nothing to name here."),
    ("What is SR-4?", "SR-4 and O’Brien's boat, 4.2% of 1964's fleet."),
]
LEAK_CHUNKS = ["Nothing here.", "The MV Brindle Point, built 1964, carries 120 cars.", "Ünïon Line boats: 12. Fares £9.40.", "Pier 4.2 at 06:15."]


@pytest.mark.parametrize("example", EXAMPLES)
def test_leaked_equals_reading_every_name_and_figure(example: str) -> None:
    for question, answer in LEAK_PAIRS:
        for chunk in LEAK_CHUNKS:
            expected = reference_leaked(question, answer, example, profiles.ChunkProfile(chunk))
            assert grounding._leaked(question, answer, example, profiles.ChunkProfile(chunk)) == expected, (question, answer, chunk)
