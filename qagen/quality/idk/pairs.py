"""Building a run's "I don't know" pairs: candidates, verification, refusal answers.

Candidates come from the model (``templates/idk.json``, shown a few excerpts of the
corpus, its reply read by ``qagen.replies.questions``) or, offline, from
``qagen.quality.idk.offline.offline_idk_questions``. Every candidate is verified
against the whole corpus before it is kept: first lexically (BM25 over all chunks, see
``candidates.likely_answered``), then, with a model, by asking it whether the best-matching
passages answer the question (``templates/idk_check.json``): the sentence that answers it first,
then a verdict; a quote found in the passages counts as "answered" (``evidence.quoted_answer``). A candidate the corpus
likely answers is dropped, because a wrong "I don't know" example teaches the model to
refuse real questions. Model requests go through the journal like every other request,
keyed by a hash of their content (``qagen.llm.keys``), so a rerun replays them instead of paying again.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from dataclasses import dataclass, field

from qagen.llm.asker import Asker, Failure
from qagen.llm.budget import NOT_SENT
from qagen.llm.keys import message_parts, request_key
from qagen.llm.templates import ChatTemplate
from qagen.quality.idk.candidates import choose_excerpt_chunks, likely_answered, pick_refusal, render_excerpts
from qagen.quality.idk.evidence import quoted_answer
from qagen.quality.idk.names import find_entities
from qagen.quality.idk.offline import offline_idk_questions, question_terms
from qagen.quality.retrieval import BM25Index
from qagen.records import Chunk, Pair, Rejection, Request
from qagen.replies.questions import parse_check, parse_questions

MAX_ROUNDS = 4  # model rounds before settling for fewer examples than asked
EXCERPT_CHUNKS = 3
EXCERPT_TOKENS = 1500
CHECK_PASSAGES = 3


@dataclass
class IdkOutcome:
    pairs: list[Pair] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    candidates: int = 0
    target: int = 0


def idk_pair(question: str, refusals: Sequence[str], seed: int) -> Pair:
    return Pair(
        # Keyed by the question alone, so a rerun names the same pair the same way.
        id=request_key("idk", question),
        question=question,
        answer=pick_refusal(question, refusals, seed=seed),
        source="",
        chunk_id="",
        kind="idk",
    )


def _drop(question: str, reason: str, detail: str) -> Rejection:
    return Rejection(stage="idk", reason=reason, detail=detail, raw=question)


def offline_idk(chunks: Sequence[Chunk], index: BM25Index | None, target: int, refusals: Sequence[str], seed: int) -> IdkOutcome:
    """The offline "I don't know" pairs; ``index`` None: a ``BM25Index`` of only the terms the questions can hold is built here."""
    if target <= 0:
        return IdkOutcome(target=target)
    # Finding names makes some 25,000 small tuples per MB, none of them in a reference cycle: the
    # cycle collector, run every 700 of them over the whole run's objects, found nothing to free and
    # took 0.46 s of the 3.4 s of this stage at 10 MB. Reference counting still frees everything.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _offline_idk(chunks, index, target, refusals, seed)
    finally:
        if collecting:
            gc.enable()


def _offline_idk(chunks: Sequence[Chunk], index: BM25Index | None, target: int, refusals: Sequence[str], seed: int) -> IdkOutcome:
    outcome = IdkOutcome(target=target)
    entities = find_entities(chunks)
    if index is None:
        # Postings of every term of the corpus would be three times as many (profiled at 10 MB).
        index = BM25Index(chunks, terms=question_terms(entities))
    # Three candidates per example asked leaves room for those the corpus answers; the
    # ones left over once enough are kept are never looked at, so they are not rejects.
    for question in offline_idk_questions(chunks, target * 3, seed=seed, index=index, entities=entities):
        if len(outcome.pairs) >= target:
            break
        outcome.candidates += 1
        verdict = likely_answered(index, question, explain=False)
        if verdict.answerable:
            outcome.rejections.append(_drop(question, "answered_by_corpus", verdict.reason))
        else:
            outcome.pairs.append(idk_pair(question, refusals, seed))
    return outcome


async def model_idk(
    asker: Asker,
    chunks: Sequence[Chunk],
    index: BM25Index,
    target: int,
    *,
    generate_template: ChatTemplate,
    check_template: ChatTemplate,
    refusals: Sequence[str],
    seed: int,
    count_tokens,
) -> IdkOutcome:
    outcome = IdkOutcome(target=target)
    seen: set[str] = set()
    for round_number in range(MAX_ROUNDS):
        missing = target - len(outcome.pairs)
        if missing <= 0:
            break
        excerpts = render_excerpts(
            choose_excerpt_chunks(chunks, EXCERPT_CHUNKS, seed=seed, round=round_number),
            max_tokens=EXCERPT_TOKENS,
            count_tokens=count_tokens,
        )
        ask_for = min(30, max(5, 2 * missing))
        avoid = "\n".join(sorted(seen))
        messages = generate_template.render(excerpts=excerpts, n=ask_for, avoid=avoid)
        request = Request(key=request_key("idk", *message_parts(messages)), messages=messages, params=generate_template.request_params(ask_for), n=ask_for)
        answers, failures = await asker.ask([request])
        outcome.failures += failures
        if over_window := [f for f in failures if f.reason == "context_too_long"]:
            # The excerpts of every round are as long: a later round would be refused the same way.
            outcome.rejections.append(Rejection(stage="idk", reason="context_too_long", detail=(
                f"the request for I-don't-know candidates is over the model's context window ({over_window[0].detail}); "
                "no I-don't-know examples were written")))
            break
        if kept_back := [f for f in failures if f.reason == NOT_SENT]:
            # Once the cap keeps a request back, none is sent: a later round would be kept back too.
            outcome.rejections.append(Rejection(stage="idk", reason=NOT_SENT, detail=(
                f"the request for I-don't-know candidates was {kept_back[0].detail}")))
            break
        if request.key not in answers:
            continue
        questions, problems = parse_questions(answers[request.key].text)
        for problem in problems:
            outcome.rejections.append(Rejection(stage="idk", reason="unreadable_candidate", detail=problem, raw=answers[request.key].text[:2000]))
        fresh = [q for q in questions if q not in seen]
        seen.update(fresh)
        outcome.candidates += len(fresh)

        survivors = []
        for question in fresh:
            verdict = likely_answered(index, question, explain=False)
            if verdict.answerable:
                outcome.rejections.append(_drop(question, "answered_by_corpus", verdict.reason))
            else:
                survivors.append(question)
        checks = {}
        shown: dict[str, str] = {}
        for question in survivors:
            passages = "\n\n---\n\n".join(index.chunk(hit.chunk_id).text for hit in index.search(question, CHECK_PASSAGES))
            shown[question] = passages
            check_messages = check_template.render(question=question, passages=passages)
            checks[question] = Request(
                key=request_key("idk-check", *message_parts(check_messages)), messages=check_messages, params=check_template.request_params()
            )
        answers, failures = await asker.ask(list(checks.values()))
        outcome.failures += failures
        over_window_checks = {f.key: f.detail for f in failures if f.reason == "context_too_long"}
        not_sent = {f.key: f.detail for f in failures if f.reason == NOT_SENT}
        for question, check in checks.items():
            if check.key not in answers:
                if check.key in not_sent:
                    outcome.rejections.append(_drop(question, NOT_SENT, f"its check against the corpus was {not_sent[check.key]}"))
                elif check.key in over_window_checks:
                    outcome.rejections.append(_drop(question, "context_too_long", (
                        f"the check against the corpus is over the model's context window ({over_window_checks[check.key]})")))
                else:
                    outcome.rejections.append(_drop(question, "check_failed", "the model could not be asked to check it"))
                continue
            reply = answers[check.key].text
            answered = parse_check(reply)
            quote = quoted_answer(reply, shown[question], question) if answered is False else None
            if quote is not None:
                # A model that copied the answer out of the passages has found it, whatever it concluded.
                outcome.rejections.append(_drop(question, "model_quotes_answer", f"the model quoted the passage that answers it: {quote[:200]}"))
            elif answered is None:
                # Unreadable is treated as "answered": a wrong refusal example does more harm than a missing one.
                outcome.rejections.append(_drop(question, "check_unreadable", f"unreadable check reply: {reply[:200]}"))
            elif answered:
                outcome.rejections.append(_drop(question, "model_says_answered", "the model found the answer in the corpus"))
            elif len(outcome.pairs) < target:
                outcome.pairs.append(idk_pair(question, refusals, seed))
            else:
                outcome.rejections.append(_drop(question, "surplus", "enough I-don't-know examples were already kept"))
    return outcome
