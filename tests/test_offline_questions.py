"""What the offline generator asks: sharp questions that name their subject, answered by sentences that keep their context.

The sample corpus run is the first thing a new user sees, so its pairs are checked end to end: few vague
"What should I know about X?" questions, no subject that is a stray word, every answer a complete
sentence the pipeline's grounding check keeps. Unit tests pin the kinds of question (when, where, who,
how much, what happens if), the skipping of code and boilerplate, and finishing places in race results.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers import CORPUS, read_jsonl
from qagen.cli import main
from qagen.llm.offline.forms import base_form
from qagen.llm.offline.model import extract_pairs
from qagen.llm.offline.vocabulary import STOPWORDS
from qagen.quality.grounding import is_supported, lexical_support

VAGUE_RE = re.compile(r"^(?:What should I know about|What about|Tell me about|What is said about)\b", re.IGNORECASE)
# Words a question's subject may not consist of: "What should I know about Not?", "... about unless there?".
FRAGMENT_WORDS = STOPWORDS | frozenset("not unless except only for if then there here".split())


def is_vague(question: str) -> bool:
    return bool(VAGUE_RE.match(question))


def subject_of_vague(question: str) -> str:
    return VAGUE_RE.sub("", question).rstrip("?").strip()


def is_complete_sentence(answer: str) -> bool:
    first = answer.lstrip("*_\"'“(")[:1]
    return (first.isupper() or first.isdigit()) and answer.rstrip("\"'”)*_").endswith((".", "!", "?"))


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample") / "out"
    assert main([str(CORPUS), "-o", str(out), "-q"]) == 0
    return out


def grounded_pairs(out: Path) -> list[dict]:
    return [p for p in read_jsonl(out / "pairs.jsonl") if p["kind"] == "grounded"]


def test_at_most_one_question_in_ten_on_the_sample_corpus_is_vague(sample_run: Path) -> None:
    pairs = grounded_pairs(sample_run)
    vague = [p["question"] for p in pairs if is_vague(p["question"])]
    assert len(pairs) >= 50  # the corpus still gives a dataset of a useful size
    assert len(vague) * 10 <= len(pairs), vague


def test_no_question_names_a_stop_word_fragment(sample_run: Path) -> None:
    for pair in grounded_pairs(sample_run):
        question = pair["question"]
        if is_vague(question):
            words = re.findall(r"\w+", subject_of_vague(question).casefold())
            assert any(word not in FRAGMENT_WORDS for word in words), question
        last = re.findall(r"\w+", question)[-1]  # "Station A" is a name, "... of a" a fragment
        assert last not in {"the", "a", "an", "of", "for", "not", "unless", "there", "and", "or"}, question


def test_every_answer_is_a_complete_sentence_the_grounding_check_keeps(sample_run: Path) -> None:
    pairs = grounded_pairs(sample_run)
    for pair in pairs:
        assert is_complete_sentence(pair["answer"]), pair["answer"]
    rejects = read_jsonl(sample_run / "rejects.jsonl")
    assert not [r for r in rejects if r["stage"] == "check"], "the offline generator wrote a pair the checks drop"


def test_the_sample_corpus_asks_when_where_who_and_how_much(sample_run: Path) -> None:
    starts = {p["question"].split()[0] for p in grounded_pairs(sample_run)}
    assert {"When", "Where", "Who", "How", "What"} <= starts


def test_sentences_are_asked_what_they_state() -> None:
    passage = (
        "## Refunds\n\n"
        "If the cooperative cancels a sailing, passengers may choose a full refund or a free transfer.\n\n"
        "The Saltmarrow spends the night at Orrin Bay.\n\n"
        "The General Manager leads the three departments and reports to the board.\n\n"
        "Salaries are paid monthly on the 25th of each month.\n\n"
        "The first sailing left Port Essary for Kellimore on Saturday 2 June 1962.\n"
    )
    pairs = dict(extract_pairs(passage, 10))
    assert pairs["What happens if the cooperative cancels a sailing?"].startswith("If the cooperative cancels")
    assert pairs["Where does the Saltmarrow spend the night?"] == "The Saltmarrow spends the night at Orrin Bay."
    assert pairs["Who leads the three departments?"].startswith("The General Manager leads")
    assert pairs["When are salaries paid?"] == "Salaries are paid monthly on the 25th of each month."
    assert pairs["When did the first sailing leave Port Essary for Kellimore?"].endswith("2 June 1962.")
    assert not any(is_vague(question) for question in pairs)


def test_label_lines_are_answered_with_their_heading_in_a_sentence() -> None:
    passage = "MV Corrie Dawn\n  Built: 1998, Malden & Rusk, Greyhaven\n  Length: 46.2 m\n  Service speed: 12 knots\n"
    pairs = dict(extract_pairs(passage, 5))
    assert pairs["What is the length of MV Corrie Dawn?"] == "The length of MV Corrie Dawn is 46.2 m."
    for answer in pairs.values():
        assert is_complete_sentence(answer), answer
        assert is_supported(lexical_support(answer, passage)), answer


def test_code_markup_and_boilerplate_lines_are_not_asked_about() -> None:
    passage = (
        "# Installing the client\n\n"
        "The client needs Python 3.10 or later and runs on Linux, macOS and Windows.\n\n"
        "```bash\n"
        "pip install harbour-client==2.4.1\n"
        "The daemon listens on port 8080 when it is started with the default settings.\n"
        "```\n\n"
        "    harbour --config /etc/harbour.toml serve\n\n"
        ".. note:: The configuration file is read once at start-up by every worker process.\n\n"
        "Copyright © 2024 Harbour Software Ltd. All rights reserved.\n\n"
        "Contents\n\n"
        "----\n\n"
        "« Previous | Next »\n\n"
        "Not for use with the legacy server.\n"
    )
    pairs = extract_pairs(passage, 10)
    assert pairs, "the one prose sentence is still asked about"
    text = " ".join(question + " " + answer for question, answer in pairs)
    for leftover in ("pip install", "8080", "harbour.toml", "note::", "Copyright", "rights reserved",
                     "Previous", "Contents"):
        assert leftover not in text
    assert all(not is_vague(question) or "Not" not in question for question, _ in pairs)


RACE = """\
# Brannoch Sound Regatta 2023

The Brannoch Sound Regatta was sailed on Saturday 5 August 2023 from Port Essary to Kellimore.
Fourteen boats started the race and eleven finished.

## Results

1st: Sea Lark (Morag Innesley), 2:41:07
2nd: Orrin Lass (Ewan Dalgleish), 2:44:31
3rd: Grey Heron (Ailsa Brodie), 2:50:02
"""

RACE_TABLE = """\
## Kellimore Fun Run 2024: results

| Place | Runner | Club | Time |
|---|---|---|---|
| 1 | Isla Munro | Port Essary Harriers | 31:02 |
| 2 | Calum Reid | Kellimore AC | 31:40 |
| 3 | Shona Baird | Orrin Striders | 32:15 |
"""


@pytest.mark.parametrize("passage, winners", [
    (RACE, ["Sea Lark", "Orrin Lass", "Grey Heron"]),
    (RACE_TABLE, ["Isla Munro", "Calum Reid", "Shona Baird"]),
])
def test_race_results_are_asked_by_finishing_place(passage: str, winners: list[str]) -> None:
    pairs = extract_pairs(passage, 5)
    by_place = {}
    for question, answer in pairs:
        match = re.search(r"\b(1st|2nd|3rd)\b", question)
        if match and question.startswith("Who"):
            by_place[match.group(1)] = answer
    assert list(by_place) == ["1st", "2nd", "3rd"], pairs
    for (place, answer), winner in zip(by_place.items(), winners):
        assert winner in answer and place in answer
        assert is_complete_sentence(answer), answer
        assert is_supported(lexical_support(answer, passage)), answer
    questions = " ".join(question for question, _ in pairs)
    assert "2023" in questions or "2024" in questions  # the race is named, not just "the results"


def test_a_race_told_in_prose_is_asked_who_won_and_who_came_second() -> None:
    passage = ("# Brannoch Sound Regatta 2023\n\n"
               "Sea Lark won the race in 2:41:07, ahead of Orrin Lass. Orrin Lass finished second in 2:44:31.\n")
    pairs = dict(extract_pairs(passage, 5))
    assert pairs["Who won the race?"].startswith("Sea Lark won")
    assert pairs["Who finished second in Brannoch Sound Regatta 2023?"] == "Orrin Lass finished second in 2:44:31."


def test_an_aside_between_subject_and_verb_does_not_hide_the_subject() -> None:
    passage = ("The last winter sailing of the day, 18:30 from Port Essary, arrives at Kellimore at 19:25.\n\n"
               "The current director, Dr. Erik Holm, has led the museum since March 2019.\n")
    questions = [question for question, _ in extract_pairs(passage, 5)]
    assert questions == ["When does the last winter sailing of the day arrive at Kellimore?",
                         "Since when has the current director led the museum?"]


@pytest.mark.parametrize("verb, base", [
    ("carries", "carry"), ("entered", "enter"), ("approved", "approve"), ("retired", "retire"),
    ("stopped", "stop"), ("travelled", "travel"), ("called", "call"), ("charged", "charge"),
    ("handled", "handle"), ("added", "add"), ("needed", "need"), ("agreed", "agree"),
    ("decided", "decide"), ("developed", "develop"), ("visited", "visit"), ("used", "use"),
    ("left", "leave"), ("rose", "rise"), ("passes", "pass"), ("goes", "go"),
])
def test_questions_put_the_verb_in_its_base_form(verb: str, base: str) -> None:
    # "When did the first sailing leave ...?", never "When did ... left" or "... visite".
    assert base_form(verb) == base
