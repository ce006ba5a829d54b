"""The stages of a generation run, in data-flow order, and the one record of what each kept and dropped.

Each stage takes the ``Run`` (settings, reporter, token counter, templates, the chunks and the
asker), does one step and records its counts in ``Run.counts``: in, out, and dropped by
reason. Every dropped item lands in ``Run.rejections``, so nothing is dropped silently.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from qagen.dataset.formats import ExampleFormat
from qagen.documents.chunking import page_of, split_documents
from qagen.documents.loading import MEGABYTE, LoadResult, load_corpus
from qagen.documents.tokens import TokenCounter
from qagen.errors import ModelError
from qagen.llm.asker import Asker, Failure
from qagen.llm.budget import NOT_SENT
from qagen.llm.failures import CONTEXT_TOO_LONG
from qagen.llm.templates import ChatTemplate, builtin_template_path, load_template
from qagen.outfolder.journal import JournalEntry
from qagen.pipeline import overflow
from qagen.pipeline.decisions import Review, judged_as_before, protect_from_dedupe
from qagen.progress import Reporter
from qagen.dataset.examples import CheckedExamples, check_examples, check_pairs
from qagen.quality.dedupe import dedupe
from qagen.quality.grounding import example_text
from qagen.quality.idk.pairs import IdkOutcome, model_idk, offline_idk
from qagen.quality.judge import judge_pairs, render_pairs_for_judge
from qagen.quality.retrieval import BM25Index
from qagen.records import Chunk, Completion, Pair, Rejection, Request
from qagen.replies.pairs import ParseResult, parse_reply
from qagen.replies.ratings import Rating
from qagen.settings import Settings
from qagen.dataset.split import Split, split_pairs

OFFLINE_NOTICE = (
    "qagen: no model configured, so the built-in offline generator is writing pairs "
    "(extractive: each question asks what a sentence states, answered with that sentence or its heading and line). "
    "For a real model set OPENAI_API_KEY, or pass --base-url URL --model NAME."
)


class StageCounts:
    """Counts in and out of every stage, with the reasons for what was dropped."""

    def __init__(self) -> None:
        self.counts: dict[str, dict[str, Any]] = {}

    def record(self, name: str, taken: int, kept: int, dropped: Sequence[Rejection] = (), **extra: Any) -> None:
        self.counts[name] = {"in": taken, "out": kept, **extra, "dropped": dict(Counter(r.reason for r in dropped))}


class ChunkTexts(Mapping[str, str]):
    """Chunk id -> its text under its heading path, made when looked up.

    Made on each look-up rather than stored: stored, the texts under a heading would be a
    second copy of the corpus held for the whole run. Where ids repeat, the last chunk's text
    is the one given.
    """

    def __init__(self, chunks: Sequence[Chunk]) -> None:
        self._chunks = {c.id: c for c in chunks}

    def __getitem__(self, chunk_id: str) -> str:
        c = self._chunks[chunk_id]
        return f"{c.section}\n\n{c.text}" if c.section else c.text

    def __iter__(self) -> Iterator[str]:
        return iter(self._chunks)

    def __len__(self) -> int:
        return len(self._chunks)


@dataclass
class Run:
    """What the stages of one run share."""

    settings: Settings
    reporter: Reporter
    counter: TokenCounter
    templates: dict[str, ChatTemplate]
    loaded: LoadResult  # the files read and skipped; their text lives on in the chunks only (see read_documents)
    chunks: list[Chunk]
    warnings: list[str]
    counts: StageCounts = field(default_factory=StageCounts)
    rejections: list[Rejection] = field(default_factory=list)
    review: Review = field(default_factory=Review)  # the reviewer's decisions, and what they did
    ratings: dict[str, Rating] = field(default_factory=dict)  # the judge's, by pair id (with --judge)
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # stage -> CPU time this process spent in it
    settle: Callable[[], None] = field(default=lambda: None, repr=False)  # called as each stage ends (collector.kept_objects_frozen)

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """Add the CPU time of the block to ``stage`` (CPU, not wall: waiting on a model costs none)."""
        started = time.process_time()
        try:
            yield
        finally:
            self.cpu_seconds[stage] = round(self.cpu_seconds.get(stage, 0.0) + time.process_time() - started, 3)
            self.settle()

    @property
    def chunk_texts(self) -> Mapping[str, str]:
        """What a pair's answer is checked against: its chunk, under its heading path.

        A chunk that starts mid-section does not hold its heading, yet the heading is the
        document's own words about that text ("Route 2"), and the template gave it to the model.
        """
        return ChunkTexts(self.chunks)

    def placed(self, rejections: Sequence[Rejection]) -> list[Rejection]:
        """The rejections, each with the page and section of its chunk (stages below the pipeline know only the id)."""
        chunks = {c.id: c for c in self.chunks}
        return [
            replace(r, page=chunks[r.chunk_id].page, section=chunks[r.chunk_id].section) if r.chunk_id in chunks else r
            for r in rejections
        ]

    def drop(self, stage: str, taken: int, kept: Sequence[Pair], dropped: Sequence[Rejection]) -> None:
        self.rejections += dropped
        self.counts.record(stage, taken, len(kept), dropped)


# --------------------------------------------------------------------------- documents


def load_templates(settings: Settings) -> dict[str, ChatTemplate]:
    """Every template the run needs, loaded up front so a broken one fails before any request."""

    def load(path: Path | None, builtin: str, *variables: str) -> ChatTemplate:
        return load_template(path or builtin_template_path(builtin), required=frozenset(variables))

    templates = {"qa": load(settings.template, "qa", "info", "n")}
    if not settings.offline and settings.idk_ratio > 0:
        templates["idk"] = load(settings.idk_template, "idk", "excerpts", "n")
        templates["idk_check"] = load(settings.idk_check_template, "idk_check", "question", "passages")
    if settings.judge:
        templates["judge"] = load(settings.judge_template, "judge", "passage", "pairs")
    return templates


def read_documents(settings: Settings, reporter: Reporter, counter: TokenCounter) -> Run:
    """Load and chunk the corpus; the Run that the later stages share."""
    templates = load_templates(settings)
    loaded = load_corpus(
        settings.corpus, exclude=[settings.out], max_file_bytes=round(settings.max_file_size * MEGABYTE),
        convert_timeout=settings.convert_timeout, convert_cache=settings.convert_cache, reporter=reporter,
    )
    if settings.model_was_defaulted:
        reporter.note(OFFLINE_NOTICE)
    warnings = [f"{d.source}: {d.warning}" for d in loaded.documents if d.warning]
    for warning in warnings:
        reporter.note(f"warning: {warning}")
    if not counter.exact:
        warnings.append(f"token counts use {counter.encoding_name}, an estimate for {settings.model}")
    chunks = split_documents(loaded.documents, counter, chunk_tokens=settings.chunk_size, overlap_tokens=settings.chunk_overlap)
    if chunks:
        try_templates(templates, chunks[0], settings.pairs_per_chunk)
    # From here on the chunks hold the text: the run keeps which files were read, not a second copy of the corpus.
    read = replace(loaded, documents=tuple(replace(d, text="", sections=()) for d in loaded.documents))
    return Run(settings, reporter, counter, templates, read, chunks, warnings)


def try_templates(templates: dict[str, ChatTemplate], chunk: Chunk, n: int) -> None:
    """Render every template once with the first chunk, as its stage will, before any request is paid for.

    The I-don't-know and judge templates render only after generation; a template that
    fails there would otherwise fail after every chunk had been asked.
    """
    sample = Pair(id="sample", question="What does this passage say?", answer=chunk.text[:200], source=chunk.source, chunk_id=chunk.id)
    variables: dict[str, list[dict[str, object]]] = {
        # With and without a section and page, as chunks of other files will render it.
        "qa": [qa_variables(chunk, n), qa_variables(replace(chunk, page=None, section=None), n),
               qa_variables(replace(chunk, page=1, section="Section > Subsection"), n)],
        # The first round asks with nothing to avoid, later rounds with the questions seen so far.
        "idk": [{"excerpts": chunk.text, "n": 5, "avoid": ""}, {"excerpts": chunk.text, "n": 5, "avoid": sample.question}],
        "idk_check": [{"question": sample.question, "passages": chunk.text}],
        "judge": [{"passage": chunk.text, "pairs": render_pairs_for_judge([sample])}],
    }
    for name, template in templates.items():
        for values in variables[name]:
            template.render(**values)


# --------------------------------------------------------------------------- generation


def qa_variables(chunk: Chunk, n: int) -> dict[str, object]:
    """What the generation template is given; section and page are "" when unknown, so they print as nothing."""
    return {"info": chunk.text, "n": n, "source": chunk.source, "section": chunk.section or "", "page": chunk.page or ""}


def chunk_by_id(run: Run, chunk_id: str) -> Chunk:
    return next(c for c in run.chunks if c.id == chunk_id)


def build_request(template: ChatTemplate, chunk: Chunk, n: int) -> Request:
    messages = template.render(**qa_variables(chunk, n))
    return Request(key=chunk.id, messages=messages, params=template.request_params(n), n=n, passage=chunk.text, passage_tokens=chunk.tokens)


@dataclass(frozen=True)
class Generated:
    """What generation gave: the pairs, and what the coverage report needs to know."""

    pairs: list[Pair]
    answers: dict[str, Completion]
    failures: list[Failure]
    parsed_count: dict[str, int]  # chunk id -> pairs read from its reply


async def generate(run: Run, asker: Asker, answered_before: dict[str, JournalEntry]) -> Generated:
    """Ask for pairs about every chunk; each reply is parsed once, as it arrives or from the journal.

    A chunk over the model's context window is asked as smaller pieces instead (``overflow``):
    ``run.chunks`` then holds the pieces in its place, so every later stage sees what was asked.
    """
    settings, reporter = run.settings, run.reporter

    def build(chunk: Chunk) -> Request:
        return build_request(run.templates["qa"], chunk, settings.pairs_per_chunk)

    cuts = 0
    window = overflow.context_window(settings)
    if window is not None:
        run.chunks, cuts = overflow.fit_to_window(run.chunks, build, window, run.counter, settings.chunk_overlap)
        if warning := overflow.short_reply_warning([build(c) for c in run.chunks], window, run.counter, "generation"):
            run.warnings.append(warning)
            reporter.note(f"warning: {warning}")
    parsed: dict[str, ParseResult] = {}

    def parse(key: str, completion: Completion) -> ParseResult:
        if key not in parsed:
            parsed[key] = parse_reply(completion.text, truncated=completion.truncated, asked=settings.pairs_per_chunk)
        return parsed[key]

    def on_answer(request: Request, completion: Completion) -> None:
        reporter.chunk_done(len(parse(request.key, completion).items), completion.prompt_tokens, completion.completion_tokens)

    def on_failure(request: Request, reason: str) -> None:
        # Not failures: the chunk is asked again in pieces, or rejected; the cap's stop is said once, not per chunk.
        if reason not in (CONTEXT_TOO_LONG, NOT_SENT):
            reporter.chunk_failed(request.key, reason)

    async def ask(chunks: list[Chunk], *, first: bool = False) -> tuple[dict[str, Completion], list[Failure]]:
        reporter.start(len(run.chunks), sum(1 for c in run.chunks if c.id in asker.answered and c not in chunks))
        # Only the run's very first request tells that the endpoint is down; a piece's is one more chunk.
        return await asker.ask([build(c) for c in chunks], on_answer=on_answer, on_failure=on_failure, stop_if_first_fails=first)

    try:
        answers, failures = await ask(run.chunks, first=True)
        while refused := {f.key: pieces for f in failures if f.reason == CONTEXT_TOO_LONG
                          and (pieces := overflow.halves(chunk_by_id(run, f.key), run.counter, settings.chunk_overlap))}:
            cuts += len(refused)
            failures = [f for f in failures if f.key not in refused]
            run.chunks = [piece for c in run.chunks for piece in refused.get(c.id, [c])]
            more_answers, more_failures = await ask([piece for pieces in refused.values() for piece in pieces])
            answers, failures = answers | more_answers, failures + more_failures
    finally:
        reporter.finish()
    if cuts:
        run.warnings.append(f"{cuts} chunks were over the model's context window and were asked as smaller pieces")

    too_large = [f for f in failures if f.reason != CONTEXT_TOO_LONG and not f.rerun_helps]
    if too_large and len(too_large) == len(run.chunks):  # not one chunk small enough: the run would make nothing
        raise ModelError(
            f"the endpoint refused every request as too large (413: {too_large[0].detail}); "
            f"run again with a smaller --chunk-size than {settings.chunk_size}."
        )
    if too_large:
        run.warnings.append(
            f"{len(too_large)} of {len(run.chunks)} chunks were refused as too large by the endpoint (413) and left out; "
            f"a smaller --chunk-size than {settings.chunk_size} covers them"
        )

    pairs: list[Pair] = []
    rejections: list[Rejection] = []
    parsed_count: dict[str, int] = {}
    failed = {f.key: f for f in failures}
    for chunk in run.chunks:  # chunk order, whatever order the replies came in
        if chunk.id in failed:
            f = failed[chunk.id]
            if f.reason == NOT_SENT:
                reason, detail = NOT_SENT, f"{f.detail} (it is asked when the cap leaves room)"
            elif f.rerun_helps:
                reason, detail = "request_failed", f"the request failed after every retry ({f.reason}): {f.detail}; rerun to ask it again"
            elif f.reason == CONTEXT_TOO_LONG:
                reason = f.reason
                detail = (f"the prompt is over the model's context window even for a piece of {chunk.tokens} tokens "
                          f"({f.detail}); a model with a larger window, or a template asking for a shorter reply, covers it")
            else:
                reason = f.reason
                detail = f"the endpoint refused the request as too large (413: {f.detail}); use a smaller --chunk-size than {settings.chunk_size}"
            rejections.append(Rejection(stage="generate", reason=reason, detail=detail, source=chunk.source, chunk_id=chunk.id))
            continue
        result = parse(chunk.id, answers[chunk.id])
        parsed_count[chunk.id] = len(result.items)
        for index, item in enumerate(result.items):
            pairs.append(Pair(id=f"{chunk.id}-{index}", question=item.question, answer=item.answer,
                              source=chunk.source, chunk_id=chunk.id, kind="grounded", page=page_of(chunk, item.answer),
                              section=chunk.section))
        for failure in result.failures:
            rejections.append(Rejection(stage="parse", reason=failure.reason, detail=failure.detail, raw=failure.raw,
                                        source=chunk.source, chunk_id=chunk.id))
    run.rejections += rejections
    run.counts.record("generate", len(run.chunks), len(pairs), rejections, split=cuts)
    return Generated(pairs, answers, failures, parsed_count)


# --------------------------------------------------------------------------- quality


def drop_duplicates(pairs: Sequence[Pair], threshold: float, protected: set[str] | None = None) -> tuple[list[Pair], list[Rejection]]:
    """Dedupe; a pair the reviewer kept or edited (``protected``) is never the one dropped."""
    kept, duplicates = protect_from_dedupe(pairs, protected or set(), lambda ps: dedupe(ps, threshold=threshold))
    by_id = {p.id: p for p in pairs}
    return kept, [d.rejection(by_id[d.pair_id]) for d in duplicates]


@dataclass(frozen=True)
class Kept:
    pairs: list[Pair]
    failed_requests: int  # idk and judge requests that failed after every retry


async def keep_good_pairs(run: Run, asker: Asker, pairs: list[Pair]) -> Kept:
    """The reviewer's decisions, text and grounding checks, the judge, dedupe, then the "I don't know" pairs and dedupe again.

    Decisions come first: a dropped pair is checked no further, an edited one is checked as any
    pair (``qagen.pipeline.decisions`` says what each action protects a pair from).
    """
    settings, chunk_texts, review = run.settings, run.chunk_texts, run.review
    generated = pairs
    chunks = {c.id: c for c in run.chunks}
    pairs, changed = review.apply(generated, chunks)
    run.rejections += review.rejections
    if review.decisions:
        run.counts.counts["review"] = review.counts()  # its place in the report, after generate; the I-don't-know pairs add to it
    checked_rejections: list[Rejection] = []
    example = example_text(run.templates["qa"].messages)
    with run.timed("check"):
        kept, dropped = check_pairs(pairs, chunk_texts, grounding_threshold=settings.grounding_threshold, example=example)
    run.drop("check", len(pairs), kept, dropped)
    checked_rejections += dropped

    judge_failures: list[Failure] = []
    if settings.judge:
        run.reporter.note(f"qagen: judging {len(kept)} pairs with {settings.model}")
        before = len(kept)
        shown = kept
        if changed:  # the judge sees the chunk's pairs as before the decisions, so its request is the one answered before
            fine, _ = check_pairs(changed, chunk_texts, grounding_threshold=settings.grounding_threshold, example=example)
            shown = judged_as_before(generated, kept, {p.id for p in fine}, {p.id for p in changed})
        judged, dropped, judge_failures, ratings = await judge_pairs(
            asker, shown, chunk_texts, template=run.templates["judge"], threshold=settings.judge_threshold
        )
        # An edited pair's rating is of its text before the edit: shown beside the new text it would mislead.
        run.ratings = {pair_id: rating for pair_id, rating in ratings.items()
                       if (decision := review.decisions.get(pair_id)) is None or decision.action != "edit"}
        passed = {p.id for p in judged}
        dropped = [r for r in dropped if r.pair_id not in review.protected and r.pair_id not in review.decisions]
        kept = [p for p in kept if p.id in passed or p.id in review.protected]
        run.drop("judge", before, kept, dropped)

    before = len(kept)
    with run.timed("dedupe"):
        kept, dropped = drop_duplicates(kept, settings.dedupe_threshold, review.protected)
    run.drop("dedupe", before, kept, dropped)

    # Counted as if the reviewer had dropped nothing (and no edit had failed a check): the I-don't-know requests
    # are then the ones asked before (their count is in the prompt), and applying a review asks the model nothing new.
    unreviewed_count = len(kept) + review.applied["drop"] + sum(1 for r in checked_rejections if r.pair_id in review.protected)
    with run.timed("idk"):
        idk = await make_idk(run, asker, target=round(unreviewed_count * settings.idk_ratio))
    reviewed_before = len(review.rejections)
    idk_reviewed, _ = review.apply(idk.pairs, chunks)
    run.rejections += review.rejections[reviewed_before:]
    with run.timed("check"):
        idk_checked, dropped = check_pairs(idk_reviewed, chunk_texts, grounding_threshold=settings.grounding_threshold)
    checked_rejections += dropped
    run.rejections += idk.rejections + dropped
    if review.decisions:
        run.counts.counts["review"] = review.counts()
    for warning in review.warnings(checked_rejections, settings.out):
        run.warnings.append(warning)
        run.reporter.note(f"warning: {warning}")
    run.counts.counts["idk"] = {
        "target": idk.target,
        "candidates": idk.candidates,
        "out": len(idk_checked),
        "dropped": dict(Counter(r.reason for r in idk.rejections + dropped)),
    }
    with run.timed("dedupe"):
        combined, dropped = drop_duplicates(kept + idk_checked, settings.dedupe_threshold, review.protected)
    run.drop("dedupe_idk", len(kept) + len(idk_checked), combined, dropped)
    # A request too large for the endpoint is no failure a rerun can mend: its pairs are rejected, not retried.
    return Kept(combined, sum(1 for f in idk.failures + judge_failures if f.rerun_helps))


async def make_idk(run: Run, asker: Asker, *, target: int) -> IdkOutcome:
    settings, chunks = run.settings, run.chunks
    if target <= 0 or not chunks:
        return IdkOutcome(target=max(0, target))
    if settings.offline:
        return offline_idk(chunks, None, target, settings.refusals, settings.seed)  # it indexes what its questions need
    index = BM25Index(chunks)
    run.reporter.note(f"qagen: writing and checking {target} I-don't-know examples with {settings.model}")
    return await model_idk(
        asker, chunks, index, target,
        generate_template=run.templates["idk"], check_template=run.templates["idk_check"],
        refusals=settings.refusals, seed=settings.seed, count_tokens=run.counter,
    )


# --------------------------------------------------------------------------- dataset


@dataclass(frozen=True)
class Dataset:
    checked: CheckedExamples
    split: Split


def make_dataset(run: Run, pairs: list[Pair]) -> Dataset:
    """Format and check every example, then split train/validation."""
    settings = run.settings
    example_format = ExampleFormat(
        kind=settings.format,
        system_message=settings.example_system_message,
        separator=settings.separator,
        stop=settings.stop,
        leading_space=settings.leading_space,
    )
    checked = check_examples(pairs, example_format, run.counter, max_tokens=settings.max_example_tokens, chunk_texts=run.chunk_texts)
    run.drop("validate", len(pairs), checked.kept, checked.rejected)
    split = split_pairs(checked.kept, settings.valid_fraction, settings.seed)
    run.counts.counts["split"] = {"in": len(checked.kept), "train": len(split.train), "valid": len(split.valid)}
    run.warnings += checked.warnings + split.warnings
    return Dataset(checked, split)
