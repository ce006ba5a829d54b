"""Tests for qagen's built-in offline generator (qagen/offline.py)."""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import subprocess
import sys

import pytest

from qagen.llm.offline.model import OfflineModel, extract_pairs
from qagen.llm.offline.passage import split_sentences
from qagen.quality.grounding import is_supported, lexical_support
from qagen.records import Completion, Message, Request

GUIDE = """\
# Harbour Museum Visitor Guide

## About the museum

The Harbour Museum is a maritime museum on the old quay in Ålesund. It was founded in 1921 by the
shipowner Ingrid Dahl, who donated her collection of ship models. The museum has 14 galleries
spread over three floors. The current director, Dr. Erik Holm, has led the museum since March 2019.

The main building was designed by the architect Per Lund and was completed in 1924.
The tower is 42 metres tall.

## Opening hours

The museum is open from 9.30 to 17.00, Tuesday to Sunday. On public holidays, such as 17 May,
the doors close at 14.00. The café opens at 10.00 and serves lunch until 15.30.

## Tickets

- Adults: NOK 120
- Students and seniors: NOK 80 with a valid card
- Children under 16 get in free of charge.

Guided tours cost NOK 50 per person and start at 11.00 every Saturday. A tour takes about 45 minutes.

```python
print("Opening hours are not printed here, this is code.")
```

| Item | Price |
|------|-------|
| Map of the harbour area with all galleries | NOK 20 |

## Visiting with animals

**Can I bring my dog?**

Only guide dogs are allowed inside the galleries. Dogs on a lead are welcome in the garden.
"""

# Six sentences that score the same: only the tie-break decides which are picked.
TIES = "\n\n".join(
    f"The {room} is a quiet room with {thing} for visitors."
    for room, thing in [("garden", "benches"), ("library", "books"), ("chapel", "candles"),
                        ("loft", "maps"), ("cellar", "barrels"), ("porch", "chairs")]
)

TRICKY = (
    'The template "Greeting" writes Grüße to Zoë and keeps its files under C:\\temp\\qagen on the '
    "Windows laptop.\n"
    "Its page renders {{ x }} inside {% raw %} blocks, which the Oslo office added in 2022.\n"
    "The greeting template was created in 2021 by Åsa Berg from the Oslo office.\n"
)


def normalised(text: str) -> str:
    return " ".join(text.split())


def word_count(text: str) -> int:
    return len(text.split())


def run(coroutine):
    return asyncio.run(coroutine)


def request_for(passage: str, n: int) -> Request:
    return Request(
        key="c0",
        messages=(
            Message("system", "You write question and answer pairs."),
            Message("user", f"Write {n} pairs about this passage:\n{passage}"),
        ),
        n=n,
        passage=passage,
    )


def test_same_input_gives_same_pairs():
    assert extract_pairs(GUIDE, 6) == extract_pairs(GUIDE, 6)


def test_equal_scores_are_broken_by_passage_order():
    answers = [answer for _, answer in extract_pairs(TIES, 2)]
    assert answers == ["The garden is a quiet room with benches for visitors.",
                       "The library is a quiet room with books for visitors."]


def test_pairs_do_not_depend_on_the_string_hash_seed(tmp_path):
    # str hashes are salted per process: anything ordered by hash() would change between runs.
    script = ("import json, sys; from qagen.llm.offline.model import extract_pairs; "
              "text = sys.stdin.read(); print(json.dumps([extract_pairs(text, 2), extract_pairs(text, 7)]))")
    outputs = set()
    for seed in ("1", "2", "3", "4", "5"):
        done = subprocess.run([sys.executable, "-c", script], input=TIES + "\n\n" + GUIDE,
                              capture_output=True, text=True, env={"PYTHONHASHSEED": seed},
                              cwd=tmp_path, check=True)
        outputs.add(done.stdout)
    assert len(outputs) == 1
    assert all(json.loads(outputs.pop()))


# The words a restated answer may add to the passage's own: "The length of MV Corrie Dawn is 46.2 m."
JOINING_WORDS = {"the", "of", "is", "are", "was", "in", "on", "for", "by"}


@pytest.mark.parametrize("passage", [GUIDE, TRICKY])
def test_every_answer_is_text_of_the_passage(passage):
    pairs = extract_pairs(passage, 50)
    assert pairs
    passage_words = set(re.findall(r"\w+", passage.casefold()))
    for _question, answer in pairs:
        assert normalised(answer) == answer
        assert is_supported(lexical_support(answer, passage)), answer
        assert set(re.findall(r"\w+", answer.casefold())) <= passage_words | JOINING_WORDS, answer
    # Prose sentences are copied as they are; only list and label lines are restated or given a full stop.
    assert [a for _, a in pairs if a.rstrip(".") in normalised(passage)]


def test_rich_passage_gives_exactly_n_and_never_more():
    for n in (1, 3, 6):
        assert len(extract_pairs(GUIDE, n)) == n
    everything = extract_pairs(GUIDE, 100)
    assert 6 < len(everything) < 100  # fewer than asked: no padding


def test_no_pairs_for_nothing_asked():
    assert extract_pairs(GUIDE, 0) == []
    assert extract_pairs(GUIDE, -1) == []


def test_questions_are_questions_distinct_and_not_answers():
    pairs = extract_pairs(GUIDE, 100)
    questions = [question for question, _ in pairs]
    assert len({q.casefold() for q in questions}) == len(questions)
    for question, answer in pairs:
        assert question.strip() and question.endswith("?")
        assert question != answer
        assert answer.casefold() not in question.casefold()


def test_answers_are_distinct_and_in_passage_order():
    pairs = extract_pairs(GUIDE, 100)
    answers = [answer for _, answer in pairs]
    assert len(set(answers)) == len(answers)
    flat = normalised(GUIDE)
    positions = [flat.index(answer) for answer in answers if answer in flat]
    assert len(positions) >= len(answers) - 3  # the three ticket lines are restated with their heading
    assert positions == sorted(positions)


def test_picks_are_spread_over_the_passage():
    rich = (
        "The Harbour Museum was founded in 1921 by Ingrid Dahl in Ålesund. "
        "The Harbour Museum has 14 galleries and 3,000 ship models from Bergen and Oslo. "
        "Guided tours cost NOK 50 and start at 11.00 on Saturday 4 May 2024. "
        "The tower was completed in 1924 by Per Lund and Anna Berg of Oslo."
    )
    plain = [
        "The garden behind the museum is a quiet place with benches and old anchors.",
        "The library holds books about fishing boats and the history of the harbour.",
    ]
    passage = "\n\n".join([rich, *plain])
    answers = [answer for _, answer in extract_pairs(passage, 3)]
    # The rich paragraph alone could fill all three picks; one from each paragraph is asked for.
    assert len(answers) == 3
    assert answers[1:] == plain
    assert answers[0] in rich


def test_overlapping_answers_are_not_repeated():
    pairs = extract_pairs("\n\n".join([GUIDE] * 3), 100)
    answers = [answer for _, answer in pairs]
    assert answers == [answer for _, answer in extract_pairs(GUIDE, 100)]
    for answer in answers:
        assert not any(answer != other and answer in other for other in answers)


def test_patterns_ask_for_what_the_sentence_states():
    pairs = dict(extract_pairs(GUIDE, 100))
    assert pairs["How many galleries does the museum have?"] == (
        "The museum has 14 galleries spread over three floors.")
    assert pairs["When is the museum open?"] == (
        "The museum is open from 9.30 to 17.00, Tuesday to Sunday.")
    assert pairs["How much do guided tours cost?"].startswith("Guided tours cost NOK 50")
    assert pairs["How tall is the tower?"] == "The tower is 42 metres tall."
    # The year belongs to "completed", not to "designed": no "When was ... designed?".
    assert pairs["Who designed the main building?"].startswith("The main building was designed")
    assert "When was the main building designed?" not in pairs


def test_the_passage_own_question_is_answered_by_what_follows_it():
    pairs = dict(extract_pairs(GUIDE, 100))
    assert pairs["Can I bring my dog?"] == (
        "Only guide dogs are allowed inside the galleries. Dogs on a lead are welcome in the garden.")


def test_plain_text_q_and_a_lines_are_used_without_their_prefixes():
    passage = ("2. Support\n\n"
               "Q: How do I reset my password?\n"
               "A: Open Settings, choose Account and press Reset. A link arrives within 5 minutes.\n")
    assert extract_pairs(passage, 5) == [(
        "How do I reset my password?",
        "Open Settings, choose Account and press Reset. A link arrives within 5 minutes.",
    )]


def test_abbreviations_decimals_and_times_do_not_split_sentences():
    answers = [answer for _, answer in extract_pairs(GUIDE, 100)]
    assert "The current director, Dr. Erik Holm, has led the museum since March 2019." in answers
    assert not any(re.search(r"\b(?:Dr|9|17)\.$", answer) for answer in answers)
    passage = ("The U.S. Army band played on St. Olav's Day in Jan. 2020 at 9.30 for 3.5 hours. "
               "Tickets cost $12.50 for adults, e.g. Anna and Per, and the doors opened at 7 p.m. "
               "Everyone in the Harbour Museum cheered loudly for the U.S. band that evening.")
    got = [answer for _, answer in extract_pairs(passage, 10)]
    assert got == [
        "The U.S. Army band played on St. Olav's Day in Jan. 2020 at 9.30 for 3.5 hours.",
        "Tickets cost $12.50 for adults, e.g. Anna and Per, and the doors opened at 7 p.m.",
        "Everyone in the Harbour Museum cheered loudly for the U.S. band that evening.",
    ][:len(got)]
    assert len(got) >= 2
    assert split_sentences(passage) == [
        "The U.S. Army band played on St. Olav's Day in Jan. 2020 at 9.30 for 3.5 hours.",
        "Tickets cost $12.50 for adults, e.g. Anna and Per, and the doors opened at 7 p.m.",
        "Everyone in the Harbour Museum cheered loudly for the U.S. band that evening.",
    ]


def test_headings_code_and_tables_are_never_answers():
    answers = " ".join(answer for _, answer in extract_pairs(GUIDE, 100))
    assert "Visitor Guide" not in answers
    assert "print(" not in answers and "not printed" not in answers
    assert "|" not in answers and "Map of the harbour" not in answers


@pytest.mark.parametrize("passage", [
    "",
    "   \n\n",
    "# Harbour Museum\n\n## Opening hours\n\n### Tickets\n",
    "Harbour Museum Guide\n====================\n\nOpening Hours\n-------------\n",
    "```\nThe museum is open from 9.30 to 17.00 every day of the week.\n```\n",
    "| Day | Hours |\n|---|---|\n| Monday | 9.30 to 17.00 |\n",
    "and the rest of a sentence cut off by the chunker, with no real start",
    "Yes. No. Maybe later.",
    # Shaped like an answer but says nothing a question could aim at.
    "## Visiting\n\nWe look forward to seeing you soon and hope you enjoy it.\n",
    # The passage's own question already contains its answer.
    "**Can guide dogs come in with visitors?**\n\nGuide dogs come in\n",
])
def test_passages_without_answers_give_no_pairs(passage):
    assert extract_pairs(passage, 5) == []
    completion = run(OfflineModel(word_count).complete(request_for(passage, 5)))
    assert completion.text == ""
    assert completion.completion_tokens == 0
    assert completion.finish_reason == "stop"


def test_complete_replies_with_jsonl_the_parser_can_read():
    request = request_for(GUIDE, 5)
    completion = run(OfflineModel(word_count).complete(request))
    assert isinstance(completion, Completion)
    assert completion.finish_reason == "stop" and not completion.truncated
    lines = completion.text.split("\n")
    assert len(lines) == 5
    records = [json.loads(line) for line in lines]
    assert all(set(record) == {"question", "answer"} for record in records)
    assert [(r["question"], r["answer"]) for r in records] == extract_pairs(GUIDE, 5)


def test_token_counts_come_from_the_given_counter():
    request = request_for(GUIDE, 3)
    completion = run(OfflineModel(word_count).complete(request))
    assert completion.prompt_tokens == sum(word_count(m.content) for m in request.messages)
    assert completion.completion_tokens == word_count(completion.text) > 0

    calls: list[str] = []

    def counting(text: str) -> int:
        calls.append(text)
        return 7

    completion = run(OfflineModel(counting).complete(request))
    assert completion.prompt_tokens == 7 * len(request.messages)
    assert completion.completion_tokens == 7
    assert calls[-1] == completion.text


def test_quotes_backslashes_and_unicode_survive_json():
    completion = run(OfflineModel(word_count).complete(request_for(TRICKY, 5)))
    assert "Grüße" in completion.text  # ensure_ascii=False: unicode is written as is
    records = [json.loads(line) for line in completion.text.split("\n")]
    answers = [record["answer"] for record in records]
    assert answers[0] == normalised(TRICKY.split("\n")[0])
    assert "C:\\temp\\qagen" in answers[0] and '"Greeting"' in answers[0]
    for answer in answers:
        assert answer in normalised(TRICKY)


def test_template_syntax_is_never_put_into_a_pair():
    # qagen's checks reject pairs holding Jinja syntax as a leaked prompt: such sentences are skipped.
    pairs = extract_pairs(TRICKY, 5)
    assert [answer for _, answer in pairs] == [normalised(TRICKY.split("\n")[0]),
                                               normalised(TRICKY.split("\n")[2])]
    # Here the heading is the only topic a question could name.
    section = "## The {} filter\n\nWe added it to the greeting page on 4 May 2022 after many requests.\n"
    assert extract_pairs(section.format("x"), 5) == [(
        "What should I know about the x filter?",
        "We added it to the greeting page on 4 May 2022 after many requests.",
    )]
    assert extract_pairs(section.format("{{ x }}"), 5) == []


def test_model_interface():
    model = OfflineModel(word_count)
    assert model.name == "offline"
    assert inspect.iscoroutinefunction(model.complete)
    assert run(model.aclose()) is None


def test_a_long_passage_gives_distinct_pairs():
    # How long this takes is printed by benchmarks/speed.py.
    passage = "\n\n".join([GUIDE] * 60)
    pairs = extract_pairs(passage, 8)
    assert len(pairs) == 8
    assert len({answer for _, answer in pairs}) == 8


def test_prompt_tokens_of_a_run_are_the_exact_counts_of_its_requests(tmp_path, monkeypatch):
    # The offline model counts only the template's words around a chunk already counted: the figure must
    # still be the whole count of every message, for the built-in templates and chunks of every shape.
    from qagen.cli import main
    from qagen.documents.tokens import counter_for

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "guide.md").write_text(GUIDE, encoding="utf-8")
    (corpus / "odd.txt").write_text(
        "é starts this line.\n/usr/bin holds programs.\n  Indented, with £4.50 in it.\n\n"
        + "A long paragraph about ferries and fares. " * 300 + "\nLast line ends here", encoding="utf-8")
    answered: list[tuple[Request, Completion]] = []
    original = OfflineModel.complete

    async def recording(self, request):
        completion = await original(self, request)
        answered.append((request, completion))
        return completion

    monkeypatch.setattr(OfflineModel, "complete", recording)
    assert main([str(corpus), "-o", str(tmp_path / "out"), "--quiet", "--chunk-size", "120"]) == 0
    count = counter_for("gpt-4o-mini")
    generation = [(r, c) for r, c in answered if r.passage]
    assert len(generation) > 5
    for request, completion in generation:
        assert request.passage_tokens == count(request.passage)
        assert completion.prompt_tokens == sum(count(m.content) for m in request.messages), request.key
