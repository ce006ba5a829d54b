"""The offline generator's shortcuts give what the full work they skip would have given.

Vague questions are made only when a pick gets to them, passages are read line by line for race
results only when a quick look finds a line that may be a row, and a few line patterns are tried
only on lines opening like what they match. Each test runs both ways on awkward inputs: unicode
that matches ASCII letters ignoring case ("ſ", "İ", the Kelvin sign), carriage returns, odd
whitespace, tables, numbers, headings, empty text.
"""

from __future__ import annotations

import pytest

from qagen.llm.offline import model, passage, questions, results
from qagen.llm.offline.forms import condition_question
from qagen.llm.offline.labels import is_topic_label, label_questions
from qagen.llm.offline.passage import LABEL_RE, clean_phrase
from qagen.llm.offline.words import lower_first, names_and_capitals, names_and_capitals_of_words

RESULTS_TEXTS = [
    "",
    "\n",
    "# Regatta 2023\n\n## Results\n\n1. Sea Lark (Morag Innesley), 2:41:07\n2. Gull, 2:45:00\n",
    "# Regatta 2023\n\n## Rеsults\n\n1. Sea Lark, 2:41:07\n",  # a Cyrillic "е": no results heading
    "# Regatta 2023\n\n## Reſults\n\n1. Sea Lark, 2:41:07\n2. Gull\n",  # "ſ" is "s" ignoring case
    "# Regatta 2023\n\n## PLACİNGS\n\n1) Sea Lark\n2) Gull\n",  # "İ" is "i" ignoring case
    "HARBOUR 10K RESULTS\n3. Tern\n4. Skua, 40:01\n",
    "Harbour 10K\r\n\r\n1st: Tern, 39:00\r\n2nd Skua 40:01\r\n",
    "Harbour 10K\r1st: Tern, 39:00\r2nd: Skua, 40:01\r",  # lone carriage returns do not end lines here
    "# Fun Run\n\n   - First: Ann Berg, 20:01\n\t* Second place: Ola Dahl, 21:30\n  + Winner – Kari Holm – 19:59\n",
    "# Fun Run\n\n\u3000 1ST Ann Berg 20:01\n\x0c2ND\tOla Dahl\t21:30\n",
    "# Fun Run\n\nFirst, the crew checks the boat.\nSecond, everyone signs the list.\n",
    "# Results of the trials\n\n| Place | Boat | Time |\n|---|---|---|\n| 1 | Sea Lark | 2:41:07 |\n| 2 | Gull | 2:45:00 |\n",
    "# Trials\n\n  | Pos. | Name |\n  | :--: | ---- |\n  | 1st | Ann |\n  | =2 | Ola |\n",
    "# Trials\n\nNo table | here | at all\n1 | 2 | 3\n",
    "## Final standings\n\nThe results were read out at noon.\n\n10. Tern\n11. Skua, 1:02:03\n",
    "## Notes\n\n1. Not a place, 2:00\n\nThe result is that 1st prize went to Ann.\n",
    "١. Ann\n# Results\n٢) Ola, 2:00\n",  # Arabic-Indic digits are digits to \\d
    "Ünïcödé heading\n\n1st – Ärne Øst – 12:00\n",
]


@pytest.mark.parametrize("text", RESULTS_TEXTS)
def test_place_rows_are_found_with_and_without_the_quick_look(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    found = results.place_candidates(text)
    monkeypatch.setattr(results, "_may_hold_row", lambda text: True)
    assert found == results.place_candidates(text)


def test_the_quick_look_lets_race_results_through() -> None:
    assert all(results._may_hold_row("\n" + text) for text in RESULTS_TEXTS[2:] if results.place_candidates(text))
    assert sum(1 for text in RESULTS_TEXTS if results.place_candidates(text)) >= 10


def _sentence_questions_before(sentence: str, topic: str, names: frozenset[str]) -> list[tuple[str, float, str]]:
    """A sentence's questions as questions.py made them before, every one at once."""
    found: list[tuple[str, float, str]] = []
    label = raw_label = ""
    if ":" in sentence and (match := LABEL_RE.match(sentence)) and (is_topic_label(match.group(1))
                                                or match.group(1).strip().lower() == "what happened"):
        raw_label = match.group(1)
        label = clean_phrase(raw_label)
        value = sentence[match.end():]
        found += [(question, 1.5, answer) for question, answer in label_questions(raw_label, label, value, topic, names)]
        sentence = value
    if not label and (condition := condition_question(sentence)):
        found.append((condition, 1.5, ""))
    opening = questions.OPENING_TIME_RE.match(sentence) or questions._YEAR_ITEM_RE.match(sentence)
    words = sentence[opening.end():].split() if opening else sentence.split()
    vague: list[str] = []
    if not label and (subject := questions._subject(words, names)) and questions._has_content(subject[0]):
        phrase, verb_at = subject
        found += [(q, 1.5, "") for q in questions._specific_questions(phrase, words[verb_at:], timed=opening is not None)]
        found += [(q, 1.25, "") for q in questions.clause_questions(
            phrase, words[verb_at:], timed=opening is not None, topic=questions._the(lower_first(topic, names)))]
        vague.append(phrase)
    if not label:
        if name := questions._longest_name(words, names):
            vague.append(name)
        if topic:
            vague.append(lower_first(topic, names))
    found += [(questions._about(phrase), questions.VAGUE_WORTH, "") for phrase in vague if questions._has_content(phrase)]
    unique: list[tuple[str, float, str]] = []
    seen: set[str] = set()
    for question, worth, answer in found:
        if question.casefold() not in seen:
            seen.add(question.casefold())
            unique.append((question, worth, answer))
    return unique


SENTENCES = [
    "", "The museum was founded in 1921 by Ingrid Dahl.", "The Maritime Museum has 14 galleries.",
    "Tickets cost NOK 50 for adults.", "If the ferry is cancelled, a bus runs instead.",
    "Length: 46.2 m", "Opening hours: 10:00 to 17:00 daily", "What happened: the engine failed at sea.",
    "In 2019, the Harbour Museum opened a new wing.", "**2011**: the MV Saltmarrow took over Route 2.",
    "Dr. Erik Holm, the director, leads the Museum of Art.", "The General Manager leads the Board of Oslo.",
    "It was built by Ingrid Dahl in the 1920s.", "Not all boats stop at Port Essary.",
    "The Museum Of Art Museum is the museum.", "The museum is the museum's museum.",
    "Ünïcödé Wörds are written in Øst Ålesund.", "Route 1 and Station A serve Port Essary.",
    "| a | b | c |", "def f(x): return {x: [1, 2]};", "1234 5678 9012.", "SAFETY RULES FOR VESSELS APPLY.",
    "The ſhip Sails at 9.30 from Kellimore.", "Author: Zoltan Fridrich <z@example.com>", "Note: see below.",
    "What happened: nothing.", "Date:   Thu Feb 9 09:39:41 2023 +0100", "In service: since 1998", "Staff leave at 17:00 on Fridays because the office closes.",
]


@pytest.mark.parametrize("sentence", SENTENCES)
@pytest.mark.parametrize("topic", ["", "the museum", "Opening Hours", "Port Essary", "Museum"])
def test_questions_made_when_needed_are_the_questions_made_at_once(sentence: str, topic: str) -> None:
    for names in (frozenset(), frozenset({"museum", "holm", "port", "essary", "ingrid", "the"})):
        expected = _sentence_questions_before(sentence, topic, names)
        sharp, vague = questions.sharp_questions(sentence, topic, names)
        assert sharp + [(q, questions.VAGUE_WORTH, "") for q in (vague() if vague else [])] == expected
        made = vague() if vague else []
        assert made == (vague() if vague else [])  # asking twice gives the same questions
        assert [q for q, _, _ in sharp] + made == [q for q, _, _ in expected]
        assert all(worth == questions.VAGUE_WORTH for _, worth, _ in expected[len(sharp):])
        if questions.asks_nothing(sentence, topic):  # passed over before anything else is tested
            assert expected == []
        # The words _candidates split once and passes on give the questions a split inside gives.
        shared, shared_vague = questions.sharp_questions(sentence, topic, names, sentence.split())
        assert shared == sharp and (shared_vague() if shared_vague else []) == made


@pytest.mark.parametrize("line", [
    "", "x", "-", "- item", "* item", "+ item", "• item", "‣ item", "◦ item", "1. one", "12) twelve", "123. x",
    "1234. no", "a. item", "b) item", "A) item", "A. no", "z.", "٣. Arabic-Indic three", "²) superscript",
    "  - indented", "\t1. tabbed", "\u3000- ideographic space", "-item", "Word. Then", "q) x", "Q. x",
])
def test_bullet_pattern_is_tried_on_every_line_it_matches(line: str) -> None:
    stripped = line.strip()
    opening = stripped[:1]
    if passage._BULLET_RE.match(line):
        assert opening in passage._BULLET_MARKS or opening.isdecimal() or stripped[1:2] in ".)"


def _looks_like_title_before(text: str) -> bool:
    stripped = passage.strip_markup_edges(text)
    words = len(stripped.split())
    return (words <= 8 and not passage.TERMINATED_RE.search(stripped) and (words <= 3 or not passage.DIGIT_RE.search(stripped))
            and ":" not in stripped.rstrip(":") and (stripped[:1].isupper() or stripped[:1].isdigit()))


@pytest.mark.parametrize("text", [
    "", "Opening Hours", "IR-2023-01", "Adults pay NOK 120 each", "One two three four five six seven eight",
    "One two three four five six seven eight nine", "A b c d e f g h i j k", "**Bold Title**", "Title:",
    "Key: value", "2024 Annual Report", "Ünïcödé Tïtle", "Ends here.", "  Spaced \x1c out\u3000words  ",
])
def test_title_test_counts_words_only_as_far_as_it_needs(text: str) -> None:
    assert passage._looks_like_title(text) == _looks_like_title_before(text)


@pytest.mark.parametrize("line", [
    "Copyright 2020", "copyright", "Previous", "Next »", "next page", "Back to top", "Skip to main content",
    "Edit on GitHub", "Table of contents", "Contents", "On this page", "In this section", "Home", "Homepage",
    "Menu", "Search", "Print this page", "Share", "Shared memory", "« Previous", "<- previous", "1 Next",
    "Next steps are listed below.", "Homework", "(c) 2019", "All rights reserved.", "© 2020", "K Next",
])
def test_boilerplate_pattern_is_tried_on_every_line_it_matches(line: str) -> None:
    assert passage._is_boilerplate(line) == bool(
        passage._BOILERPLATE_ANYWHERE_RE.search(line) or passage._BOILERPLATE_LINE_RE.match(line))


def test_candidates_are_told_apart_by_identity() -> None:
    first = model._Candidate("An answer.", ("A question?",), 2.0, 0, 1)
    second = model._Candidate("An answer.", ("A question?",), 2.0, 0, 1)
    assert first in [first] and second not in [first]


def _split_sentences_before(text: str) -> list[str]:
    sentences: list[str] = []
    start = 0
    for match in passage._SENTENCE_END_RE.finditer(text):
        if passage._is_boundary(text, start, match):
            if sentence := text[start:match.end()].strip():
                sentences.append(sentence)
            start = match.end()
    if tail := text[start:].strip():
        sentences.append(tail)
    return sentences


@pytest.mark.parametrize("text", [
    "", " ", "\x1c\x1d", "Date: Thu Feb 9 09:39:41 2023 +0100", "Author: Ann <ann@example.com>", "One. Two.",
    "Wait! What? Yes… No", "Dr. Holm came. He left.", "e.g. Oslo", "3.5 and 9.30", "  Spaced  out  ", "Ünï. Çödé",
    "Ends with a stop.", "Hm… ok", "A?B", "x.Y",
])
def test_blocks_without_a_sentence_end_split_as_before(text: str) -> None:
    assert passage.split_sentences(text) == _split_sentences_before(text)


def _extract_pairs_before(text: str, n: int) -> list[tuple[str, str]]:
    """extract_pairs as it was when every candidate held all its questions and both rounds looked at all."""
    if n <= 0 or not text.strip():
        return []
    normalised = " ".join(text.split())
    candidates = model._candidates(passage.read_blocks(text)) + [
        model._Candidate(answer, (question,), score, group, position, span=span)
        for answer, question, score, group, position, span in results.place_candidates(text)]
    every_question = {id(c): c.questions + tuple(c.vague_questions() if c.vague_questions else ()) for c in candidates}
    chosen: list[model._Candidate] = []
    asked: list[str] = []
    used: set[str] = set()
    for vague_too in (False, True):
        for candidate in model._round_robin(candidates):
            if len(chosen) >= n:
                break
            if candidate in chosen or candidate.source_text not in normalised or model._repeats(candidate.answer, chosen):
                continue
            question = next((q for q in every_question[id(candidate)] if q.casefold() not in used
                             and model._is_fair(q, candidate.answer) and (vague_too or not model._is_vague(q))), None)
            if question is not None:
                used.add(question.casefold())
                chosen.append(candidate)
                asked.append(question)
    return [(q, c.answer) for c, q in sorted(zip(chosen, asked), key=lambda pair: pair[0].position)]


PASSAGES = [
    "",
    "# Brannoch Sound Ferry\n\nThe ferry was founded in 1921 by Ingrid Dahl. The ferry has 14 cabins.\n"
    "The ferry sails at 9.30 from Port Essary. Tickets cost NOK 50 for adults.\n\n"
    "## Fleet\n\nLength: 46.2 m\nBuilt: 1998\nEntered service: 11 May 1998\n\n"
    "## Museum\n\nThe Museum of the Sound is in Kellimore. The Museum of the Sound is in Kellimore harbour.\n"
    "It opened in 1964. If the ferry is cancelled, a bus runs instead.\n",
    "Author: Zoltan Fridrich <z@example.com>\nDate:   Thu Feb 9 09:39:41 2023 +0100\n\n    Release 3.7.9\n",
    "## What does the gauge measure?\n\nThe gauge measures the tide at Brindle Point every six hours.\n\n"
    "Q: Who reads it?\nA: The harbour master reads it each morning.\n",
    "# Regatta 2023\n\n## Results\n\n1st: Sea Lark (Morag Innesley), 2:41:07\n2nd: Gull, 2:45:00\n3rd: Tern, 2:50:10\n",
    "# Ünïcödé Hall\n\nÜnïcödé Hall was built in 1888 by Åse Øst. Ünïcödé Hall has 3 floors.\n"
    "Ünïcödé Hall is open from 10:00 to 17:00. Ünïcödé Hall costs €5.\n",
    "# Notes\n\nThe Harbour Office is at Strandkaien 12. The Harbour Office is open on weekdays.\n"
    "The Harbour Office was renovated in 2019. The Harbour Office employs 12 staff members.\n"
    "The Harbour Office is the oldest building in Port Essary. The Harbour Office lies near the pier.\n",
    # Sentences with only the vague question, and sharp questions two sentences share: the second round's work.
    "# Port Essary\n\nIn Oslo, Anna Berg met Erik Holm on 5 May 2020 at the Grand Hotel.\n\n"
    "Under Dr. Erik Holm, the Museum of Art grew to 3,000 objects by 1999 and 2004.\n\n"
    "For NOK 120, Anna Berg and Ola Dahl toured Kellimore, Brindle Point and Strandkaien in 2021.\n\n"
    "The Grand Hotel is a hotel in Port Essary built in 1911.\n\nThe Grand Hotel is a hotel in Oslo built in 1912.\n\n"
    "After 2010, Ola Dahl led the Port Essary Ferry Company from Kellimore to Oslo.\n",
    # The third sentence's sharp questions are taken by the first two: it falls back on its vague one.
    "# Port Essary\n\nThe Harbour Museum has 14 galleries today.\n\n"
    "The Harbour Museum has 3 galleries upstairs.\n\nThe Harbour Museum has 2 galleries outside.\n",
]


@pytest.mark.parametrize("text", PASSAGES)
@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_pairs_picked_with_the_shortcuts_are_the_pairs_picked_before(text: str, n: int) -> None:
    assert model.extract_pairs(text, n) == _extract_pairs_before(text, n)


def test_names_scan_of_words_split_by_the_caller_is_the_names_scan() -> None:
    sentences = SENTENCES + ["", "   ", "Ola met Kari Holm. Then Ola left.", "ſome İstanbul Øst words: Ålesund, Oslo."]
    assert names_and_capitals_of_words((s, s.split()) for s in sentences) == names_and_capitals(sentences)
