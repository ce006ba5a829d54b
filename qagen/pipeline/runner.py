"""``run(settings) -> Report``: the whole pipeline, called by the CLI and by library users.

folder -> documents -> chunks -> requests -> (model, journaled) -> pairs -> text and
grounding checks -> (judge) -> dedupe -> "I don't know" pairs -> dedupe -> example
checks -> train/valid split -> files in the out folder.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

from qagen.llm.offline.model import OfflineModel
from qagen.documents.chunking import split_documents
from qagen.settings import DEFAULT_OPENAI_MODEL, Settings, public_view
from qagen.documents.loading import load_corpus
from qagen.dataset.formats import ExampleFormat, jsonl
from qagen.quality.dedupe import dedupe
from qagen.finetune.state import saved_job_id
from qagen.llm.asker import Asker, Failure
from qagen.quality.idk.pairs import IdkOutcome, model_idk, offline_idk
from qagen.outfolder import OutFolder, write_all_atomic
from qagen.quality.judge import judge_pairs
from qagen.llm.client import ChatModel, OpenAIChatModel
from qagen.replies.pairs import parse_reply
from qagen.progress import Reporter
from qagen.llm.templates import ChatTemplate, builtin_template_path, load_template
from qagen.quality.checks import check_examples, check_pairs
from qagen.records import Chunk, Completion, Pair, Rejection, Request
from qagen.pipeline.report import ChunkCoverage, Report
from qagen.quality.retrieval import BM25Index
from qagen.dataset.split import split_pairs
from qagen.documents.tokens import TokenCounter, counter_for
from qagen.dataset.validate import TokenStats, estimate_finetune

OFFLINE_NOTICE = (
    "qagen: no model configured, so the built-in offline generator is writing pairs "
    "(extractive: questions about sentences, answered with the sentence itself). "
    "For a real model set OPENAI_API_KEY, or pass --base-url URL --model NAME."
)


def run(settings: Settings, reporter: Reporter | None = None) -> Report:
    """Run the pipeline to the end and return its report. See ``run_async`` inside an event loop."""
    return asyncio.run(run_async(settings, reporter))


class Stages:
    """Counts in and out of every stage, with the reasons for what was dropped."""

    def __init__(self) -> None:
        self.counts: dict[str, dict] = {}

    def record(self, name: str, taken: int, kept: int, dropped: Sequence[Rejection] = ()) -> None:
        self.counts[name] = {"in": taken, "out": kept, "dropped": dict(Counter(r.reason for r in dropped))}


async def run_async(settings: Settings, reporter: Reporter | None = None) -> Report:
    reporter = reporter or Reporter()
    started = time.monotonic()

    # Counting tokens for the offline generator as for the default OpenAI model keeps
    # the report's figures comparable with a real run.
    counter = counter_for(DEFAULT_OPENAI_MODEL if settings.offline else settings.model)
    templates = load_templates(settings)
    loaded = load_corpus(settings.corpus, exclude=[settings.out])
    if settings.model_was_defaulted:
        reporter.note(OFFLINE_NOTICE)
    warnings = [f"{d.source}: {d.warning}" for d in loaded.documents if d.warning]
    for warning in warnings:
        reporter.note(f"warning: {warning}")
    if not counter.exact:
        warnings.append(f"token counts use {counter.encoding_name}, an estimate for {settings.model}")
    chunks = split_documents(
        loaded.documents, counter, chunk_tokens=settings.chunk_tokens, overlap_tokens=settings.overlap_tokens
    )
    chunk_texts = {c.id: c.text for c in chunks}
    requests = [build_request(templates["qa"], chunk, settings.pairs_per_chunk) for chunk in chunks]

    out = OutFolder(settings.out)
    if settings.restart and (job_id := saved_job_id(settings.out)):
        reporter.note(
            f"qagen: starting over forgets fine-tuning job {job_id} (it keeps running on the service; "
            f"follow it with: qagen follow {job_id})"
        )
    out.prepare(settings.fingerprint_fields(templates["qa"].digest), restart=settings.restart)
    answered_before = out.read_journal()

    retries = Counter()

    def on_retry(reason: str, wait: float) -> None:
        retries[reason] += 1
        reporter.retry(reason, wait)

    stages = Stages()
    model = make_model(settings, counter, on_retry)
    try:
        with out.open_journal() as journal:
            asker = Asker(model, journal, dict(answered_before), concurrency=settings.concurrency, reporter=reporter)
            reporter.start(len(requests), sum(1 for r in requests if r.key in answered_before))
            try:
                answers, chunk_failures = await asker.ask(requests, show_progress=True, stop_if_first_fails=True)
            finally:
                reporter.finish()

            pairs, rejections, generated = collect_pairs(chunks, answers, chunk_failures)
            stages.record("generate", len(chunks), len(pairs), rejections)

            kept, dropped = check_pairs(pairs, chunk_texts, grounding_threshold=settings.grounding_threshold)
            rejections += dropped
            stages.record("check", len(pairs), len(kept), dropped)

            judge_failures: list[Failure] = []
            if settings.judge:
                reporter.note(f"qagen: judging {len(kept)} pairs with {settings.model}")
                before = len(kept)
                kept, dropped, judge_failures, _scores = await judge_pairs(
                    asker, kept, chunk_texts, template=templates["judge"], threshold=settings.judge_threshold
                )
                rejections += dropped
                stages.record("judge", before, len(kept), dropped)

            before = len(kept)
            kept, dropped = drop_duplicates(kept, settings.dedupe_threshold)
            rejections += dropped
            stages.record("dedupe", before, len(kept), dropped)

            idk = await make_idk(settings, asker, chunks, templates, counter, target=round(len(kept) * settings.idk_ratio), reporter=reporter)
            idk_checked, dropped = check_pairs(idk.pairs, chunk_texts, grounding_threshold=settings.grounding_threshold)
            rejections += idk.rejections + dropped
            stages.counts["idk"] = {
                "target": idk.target,
                "candidates": idk.candidates,
                "out": len(idk_checked),
                "dropped": dict(Counter(r.reason for r in idk.rejections + dropped)),
            }
            combined, dropped = drop_duplicates(kept + idk_checked, settings.dedupe_threshold)
            rejections += dropped
            stages.record("dedupe_idk", len(kept) + len(idk_checked), len(combined), dropped)
    finally:
        await model.aclose()

    example_format = ExampleFormat(
        kind=settings.format,
        system_message=settings.system_message,
        separator=settings.separator,
        stop=settings.stop,
        leading_space=settings.leading_space,
    )
    checked = check_examples(combined, example_format, counter, max_tokens=settings.max_example_tokens)
    final, example_tokens = checked.kept, checked.tokens
    rejections += checked.rejected
    stages.record("validate", len(combined), len(final), checked.rejected)
    split = split_pairs(final, settings.valid_fraction, settings.seed)
    stages.counts["split"] = {"in": len(final), "train": len(split.train), "valid": len(split.valid)}
    warnings += checked.warnings + split.warnings

    split_of = {p.id: "train" for p in split.train} | {p.id: "valid" for p in split.valid}
    outputs = {
        out.path / "pairs.jsonl": jsonl(asdict(p) | {"split": split_of[p.id]} for p in final),
        out.path / "rejects.jsonl": jsonl(asdict(r) for r in rejections),
        out.path / "train.jsonl": jsonl(checked.examples[p.id] for p in split.train),
        out.path / "valid.jsonl": jsonl(checked.examples[p.id] for p in split.valid),
    }

    coverage = chunk_coverage(chunks, settings.pairs_per_chunk, answers, answered_before, chunk_failures, generated, final)
    source_of = {c.id: c.source for c in chunks}
    train_tokens = [example_tokens[p.id] for p in split.train]
    tokens_in, tokens_out = asker.tokens()
    stats = {
        "train": _stats(train_tokens),
        "valid": _stats([example_tokens[p.id] for p in split.valid]),
    }
    report = Report(
        model=settings.model,
        endpoint="offline" if settings.offline else (settings.base_url or "https://api.openai.com/v1"),
        offline=settings.offline,
        token_encoding=counter.describe(),
        settings=public_view(settings),
        files_read=len(loaded.documents),
        files_skipped=[{"source": s.source, "reason": s.reason} for s in loaded.skipped],
        files=file_coverage(coverage),
        warnings=warnings,
        chunks=len(chunks),
        chunks_resumed=sum(1 for c in chunks if c.id in answered_before),
        chunks_failed=[
            {"chunk_id": f.key, "source": source_of[f.key], "reason": f.reason, "detail": f.detail} for f in chunk_failures
        ],
        requests_failed=len(idk.failures) + len(judge_failures),
        requests=asker.sent + sum(retries.values()),
        retries=sum(retries.values()),
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        stages=stages.counts,
        pairs_generated=len(pairs),
        pairs_kept=len(final),
        idk_kept=sum(1 for p in final if p.kind == "idk"),
        dropped=dict(Counter(r.reason for r in rejections)),
        train_examples=len(split.train),
        valid_examples=len(split.valid),
        format=settings.format,
        example_tokens=stats,
        finetune_estimate=asdict(estimate_finetune(train_tokens, limit=settings.max_example_tokens)),
        out=str(settings.out),
        seconds=round(time.monotonic() - started, 3),
        coverage=coverage,
    )
    outputs[out.path / "report.json"] = json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"
    write_all_atomic(outputs)
    return report


def _stats(counts: list[int]) -> dict | None:
    stats = TokenStats.of(counts)
    return asdict(stats) if stats else None


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


def build_request(template: ChatTemplate, chunk: Chunk, n: int) -> Request:
    messages = template.render(info=chunk.text, n=n, source=chunk.source)
    return Request(key=chunk.id, messages=messages, params=dict(template.params), n=n, passage=chunk.text)


def make_model(settings: Settings, counter: TokenCounter, on_retry: Callable[[str, float], None]) -> ChatModel:
    if settings.offline:
        return OfflineModel(counter)
    return OpenAIChatModel(
        settings.model,
        base_url=settings.base_url,
        api_key=settings.api_key,
        timeout=settings.timeout,
        max_attempts=settings.max_attempts,
        count_tokens=counter,
        on_retry=on_retry,
    )


async def make_idk(
    settings: Settings,
    asker: Asker,
    chunks: Sequence[Chunk],
    templates: dict[str, ChatTemplate],
    counter: TokenCounter,
    *,
    target: int,
    reporter: Reporter,
) -> IdkOutcome:
    if target <= 0 or not chunks:
        return IdkOutcome(target=max(0, target))
    index = BM25Index(chunks)
    if settings.offline:
        return offline_idk(chunks, index, target, settings.refusals, settings.seed)
    reporter.note(f"qagen: writing and checking {target} I-don't-know examples with {settings.model}")
    return await model_idk(
        asker,
        chunks,
        index,
        target,
        generate_template=templates["idk"],
        check_template=templates["idk_check"],
        refusals=settings.refusals,
        seed=settings.seed,
        count_tokens=counter,
    )


def collect_pairs(
    chunks: Sequence[Chunk], answers: dict[str, Completion], failures: Sequence[Failure]
) -> tuple[list[Pair], list[Rejection], dict[str, int]]:
    """Pairs and parse rejections, in chunk order, whatever order the replies came in."""
    pairs: list[Pair] = []
    rejections: list[Rejection] = []
    generated: dict[str, int] = {}
    failed = {f.key: f for f in failures}
    for chunk in chunks:
        if chunk.id in failed:
            f = failed[chunk.id]
            rejections.append(
                Rejection(
                    stage="generate",
                    reason="request_failed",
                    detail=f"the request failed after every retry ({f.reason}): {f.detail}; rerun to ask it again",
                    source=chunk.source,
                    chunk_id=chunk.id,
                )
            )
            continue
        completion = answers[chunk.id]
        parsed = parse_reply(completion.text, truncated=completion.truncated)
        generated[chunk.id] = len(parsed.items)
        for index, item in enumerate(parsed.items):
            pairs.append(
                Pair(
                    id=f"{chunk.id}-{index}",
                    question=item.question,
                    answer=item.answer,
                    source=chunk.source,
                    chunk_id=chunk.id,
                    kind="grounded",
                )
            )
        for failure in parsed.failures:
            rejections.append(
                Rejection(
                    stage="parse",
                    reason=failure.reason,
                    detail=failure.detail,
                    raw=failure.raw,
                    source=chunk.source,
                    chunk_id=chunk.id,
                )
            )
    return pairs, rejections, generated


def drop_duplicates(pairs: Sequence[Pair], threshold: float) -> tuple[list[Pair], list[Rejection]]:
    kept, duplicates = dedupe(pairs, threshold=threshold)
    by_id = {p.id: p for p in pairs}
    return kept, [d.rejection(by_id[d.pair_id]) for d in duplicates]


def chunk_coverage(
    chunks: Sequence[Chunk],
    asked: int,
    answers: dict[str, Completion],
    answered_before: dict,
    failures: Sequence[Failure],
    generated: dict[str, int],
    final: Sequence[Pair],
) -> list[ChunkCoverage]:
    kept = Counter(p.chunk_id for p in final if p.kind == "grounded")
    failed = {f.key for f in failures}
    return [
        ChunkCoverage(
            chunk_id=c.id,
            source=c.source,
            tokens=c.tokens,
            asked=asked,
            generated=generated.get(c.id, 0),
            kept=kept.get(c.id, 0),
            truncated=c.id in answers and answers[c.id].truncated,
            status="failed" if c.id in failed else ("resumed" if c.id in answered_before else "answered"),
        )
        for c in chunks
    ]


def file_coverage(coverage: Sequence[ChunkCoverage]) -> list[dict]:
    files: dict[str, dict] = {}
    for c in coverage:
        row = files.setdefault(c.source, {"source": c.source, "chunks": 0, "asked": 0, "generated": 0, "kept": 0})
        row["chunks"] += 1
        row["asked"] += c.asked
        row["generated"] += c.generated
        row["kept"] += c.kept
    return list(files.values())
