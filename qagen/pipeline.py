"""``run(settings) -> Report``: the whole pipeline, called by the CLI and by library users.

folder -> documents -> chunks -> requests -> (model) -> journal -> pairs -> checks
-> dedupe -> train/valid split -> files in the out folder.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict

from qagen import offline
from qagen.chunking import split_documents
from qagen.config import DEFAULT_OPENAI_MODEL, Settings
from qagen.corpus import load_corpus
from qagen.dataset import ExampleFormat, jsonl, split_pairs
from qagen.dedupe import dedupe
from qagen.generate import Failure, ask_all
from qagen.journal import JournalEntry, OutFolder, write_atomic
from qagen.llm import ChatModel, OpenAIChatModel
from qagen.parsing import parse_reply
from qagen.progress import Reporter
from qagen.prompts import ChatTemplate, builtin_template_path, load_template
from qagen.records import Chunk, Pair, Rejection, Request
from qagen.report import ChunkCoverage, Report
from qagen.tokens import TokenCounter, counter_for
from qagen.validate import check_pair_text

OFFLINE_NOTICE = (
    "qagen: no model configured, so the built-in offline generator is writing pairs "
    "(extractive: questions about sentences, answered with the sentence itself). "
    "For a real model set OPENAI_API_KEY, or pass --base-url URL --model NAME."
)


def run(settings: Settings, reporter: Reporter | None = None) -> Report:
    """Run the pipeline to the end and return its report. See ``run_async`` inside an event loop."""
    return asyncio.run(run_async(settings, reporter))


async def run_async(settings: Settings, reporter: Reporter | None = None) -> Report:
    reporter = reporter or Reporter()
    started = time.monotonic()
    # Counting tokens for the offline generator as for the default OpenAI model keeps
    # the report's figures comparable with a real run.
    counter = counter_for(DEFAULT_OPENAI_MODEL if settings.offline else settings.model)
    template = load_template(settings.template or builtin_template_path("qa"), required=frozenset({"info", "n"}))
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
    requests = [build_request(template, chunk, settings.pairs_per_chunk) for chunk in chunks]

    out = OutFolder(settings.out)
    out.prepare(settings.fingerprint_fields(template.digest), restart=settings.restart)
    answered_before = out.read_journal()
    pending = [r for r in requests if r.chunk_id not in answered_before]

    retries = Counter()

    def on_retry(reason: str, wait: float) -> None:
        retries[reason] += 1
        reporter.retry(reason, wait)

    model = make_model(settings, counter, on_retry)
    reporter.start(len(requests), len(requests) - len(pending))
    try:
        with out.open_journal() as journal:
            failures = await ask_all(pending, model, journal, concurrency=settings.concurrency, reporter=reporter)
    finally:
        await model.aclose()
        reporter.finish()

    entries = out.read_journal()
    pairs, rejections, generated = collect_pairs(chunks, entries, failures)
    kept, dropped = check_pairs(pairs)
    rejections += dropped
    kept, duplicates = drop_duplicates(kept)
    rejections += duplicates

    train, valid = split_pairs(kept, settings.valid_fraction, settings.seed)
    example_format = ExampleFormat(
        kind=settings.format,
        system_message=settings.system_message,
        separator=settings.separator,
        stop=settings.stop,
        leading_space=settings.leading_space,
    )
    split_of = {p.id: "train" for p in train} | {p.id: "valid" for p in valid}
    write_atomic(out.path / "pairs.jsonl", jsonl(asdict(p) | {"split": split_of[p.id]} for p in kept))
    write_atomic(out.path / "rejects.jsonl", jsonl(asdict(r) for r in rejections))
    write_atomic(out.path / "train.jsonl", jsonl(example_format.example(p) for p in train))
    write_atomic(out.path / "valid.jsonl", jsonl(example_format.example(p) for p in valid))

    kept_per_chunk = Counter(p.chunk_id for p in kept)
    failed_ids = {f.chunk_id: f for f in failures}
    coverage = [
        ChunkCoverage(
            chunk_id=c.id,
            source=c.source,
            tokens=c.tokens,
            asked=settings.pairs_per_chunk,
            generated=generated.get(c.id, 0),
            kept=kept_per_chunk.get(c.id, 0),
            truncated=c.id in entries and entries[c.id].completion.truncated,
            status="failed" if c.id in failed_ids else ("resumed" if c.id in answered_before else "answered"),
        )
        for c in chunks
    ]
    source_of = {c.id: c.source for c in chunks}
    report = Report(
        model=settings.model,
        endpoint="offline" if settings.offline else (settings.base_url or "https://api.openai.com/v1"),
        offline=settings.offline,
        token_encoding=counter.describe(),
        files_read=len(loaded.documents),
        files_skipped=[{"source": s.source, "reason": s.reason} for s in loaded.skipped],
        warnings=warnings,
        chunks=len(chunks),
        chunks_resumed=sum(1 for c in chunks if c.id in answered_before),
        chunks_failed=[{"chunk_id": f.chunk_id, "source": source_of[f.chunk_id], "reason": f.reason, "detail": f.detail} for f in failures],
        requests=len(pending) + sum(retries.values()),  # attempts sent by this run
        retries=sum(retries.values()),
        tokens_in=sum(e.completion.prompt_tokens for e in entries.values() if e.chunk_id in source_of),
        tokens_out=sum(e.completion.completion_tokens for e in entries.values() if e.chunk_id in source_of),
        pairs_generated=len(pairs),
        pairs_kept=len(kept),
        dropped=dict(Counter(r.reason for r in rejections)),
        train_examples=len(train),
        valid_examples=len(valid),
        format=settings.format,
        out=str(settings.out),
        seconds=round(time.monotonic() - started, 3),
        coverage=coverage,
    )
    write_atomic(out.path / "report.json", json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n")
    return report


def build_request(template: ChatTemplate, chunk: Chunk, n: int) -> Request:
    messages = template.render(info=chunk.text, n=n, source=chunk.source)
    return Request(chunk_id=chunk.id, messages=messages, params=dict(template.params), n=n, passage=chunk.text)


def make_model(settings: Settings, counter: TokenCounter, on_retry) -> ChatModel:
    if settings.offline:
        return offline.OfflineModel(counter)
    return OpenAIChatModel(
        settings.model,
        base_url=settings.base_url,
        api_key=settings.api_key,
        timeout=settings.timeout,
        max_attempts=settings.max_attempts,
        count_tokens=counter,
        on_retry=on_retry,
    )


def collect_pairs(
    chunks: Sequence[Chunk], entries: dict[str, JournalEntry], failures: Sequence[Failure]
) -> tuple[list[Pair], list[Rejection], dict[str, int]]:
    """Pairs and parse rejections from the journal, in chunk order, whatever order the replies came in."""
    pairs: list[Pair] = []
    rejections: list[Rejection] = []
    generated: dict[str, int] = {}
    failed = {f.chunk_id: f for f in failures}
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
        entry = entries.get(chunk.id)
        if entry is None:  # cannot happen after a finished generation; kept honest rather than silent
            rejections.append(Rejection(stage="generate", reason="not_asked", source=chunk.source, chunk_id=chunk.id))
            continue
        parsed = parse_reply(entry.completion.text, truncated=entry.completion.truncated)
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


def check_pairs(pairs: Sequence[Pair]) -> tuple[list[Pair], list[Rejection]]:
    kept, rejected = [], []
    for pair in pairs:
        problems = check_pair_text(pair.question, pair.answer)
        if problems:
            rejected.append(
                Rejection(
                    stage="check",
                    reason=problems[0],
                    detail="; ".join(problems),
                    raw=json.dumps({"question": pair.question, "answer": pair.answer}, ensure_ascii=False),
                    source=pair.source,
                    chunk_id=pair.chunk_id,
                    pair_id=pair.id,
                )
            )
        else:
            kept.append(pair)
    return kept, rejected


def drop_duplicates(pairs: Sequence[Pair]) -> tuple[list[Pair], list[Rejection]]:
    kept, duplicates = dedupe(pairs)
    by_id = {p.id: p for p in pairs}
    rejections = [
        Rejection(
            stage="dedupe",
            reason=f"duplicate_{d.kind}",
            detail=f"duplicates pair {d.kept_id} (similarity {d.similarity:.2f})",
            raw=json.dumps({"question": by_id[d.pair_id].question, "answer": by_id[d.pair_id].answer}, ensure_ascii=False),
            source=by_id[d.pair_id].source,
            chunk_id=by_id[d.pair_id].chunk_id,
            pair_id=d.pair_id,
        )
        for d in duplicates
    ]
    return kept, rejections
