"""The model's check of an "I don't know" candidate can say "answered", and a candidate it answers is dropped.

A real small model replied ``"answered": false`` to every check, so the check filtered nothing. The
prompt (``templates/idk_check.json``) now asks for the sentence that answers the question before the
verdict, and a reply whose quote is found in the passages shown counts as answered whatever its
verdict says: a model that can copy the answer has found it.
"""

from __future__ import annotations

import json
from pathlib import Path

from fake_openai import chat_reply, grounded_pairs_reply
from helpers import CORPUS, REPO, read_jsonl
from qagen.cli import main
from qagen.llm.templates import load_template
from qagen.quality.idk.candidates import likely_answered
from qagen.quality.idk.evidence import quoted_answer
from qagen.quality.retrieval import BM25Index
from qagen.replies.questions import parse_check

# history.md answers it ("bought its first vessel, the MV Brannoch Lass, for £6,800") in words the
# question does not use, so the lexical check lets it through and only the model can catch it.
ANSWERED_ELSEWISE = "What sum did the cooperative spend on acquiring the Brannoch Lass?"
# This checkout's template (the installed package may point qagen.templates at another checkout).
CHECK_TEMPLATE = REPO / "templates" / "idk_check.json"
UNANSWERED = "What brand of coffee does the Scarth Pier kiosk sell?"
ANSWER_SENTENCE = "In May 1962 the cooperative bought its first vessel, the MV Brannoch Lass, for £6,800."


def _passages_of(text: str) -> str:
    return text.split("Passages:", 1)[1].rsplit("Question:", 1)[0]


def _model(verdicts: dict[str, str]):
    """A scripted model: candidates, grounded pairs, and for each check the reply ``verdicts`` gives its question."""
    checks: list[str] = []

    def handle(request):
        system = request.messages[0]["content"]
        if system.startswith("You write questions for training an assistant to say"):
            return chat_reply("\n".join(json.dumps({"question": q}) for q in (ANSWERED_ELSEWISE, UNANSWERED)))
        if system.startswith("You check whether passages"):
            checks.append(request.last_user_text)
            question = ANSWERED_ELSEWISE if ANSWERED_ELSEWISE in request.last_user_text else UNANSWERED
            return chat_reply(verdicts[question])
        return grounded_pairs_reply(request, 3)

    return handle, checks


def _run(tmp_path: Path, fake_openai, verdicts: dict[str, str]) -> tuple[list[str], dict[str, str], list[str]]:
    handler, checks = _model(verdicts)
    fake_openai.handler = handler
    out = tmp_path / "o"
    assert main([str(CORPUS), "--base-url", fake_openai.url, "--model", "m", "-o", str(out), "-q", "--idk-ratio", "0.05",
                 "--idk-check-template", str(CHECK_TEMPLATE)]) == 0
    idk = [p["question"] for p in read_jsonl(out / "pairs.jsonl") if p["kind"] == "idk"]
    dropped = {r["raw"]: r["reason"] for r in read_jsonl(out / "rejects.jsonl") if r["stage"] == "idk"}
    return idk, dropped, checks


def test_the_premise_only_the_model_can_catch_the_candidate() -> None:
    from qagen.documents.chunking import split_documents
    from qagen.documents.loading import load_corpus
    from qagen.documents.tokens import counter_for

    chunks = split_documents(load_corpus(CORPUS).documents, counter_for("gpt-4o-mini"), chunk_tokens=800, overlap_tokens=80)
    index = BM25Index(chunks)
    assert not likely_answered(index, ANSWERED_ELSEWISE).answerable
    assert any(ANSWER_SENTENCE in chunk.text for chunk in chunks)


def test_a_check_that_says_answered_drops_the_candidate_and_saw_the_answer(tmp_path: Path, fake_openai) -> None:
    idk, dropped, checks = _run(tmp_path, fake_openai, {
        ANSWERED_ELSEWISE: json.dumps({"quote": ANSWER_SENTENCE, "answered": True}),
        UNANSWERED: json.dumps({"quote": "", "answered": False}),
    })
    assert dropped[ANSWERED_ELSEWISE] == "model_says_answered"
    assert idk == [UNANSWERED]  # the check says no too: it is a check
    # What the model was shown: the passage that answers, and the question after it.
    asked = next(text for text in checks if ANSWERED_ELSEWISE in text)
    assert ANSWER_SENTENCE in _passages_of(asked)
    assert asked.rstrip().endswith("say whether the passages answer it.")


def test_a_quote_of_the_answer_counts_as_answered_whatever_the_verdict(tmp_path: Path, fake_openai) -> None:
    # The small model's way: it finds the sentence, then says false anyway.
    idk, dropped, _ = _run(tmp_path, fake_openai, {
        ANSWERED_ELSEWISE: json.dumps({"quote": ANSWER_SENTENCE.replace("£6,800", "£6,800").upper(), "answered": False}),
        UNANSWERED: json.dumps({"quote": "", "answered": False}),
    })
    assert dropped[ANSWERED_ELSEWISE] == "model_quotes_answer"
    assert idk == [UNANSWERED]


def test_a_quote_that_is_not_in_the_passages_shown_is_no_evidence(tmp_path: Path, fake_openai) -> None:
    # Reply 25 of the real small model quoted the template's own worked example.
    idk, dropped, _ = _run(tmp_path, fake_openai, {
        ANSWERED_ELSEWISE: json.dumps({"quote": "", "answered": False}),
        UNANSWERED: json.dumps({"quote": "Deckhands report to the duty skipper, Ines Calloway, thirty minutes before each crossing.", "answered": False}),
    })
    assert sorted(idk) == sorted([ANSWERED_ELSEWISE, UNANSWERED])
    assert not dropped


def test_quoted_answer_rules() -> None:
    passages = "Tickets are sold at the Ardmoor quay office and on board.\n\n---\n\nThe company was set up in 1972."
    question = "Where are tickets sold?"
    assert quoted_answer('{"quote": "Tickets are sold at the Ardmoor quay office", "answered": false}', passages, question)
    assert quoted_answer('```json\n{"Quote": "tickets are  SOLD at the ardmoor quay office and on board."}\n```', passages, question)
    assert not quoted_answer('{"quote": "", "answered": false}', passages, question)
    assert not quoted_answer('{"quote": "on board", "answered": false}', passages, question)  # too short to be a finding
    assert not quoted_answer('{"quote": "The company was set up in 1972."}', passages, question)  # says nothing asked
    assert not quoted_answer('{"answered": false, "reason": "Tickets are sold at the Ardmoor quay office"}', passages, question)
    assert not quoted_answer("not json at all", passages, question)


def test_the_check_prompt_asks_for_the_quote_first_and_its_examples_read_both_ways() -> None:
    template = load_template(CHECK_TEMPLATE, required=frozenset({"question", "passages"}))
    system = template.messages[0].content
    assert system.index('"quote"') < system.index('"answered"')
    users = [m.content for m in template.messages if m.role == "user"]
    replies = [m.content for m in template.messages if m.role == "assistant"]
    assert [parse_check(reply) for reply in replies] == [True, False]
    # The worked "answered" reply quotes its passages; the worked "not answered" reply quotes nothing.
    assert quoted_answer(replies[0], _passages_of(users[0]), users[0].split("\n")[0])
    assert json.loads(replies[1])["quote"] == ""
    last = template.render(question="Q?", passages="P.")[-1].content
    assert last.index("P.") < last.rindex("Q?")  # the question comes again after the passages
