"""The offline generator's faster tests give what the plain versions they replaced gave.

Each reference below is the code as it was before it was made faster (kept here as the proof);
the inputs are the awkward ones: ASCII control characters that str.isspace() counts as space,
non-ASCII letters and digits, case-folding letters such as "ſ", marks before capitals, empty text.
"""

from __future__ import annotations

import re
from itertools import pairwise

import pytest

from qagen.llm.offline import model, passage, results, vocabulary, words
from qagen.llm.offline.vocabulary import DATE_RE, PRICE_RE, TIME_RE, YEAR_RE

TEXTS = [
    "", " ", "\x1c\x1d\x1e\x1f text \t\x0b\x0c", "The museum opened in 1921.", "def f(x): return {x: [1, 2]};",
    "| a | b |", "a|b|c", "|", "Ünïcödé wörds ½ ² Ⅻ 一二三", "ALL RIGHTS RESERVED.", "all rightſ reserved",
    "© 2020 Example", "(C) 2019 Example Ltd", "(c)2019", "Copyright 2020", "  -- copyright notice", "« Previous",
    "Next »", "<- previous | next ->", "Back to top", "Contents", "Table of contents", "Home", "Homepage",
    "Share this", "Print this page", "Skip to main content", "Edit on GitHub", "In this section", "On this page",
    ".. note::", ".. _label:", "..", ":param x: the x", "----", "* * *", "»", "<div>", "![img](x.png)", "_", "__init__",
    "“Quoted” opening", "**Bold** `code` #tag [link] <b> ‘x’ \"y\" __z__", "(Bracketed) Opening", "*Emphasis* here", "'single' quote", "Noon and midnight", "at noon",
    "NOK 120 for adults", "$5", "5 %", "3.5 percent", "9.30 to 17.00", "Jan. 5 2020", "2020-01-05", "1/2/2020",
    "The U.S. Army was founded in 1775 by Congress.", "Dr. Erik Holm, the director, leads the Museum of Art.",
    "Route 1 and Station A serve Port Essary.", "It was built by Ingrid Dahl in the 1920s.", "x" * 700,
    "On 5 May 2020, 12 June or June 12th", "Sept. 3", "3rd Sep 1999", "the 4 January", "2020-1-05", "12/31/99",
    "1/2", "may 5", "MAY 5", "NOK120", "USD 5", "usd 5", "5 USD", "5 dollars", "5 Dollars", "20 kroner each",
    "7 kronor", "3 francs", "99 cents", "1 pence", "500 yen", "10 rupees", "€5", "£ 5", "¥5", "₹ 100", "$",
    "centre 5", "5 centimetres", "ten euros", "5euros",
    "Tabs\tinside\tthe line", "  Leading Space, then\x85Next\u3000Ideographic  Two:  After. Dot", "MIXED Case Line", "SAFETY RULES FOR VESSELS", "ÉCOLE NORMALE SUPÉRIEURE",
]


def _reads_as_prose_before(text: str) -> bool:
    non_space = [ch for ch in text if not ch.isspace()]
    symbols = sum(1 for ch in non_space if ch in "{}[]()<>=;\\/|`$")
    letters = sum(1 for ch in non_space if ch.isalpha())
    return symbols <= 0.1 * len(non_space) and letters >= 0.5 * len(non_space)


_BOILERPLATE_BEFORE_RE = re.compile(
    r"©|\(c\)\s*\d{4}|^\W*copyright\b|\ball rights reserved\b"
    r"|^(?:[«‹<←]\s*)?(?:previous|next|back to top|skip to (?:main )?content|edit on \w+|table of contents"
    r"|contents|on this page|in this (?:section|article)|home|menu|search|print this page|share)\b"
    r"(?:\W+(?:previous|next|page|topic|»|›|→))*\W*$",
    re.IGNORECASE,
)


def _is_skipped_line_before(stripped: str) -> bool:
    if stripped.startswith("|") or stripped.count("|") >= 2:
        return True
    if _BOILERPLATE_BEFORE_RE.search(stripped) or passage._DIRECTIVE_RE.match(stripped):
        return True
    if not any(ch.isalnum() for ch in stripped):
        return True
    if stripped.startswith("<") and stripped.endswith(">"):
        return True
    return stripped.startswith("![")


def _without_markup_before(text: str) -> str:
    return " ".join("".join(" " if ch in passage._MARKUP_CHARS else ch for ch in text).split())


def _is_capitalised_before(word: str) -> bool:
    return word.strip("([\"'“‘*_")[:1].isupper()


def _information_before(sentence: str, names: frozenset[str]) -> float:
    figures = sum(1.0 for regex in (YEAR_RE, DATE_RE, TIME_RE, PRICE_RE, model._PERCENT_RE) if regex.search(sentence))
    if not figures and passage.DIGIT_RE.search(sentence):
        figures = 0.5
    split = sentence.split()
    capitalised = sum(1 for previous, word in pairwise(split)
                      if _is_capitalised_before(word) and words.bare_word(word).isalpha()
                      and not previous.endswith((":", ".")) and words.bare_word(word) != "i")
    if split and words.bare_word(split[0]) in names:
        capitalised += 1
    return min(3.0, figures) + min(2.0, 0.5 * capitalised)


def _is_caps_title_before(stripped: str) -> bool:
    letters = [ch for ch in stripped if ch.isalpha()]
    return len(stripped.split()) >= 2 and len(letters) >= 4 and stripped.isupper() \
        and len(stripped.split()) <= 12 and not passage.TERMINATED_RE.search(stripped)


@pytest.mark.parametrize("text", TEXTS)
def test_line_and_sentence_tests_match_their_plain_versions(text: str) -> None:
    assert model._reads_as_prose(text) == _reads_as_prose_before(text)
    assert passage._is_boilerplate(text) == bool(_BOILERPLATE_BEFORE_RE.search(text))
    assert passage._is_caps_title(text) == _is_caps_title_before(text)
    assert " ".join(text.translate(passage._MARKUP_TO_SPACE).split()) == _without_markup_before(text)
    names = frozenset({"museum", "holm"})
    capitals = words.names_and_capitals([text])[1][text]
    assert model._information(text, names, capitals) == _information_before(text, names)
    assert vocabulary.has_date(text) == bool(DATE_RE.search(text))
    assert vocabulary.has_price(text) == bool(PRICE_RE.search(text))
    if text.strip():
        assert passage._is_skipped_line(text.strip()) == _is_skipped_line_before(text.strip())
    for word in text.split() + ["", "(", "“Á", "*_x", "_Y"]:
        assert words.is_capitalised(word) == _is_capitalised_before(word)


def test_known_names_match_the_plain_capital_test() -> None:
    sentences = [text for text in TEXTS if text]
    expected: set[str] = set()
    for sentence in sentences:
        split = sentence.split()
        expected.update(words.bare_word(word) for previous, word in pairwise(split)
                        if _is_capitalised_before(word) and not previous.endswith((":", ".")))
    expected.discard("i")
    assert words.known_names(sentences) == frozenset(expected)


def test_alnum_pattern_is_str_isalnum() -> None:
    # The Basic Multilingual Plane, and the supplementary code points with letters and digits in them.
    for code in [*range(0x10000), *range(0x1D400, 0x1D800), *range(0x20000, 0x20100)]:
        char = chr(code)
        assert bool(passage._ALNUM_RE.match(char)) == char.isalnum(), hex(code)


def test_results_heading_is_read_once_for_the_lines_under_it() -> None:
    text = ("# Regatta 2023\n\n## Results\n\n1. Sea Lark (Morag Innesley), 2:41:07\n2. Gull, 2:45:00\n\n"
            "## Notes\n\n1. Not a place, 2:00\n\nHARBOUR 10K RESULTS\n3. Tern\n")
    found = results.place_candidates(text)
    assert [question for _, question, *_ in found] == [
        "Who finished 1st in the Regatta 2023?", "Who finished 2nd in the Regatta 2023?",
        "Who finished 3rd in the HARBOUR 10K?"]  # "1." under "Notes" is no place; a title line naming results is


def test_possessive_row_patterns_find_what_the_plain_ones_found() -> None:
    plain_opening = r"(?:[-*+]\s+)?(?i:\d{1,3}(?:st|nd|rd|th)|first|second|third|fourth|fifth|winner|\|)"
    plain_row = re.compile(r"\n\s*(?:" + plain_opening + r"|(?P<numbered>\d{1,3}[.)]\s))")
    plain_place = re.compile(r"\n\s*" + plain_opening)
    texts = ["\n" + "\n".join(TEXTS), "\n\n   \n\t1st Sea Lark", "\n -  \n  2. Gull", "\n  - \n 12) x", "\n*  Winner: A",
             "\n \u3000 FIRST", "\n| a | b |", "\n    \n    \n", "\n1.", "\n1. ", "\n-\tthird", "\n+ 3rd", "\n 1000th"]
    for text in texts + ["\n" + text for text in TEXTS]:
        for plain, possessive in ((plain_row, results._MAY_HOLD_ROW_RE), (plain_place, results._MAY_HOLD_PLACE_RE)):
            found, expected = possessive.search(text), plain.search(text)
            assert (found and (found.span(), found.groups())) == (expected and (expected.span(), expected.groups())), text
