"""The fast readings of qagen.quality.profiles equal the plain ones they replaced.

Each reference below is the code as it was before it was made faster (numbers found with two
``re.sub`` passes, every window read whole, each line's letters looked at for a capitals
heading), kept here as the simplest proof that the faster code gives the same result.
"""

from __future__ import annotations

import re

import pytest

from helpers import CORPUS
from qagen.quality import passages, profiles
from qagen.quality.grounding import CorpusTerms, corpus_terms
from qagen.quality.passages import windows
from qagen.quality.profiles import CURRENCY_SIGNS, NUMBER_TERMS, Profile, chunk_profile, chunk_windows, split_numbers, text_terms
from qagen.quality.retrieval import tokenize


def reference_split_numbers(text: str) -> tuple[list[tuple[str, str]], str]:
    found: list[tuple[str, str]] = []

    def take(match: re.Match[str]) -> str:
        key = profiles._number_key(match.group("core"))
        sign = (match.group("currency") or "").strip()
        if not sign:
            unit = profiles._CURRENCY_AFTER.match(match.string, match.end())
            sign = profiles._CURRENCY_WORDS[unit.group(1).lower()] if unit else ""
        if match.group().rstrip().endswith("%") or profiles._PERCENT_AFTER.match(match.string, match.end()):
            key += "%"
        found.append((sign + key, match.group().strip()))
        return " " * len(match.group())

    blanked = profiles._NUMBER.sub(take, text)
    blanked = profiles._NUMBER_BEFORE_UNIT.sub(take, blanked)
    return found, blanked


def reference_profile(text: str) -> tuple[frozenset[str], frozenset[str], str]:
    found, blanked = reference_split_numbers(text)
    terms = set(tokenize(blanked))
    terms.update(word for symbol, word in profiles._SYMBOL_WORDS.items() if symbol in text)
    numbers = {key for key, _ in found}
    numbers.update(key.lstrip(CURRENCY_SIGNS).rstrip("%") for key, _ in found)
    currencies = {sign for sign in CURRENCY_SIGNS if sign in text}
    currencies.update(profiles._CURRENCY_WORDS[word] for word in profiles._CURRENCY_WORDS if word in terms)
    for key, written in found:
        if currencies and key[0] not in CURRENCY_SIGNS and not key.endswith("%") and "." in written and ":" not in written:
            numbers.update(sign + key for sign in currencies)
    numbers.update(value for term, value in NUMBER_TERMS.items() if term in terms)
    return frozenset(terms), frozenset(numbers), profiles.normalise(text)


def reference_caps_heading(line: str) -> bool:
    letters = [c for c in line if c.isalpha()]
    return len(letters) >= 4 and all(c.isupper() for c in letters) and len(line.strip()) <= 80


def window_profiles(chunk: str) -> tuple[Profile, ...]:
    """Every window's profile, each made as a pair needing it would make it."""
    spots = chunk_windows(chunk)
    return tuple(spots.profile(index) for index in range(len(spots.texts)))


TRICKY_TEXTS = [
    "",
    "No figures here at all.",
    "A82 and x2 stay words; _5 is a number, as are 1,912 and 1,912.50 and 9.40.",
    "Fares: £9.40, $ 12, €3.00 and ¥500; £ 7 and £  8 (two spaces) and £x9.",
    "Opens at 06:15, closes 21:00:30; 2nd, 3rd, 21st, 4th; 2ND place; 10% and 4.5 per cent, 40 percent.",
    "9.8 million pounds, 40 euros, 12 USD, 3 bn dollars, 5 k yen, 7 JPY; 5.0m, 12kg, 3.5km/h, 1,200t.",
    "A 10-journey carnet; route 3; 2023-11-04; v1.2.3; 1.5.; 3:4; 12:345; 0.50; 007; 1,23; 12,345,678.",
    "rock'2nd, 2nd'abc, don't, O'Brien 5's 7’s; ΑΣ.2nd Σ; İstanbul 5; full-width ９ and ²; ٣ Arabic-Indic.",
    "per\ncent 5 per\ncent £\n5 5\npounds 9\n%",
    "Nine days, twenty-one, one hundred and two; zero or one; Forty thieves.",
]


@pytest.mark.parametrize("text", TRICKY_TEXTS)
def test_split_numbers_equals_the_two_sub_passes(text: str) -> None:
    assert split_numbers(text) == reference_split_numbers(text)


# A block's title line and the line under it are two pieces of one window: these numbers exist only
# when the window is read whole.
NUMBER_ACROSS_PIECES = ["Price £\n5 apples a bag.", "Rise of 3 per\ncent of the fares.", "Paid in $\n12 notes."]


def test_a_number_across_two_pieces_reads_the_window_whole() -> None:
    for chunk in NUMBER_ACROSS_PIECES:
        window = windows(chunk)[0]
        assert any(profiles._joins_apart(a, b) for a, b in zip(window.split("\n"), window.split("\n")[1:])), window
        assert window_profiles(chunk)[0].numbers == reference_profile(window)[1]


def _chunks() -> list[str]:
    """The test corpus's files, whole and by blank-line blocks, and texts with numbers split across pieces."""
    texts = [path.read_text(encoding="utf-8") for path in sorted(CORPUS.rglob("*")) if path.is_file()]
    blocks = [block for text in texts for block in re.split(r"\n\s*\n", text)]
    joins = [
        "# Fares\n\nThe single fare is £\n9.40 on Route 1.\n\nA return costs 5 per\ncent more.",
        "# Fares\n\n| Ticket | Fare (£) |\n|---|---|\n| Adult | 9.40 |\n| Child | 4.70 |\n\nSeniors pay nine pounds.",
        "CURRENT FLEET\n\nMV Heather Bell\n  Length: 42.0 m\n  Built: 1998\n\n- first item costs $\n- 5 then",
        "## Staff\n\nStaff: 62 (48 permanent, 14 seasonal). Shifts are 7.5 hours. Ten staff are part time.",
        "Price £\n\n5 apples. It rose 3 per\n\ncent. Then 4.5\npercent.",
        *NUMBER_ACROSS_PIECES,
    ]
    return texts + blocks + joins


@pytest.mark.parametrize("chunk", _chunks())
def test_window_profiles_equal_reading_each_window_whole(chunk: str) -> None:
    spots = windows(chunk)
    found = window_profiles(chunk)
    assert len(found) == len(spots)
    for window, profile in zip(spots, found):
        assert (profile.terms, profile.numbers, profile.text) == reference_profile(window), window


@pytest.mark.parametrize("chunk", _chunks())
def test_chunk_profile_and_text_terms_equal_the_reference(chunk: str) -> None:
    profile = chunk_profile(chunk)
    assert (profile.terms, profile.numbers, profile.text) == reference_profile(chunk)
    assert text_terms(chunk) == reference_profile(chunk)[0]


def test_corpus_terms_is_every_chunk_terms() -> None:
    chunks = _chunks()
    assert corpus_terms(chunks) == frozenset().union(*(reference_profile(c)[0] for c in chunks))


@pytest.mark.parametrize(
    "line",
    ["CURRENT FLEET", "FLEET", "ABC", "Current Fleet", "CURRENT FLEEt", "ROUTE 3 — TIMETABLE", "ÉTÉ HIVER", "ÉTÉ hiver",
     "中文标题 ABCD", "ABCD 中文", "   SPACED OUT HEADING   ", "A" * 81, "A B C D", "1234", "ÀÉÎÕ", "straße STRASSE"],
)
def test_caps_heading_equals_looking_at_each_letter(line: str) -> None:
    assert passages._is_caps_heading(line) == reference_caps_heading(line)


# The needles are necessary tests: a text whose profile holds a term or a number must hold its needle,
# or a window that holds a pair's anchors would never be profiled and a good pair would be dropped.
NEEDLE_TEXTS = [
    *TRICKY_TEXTS,
    "Opened, opening, planned, based, hoping, agreed, policies, branches, studied, offices, statuses; Acme's O’Brien.",
    "ΟΔΟΣ Σ'Α; Kelvin K; İzmir; naïve café; ＦＵＬＬ width; 中文 text; straße; don’t can't won't.",
    "| Fare (£) | Seniors |\n|---|---|\n| 9.40 | nine |\n\n# Heading 5\n\nSeven pounds, 06:15:30, 007, 00.50.",
]


@pytest.mark.parametrize("chunk", [*NEEDLE_TEXTS, *_chunks()])
def test_every_term_and_number_of_a_profile_has_its_needle_in_the_text(chunk: str) -> None:
    for text in (chunk, *windows(chunk)):
        profile = reference_profile(text)
        form = profiles.search_form(text)
        for term in profile[0]:
            needle = profiles.term_needle(term)
            assert needle is None or needle in form, (term, text)
        for key in profile[1]:
            needle = profiles.number_needle(key)
            assert needle is None or needle in form, (key, text)


def test_corpus_terms_found_one_at_a_time_equal_the_whole_set() -> None:
    chunks = _chunks() + NEEDLE_TEXTS
    every = corpus_terms(chunks)
    asked = sorted(every)[::7] + ["32bit", "nonexistentword", "percent", "ΟΔΟΣ", "obrien", "zz"]
    lookups = CorpusTerms(chunks)
    assert [term in lookups for term in asked] == [term in every for term in asked]
    assert all(term in lookups for term in every)  # past the lookups' limit: the whole set


UNIT_LINES = [
    "# Heading", "  ## Sub heading", "\u00a0# after a no-break space", "\u2003- em space item", "- item", "* item", "• item",
    "+ item", "12. item", "3) item", "٣. Arabic-Indic", "١٢) item", "²) superscript", "Key: value", "  Length: 42.0 m",
    "Ünïcode: value", "key: lower", "| a | b |", "|---|---|", "#hashtag", "-no space", "Plain text. Next one! And? Yes",
    "\tTabbed. Line", "(3) aside", "  ", "中文：值", "Ends with e.g. the", "No stop here",
]


@pytest.mark.parametrize("line", UNIT_LINES)
def test_units_first_character_tests_are_implied_by_the_patterns(line: str) -> None:
    first = line.strip()[:1]
    if passages._HEADING.match(line):
        assert first == "#"
    if passages._LIST_ITEM.match(line):
        assert first in "-*•+" or first.isdigit()
    if passages._KEY_VALUE.match(line):
        assert "A" <= first <= "Z"
    if passages._SENTENCE_END.search(line):
        assert "." in line or "!" in line or "?" in line


LINE_TEXTS = [
    "£\n5m of it\nx£\n5kg", "5 per\ncent\n2nd\nrock\n3rd-party", "ΟΔΟΣ\nΑΣ Σ\n'Σ'", "CRLF\r\nline 5th\r\n", "a\u2028b c\x1cd",
    "Price £\n9.40m and $\n12th; 06:15\n:30", "don't\n't won't' O’\nBrien", "Kelvin K\nİzmir\nstraße", "9\n%\npercent",
]


@pytest.mark.parametrize("chunk", [*LINE_TEXTS, *NEEDLE_TEXTS, *_chunks()])
def test_a_chunk_holds_a_term_as_its_lines_do(chunk: str) -> None:
    terms = reference_profile(chunk)[0]
    asked = {*terms, *(t + "x" for t in terms), *(t[:-1] for t in terms), "zz", "σ"}
    by_lines = {t for t in asked if profiles.term_needle(t) is not None}
    fresh = profiles.ChunkProfile(chunk)
    assert {t for t in by_lines if fresh.holds_term(t)} == by_lines & terms
    assert "_whole" not in fresh.__dict__  # each term found from the lines
    assert {t for t in asked if fresh.holds_term(t)} == asked & terms
    assert {t for t in ("percent", "pound") if profiles.ChunkProfile(chunk).holds_term(t)} == {"percent", "pound"} & terms


@pytest.mark.parametrize("chunk", [*LINE_TEXTS, *NEEDLE_TEXTS, *TRICKY_TEXTS])
def test_the_search_form_of_a_text_is_that_of_its_lines(chunk: str) -> None:
    assert profiles.search_form(chunk).split("\n") == [profiles.search_form(line) for line in chunk.split("\n")]
