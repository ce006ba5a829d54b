"""``run(settings) -> Result``: the whole generation run, a thin orchestrator over the stages.

folder -> documents -> chunks -> requests -> (model, journaled) -> pairs -> text and
grounding checks -> (judge) -> dedupe -> "I don't know" pairs -> dedupe -> example
checks -> train/valid split -> files in the out folder, written as one set.

The run holds the out folder's lock from its first look at the folder to its last write.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from qagen.dataset.formats import jsonl_lines
from qagen.documents.tokens import TokenCounter, counter_for
from qagen.finetune.state import saved_job_id
from qagen.errors import BudgetReached, ConfigError, QagenError
from qagen.llm.asker import Asker, ask_all
from qagen.llm.budget import BudgetedModel
from qagen.llm.cache import CACHE_FILE, CacheUnavailable, CachedModel, CallCache, default_cache_dir, normalised_endpoint
from qagen.llm.model import ChatModel, RetryListener
from qagen.llm.offline.model import OfflineModel
from qagen import __version__
from qagen.dataset.card import dataset_card
from qagen.outfolder import CARD, CHUNKS, DECISIONS, RUN_SETTINGS, OutFolder, write_atomic
from qagen.pipeline.decisions import Decision, Review, merge_decisions, read_decisions, stored_decisions
from qagen.pipeline import stages
from qagen.pipeline.collector import kept_objects_frozen
from qagen.pipeline.report import Report, build_report
from qagen.pipeline.spending import budget_rates, check_reply_caps, cost_report, make_ledger
from qagen.progress import Reporter
from qagen.quality.grounding import lexical_support
from qagen.records import Pair, Rejection, as_fields
from qagen.review.page import write_review_page
from qagen.schema import is_local_endpoint
from qagen.options import DEFAULT_OPENAI_MODEL, GENERATE_OPTIONS
from qagen.settings import Settings

if TYPE_CHECKING:  # the batch senders load the SDK, which a run that sends nothing online never needs
    from qagen.llm.batch.engine import EngineSender
    from qagen.llm.batch.results import LineOutcome
    from qagen.llm.batch.sender import BatchSender

OUTPUT_NAMES = ("pairs", "rejects", "train", "valid", "report")


@dataclass(frozen=True)
class Result:
    """What a run made: the kept pairs, everything dropped with its reason, the report, and the files."""

    pairs: list[Pair]
    rejects: list[Rejection]
    report: Report
    # "pairs", "rejects", "train", "valid", "report", "card" (README.md), "review" (review.html, unless --no-review) -> the file
    paths: dict[str, Path]


def run(settings: Settings, reporter: Reporter | None = None, *, model: ChatModel | None = None) -> Result:
    """Run to the end and return what it made. Inside a running event loop, use ``run_async``."""
    return asyncio.run(run_async(settings, reporter, model=model))


async def run_async(settings: Settings, reporter: Reporter | None = None, *, model: ChatModel | None = None) -> Result:
    """``model`` replaces the one the settings name (any object with the ChatModel protocol)."""
    reporter = reporter or Reporter()
    # A decisions file is read before anything else: a bad line stops the run before it makes or costs anything.
    decisions = read_decisions(settings.decisions) if settings.decisions else (None, [])
    # So are the output files of a batch engine: a malformed line costs nothing either.
    imported = None
    if settings.batch_import:
        from qagen.llm.batch.engine import read_imports

        imported = read_imports([Path(p) for p in settings.batch_import], model=settings.model,
                                where=settings.base_url or "the batch engine")
    out = OutFolder(settings.out)
    with out.lock():
        # An earlier run killed while replacing the output files left a mix; finish it first,
        # whatever this run does next.
        out.finish_switch()
        with kept_objects_frozen() as settle:
            return await _run_locked(settings, reporter, out, model, decisions, imported, settle)


async def _run_locked(
    settings: Settings, reporter: Reporter, out: OutFolder, model: ChatModel | None,
    decisions: tuple[dict[str, Decision] | None, list[str]], imported: dict[str, tuple[Path, LineOutcome]] | None,
    settle: Callable[[], None],
) -> Result:
    started = time.monotonic()
    rates = budget_rates(settings)
    # Counting tokens for the offline generator as for the default OpenAI model keeps
    # the report's figures comparable with a real run.
    counter = counter_for(DEFAULT_OPENAI_MODEL if settings.offline else settings.model)
    new_decisions, decision_warnings = decisions
    reading_started = time.process_time()
    run = stages.read_documents(settings, reporter, counter)
    run.cpu_seconds["read"] = round(time.process_time() - reading_started, 3)
    run.settle = settle
    settle()
    if rates is not None and settings.max_cost is not None:
        check_reply_caps(run)

    if settings.restart and (job_id := saved_job_id(settings.out)):
        reporter.note(
            f"qagen: starting over forgets fine-tuning job {job_id} (it keeps running on the service; "
            f"follow it with: qagen follow {job_id})"
        )
    if settings.restart and (running := running_batches(out)):
        reporter.note(f"qagen: starting over forgets batches {', '.join(running)} (they keep running on the service and are "
                      "billed; cancel them there if they are not wanted)")
    if settings.restart and (earlier := stored_decisions(settings.out)):
        then = f"only those of {settings.decisions} apply" if settings.decisions else "give --decisions FILE again to reapply them"
        reporter.note(f"qagen: starting over forgets the {len(earlier)} review decisions kept in {settings.out / DECISIONS} "
                      f"(after it, an id may name another pair); {then}")
    # Decisions are not part of the fingerprint: a new review must not force starting over.
    out.prepare(settings.fingerprint_fields(run.templates["qa"].digest), restart=settings.restart)
    write_atomic(out.state / RUN_SETTINGS, json.dumps(settings_record(settings, own_model=model is not None), indent=2) + "\n")

    def warn(sentence: str) -> None:
        reporter.note(f"warning: {sentence}")
        run.warnings.append(sentence)

    for sentence in decision_warnings:
        warn(sentence)
    run.review = Review(decisions=merge_decisions(settings.out, new_decisions))

    answered_before = out.read_journal(warn)
    # From here on a failure would leave the earlier run's files behind: readers must not take them for this run's.
    out.mark_outdated()

    def on_notice(sentence: str) -> None:
        reporter.note(f"qagen: {sentence}")
        run.warnings.append(sentence)

    ledger = make_ledger(settings, rates, counter, answered_before, out, on_notice)
    retries: Counter[str] = Counter()

    def on_retry(reason: str, wait: float) -> None:
        if ledger is not None:
            ledger.attempt_failed(reason)  # raises when the cap keeps the retry back: it is then not sent
        retries[reason] += 1
        reporter.retry(reason, wait)

    if model is None and not settings.offline and is_local_endpoint(settings.base_url) and settings.concurrency > 1:
        reporter.note(
            f"qagen: {settings.base_url} is on this machine: {settings.concurrency} requests at once, "
            f"{settings.timeout:g} s for each reply; a server that answers one at a time queues the rest "
            "(set --concurrency to its number of slots)"
        )
    chat_model = model if model is not None else make_model(settings, counter, on_retry, on_notice)
    client_model = chat_model
    if ledger is not None:
        # Inside the cache: an answer the cache gives is not sent, so it books nothing.
        chat_model = BudgetedModel(chat_model, ledger)
    # Only qagen's own client is cached: a caller's model may answer differently to the same request.
    cached = with_cache(chat_model, settings, warn) if model is None else None
    chat_model = cached or chat_model
    sender = make_batch_sender(settings, out, client_model, cached, reporter, on_notice) if settings.batch else None
    engine = make_engine_sender(settings, imported, client_model, cached, sender) if settings.batch_export or imported is not None else None
    try:
        # The offline generator's answers cost nothing to make again: its journal is not synced line by line
        # (a killed run loses none of its lines either way; at 50 MB the 25,000 fsyncs took ~2 s of CPU).
        offline = model is None and settings.offline
        with out.open_journal(in_flight=settings.concurrency, sync_each_line=not offline) as journal:
            window = stages.overflow.context_window(settings)
            asker = Asker(chat_model, journal, dict(answered_before), concurrency=settings.concurrency,
                          before_send=stages.overflow.window_warner(window, counter, warn) if window else None, send=engine or sender)
            with run.timed("generate"):
                generated = await stages.generate(run, asker, answered_before)
            kept = await stages.keep_good_pairs(run, asker, generated.pairs)
    finally:
        if model is None:  # the caller's own model is the caller's to close
            await chat_model.aclose()
        if sender is not None:
            await sender.aclose()

    if engine is not None:
        for path, count in engine.unknown_keys(asker.used).items():
            warn(f"{count} lines of {path} name no request of this run (unknown custom_id) and were left out")
    hits = cached.hits if cached is not None else 0
    not_sent = len(ledger.not_sent) if ledger is not None else 0
    with run.timed("dataset"):
        dataset = stages.make_dataset(run, kept.pairs)
    report = build_report(
        run, generated, dataset, answered_before,
        # Every request sent: each ends answered (the cache's answers were not sent) or failed, and each retry was one more.
        # The requests the cap kept back were never sent.
        requests=asker.answered_now - hits + asker.failed_now - not_sent + sum(retries.values()), retries=sum(retries.values()),
        cache_hits=hits, tokens=asker.tokens(),
        failed_requests=kept.failed_requests, seconds=round(time.monotonic() - started, 3),
        cost=cost_report(settings, rates, ledger, asker.answered, answered_before),
        batch=batch_counts(sender, engine),
    )
    final, split, examples = dataset.checked.kept, dataset.split, dataset.checked.examples
    rejects = run.placed(run.rejections)
    split_of = {p.id: "train" for p in split.train} | {p.id: "valid" for p in split.valid}
    paths = {name: out.path / (f"{name}.json" if name == "report" else f"{name}.jsonl") for name in OUTPUT_NAMES}
    paths["card"] = out.path / CARD
    card = dataset_card(report.to_dict(), version=__version__, templates={name: t.digest for name, t in run.templates.items()},
                        language=settings.language, decisions=len(run.review.decisions))
    out.write_outputs({
        CARD: card,
        paths["pairs"].name: jsonl_lines(pair_lines(run, final, split_of)),
        paths["rejects"].name: jsonl_lines(as_fields(r) for r in rejects),
        paths["train"].name: jsonl_lines(examples[p.id] for p in split.train),
        paths["valid"].name: jsonl_lines(examples[p.id] for p in split.valid),
        paths["report"].name: json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n",
        CHUNKS: jsonl_lines({"id": c.id, "source": c.source, "page": c.page, "section": c.section, "text": c.text} for c in run.chunks),
    })
    # Made from the files just written, as `qagen review` makes it: the page is the same either way.
    if settings.review and (page := review_page(out.path, warn)) is not None:
        paths["review"] = page
    result = Result(pairs=list(final), rejects=rejects, report=report, paths=paths)
    if ledger is not None and ledger.not_sent:
        raise BudgetReached(ledger.stop_sentence(), result)
    return result


def review_page(out: Path, warn: Callable[[str], None]) -> Path | None:
    """Write the review page; a page that cannot be written is a warning, never a lost run (the dataset is written)."""
    try:
        return write_review_page(out)
    except (QagenError, OSError) as exc:
        warn(f"the review page was not written: {exc}")
        return None


def pair_lines(run: stages.Run, pairs: list[Pair], split_of: dict[str, str]) -> Iterator[dict]:
    """A line of pairs.jsonl per pair: the pair, its split, how much of its answer its chunk holds, and the judge's rating.

    The grounding figure is the share of the answer's terms found in its chunk (1.0 when the answer is a
    span of it); it says how close to its text a kept pair is, which the checks, passed or not, do not.
    """
    chunk_texts = run.chunk_texts
    for p in pairs:
        rating = run.ratings.get(p.id)
        grounding = round(lexical_support(p.answer, chunk_texts[p.chunk_id]).score, 3) if p.kind == "grounded" else None
        yield as_fields(p) | {"split": split_of[p.id], "grounding": grounding,
                           "judge_rating": rating.score if rating else None, "judge_reason": rating.reason if rating else None}


# Not recorded for `qagen apply`: it names the out folder and the decisions itself, and chooses its own quietness.
# Nor is --no-review: it changes no result, and a page after applying a review is what the reviewer wants next.
_NOT_RECORDED = {"out", "decisions", "quiet", "review"}


def settings_record(settings: Settings, *, own_model: bool) -> dict:
    """The run's settings by key, for ``qagen apply OUT FILE`` to run it again; paths made absolute, no key."""
    recorded: dict[str, object] = {}
    for option in GENERATE_OPTIONS.values():
        if option.flag_only or option.name in _NOT_RECORDED:
            continue
        value = getattr(settings, option.attr)
        recorded[option.name] = os.path.abspath(value) if isinstance(value, Path) else (list(value) if isinstance(value, tuple) else value)
    # A model object passed to qagen.generate cannot be written down: apply then asks for qagen.generate.
    return {"corpus": os.path.abspath(settings.corpus), "settings": recorded, "own_model": own_model}


def with_cache(model: ChatModel, settings: Settings, warn: Callable[[str], None]) -> CachedModel | None:
    """The model behind the call cache; None for the offline generator, with --no-cache, or when the cache cannot open."""
    if settings.offline or not settings.cache:
        return None
    try:
        cache = CallCache((settings.cache_dir or default_cache_dir()) / CACHE_FILE)
    except CacheUnavailable as exc:
        warn(f"the call cache cannot be used: {exc}; this run goes on without it (qagen cache clear resets it)")
        return None
    return CachedModel(model, cache, endpoint=normalised_endpoint(settings.base_url),
                       structured_output=settings.structured_output, warn=warn)


def running_batches(out: OutFolder) -> list[str]:
    """The ids of the batches an earlier run submitted and did not read back."""
    from qagen.llm.batch.state import BATCHES_FILE, BatchState

    return [p.batch_id for p in BatchState.load(out.state / BATCHES_FILE).parts if p.batch_id and not p.done]


def make_batch_sender(
    settings: Settings, out: OutFolder, client_model: ChatModel, cached: CachedModel | None, reporter: Reporter,
    warn: Callable[[str], None],
) -> BatchSender:
    """The asker's sending step for --batch: the same request bodies as online, as Batch API jobs."""
    from qagen.llm.batch.sender import BatchSender, batch_client
    from qagen.llm.batch.state import BATCHES_FILE, BatchState
    from qagen.llm.client import OpenAIChatModel

    if not isinstance(client_model, OpenAIChatModel):  # a caller's own model has no Batch API
        raise ConfigError("--batch needs qagen's own client for an endpoint, not a model object passed to qagen.generate.")
    client = batch_client(base_url=settings.base_url, api_key=settings.api_key, timeout=settings.timeout,
                          max_attempts=settings.max_attempts)
    return BatchSender(
        client, client_model.request_body, BatchState.load(out.state / BATCHES_FILE),
        model_name=settings.model, where=settings.base_url or "the OpenAI API", cache=cached,
        note=lambda line: reporter.note(f"qagen: {line}"), warn=warn,
        retry_online=settings.batch_retry_online, first_wait=settings.batch_poll_interval,
        max_lines=settings.batch_max_requests, max_bytes=int(settings.batch_max_mb * 2**20),
    )


def make_engine_sender(
    settings: Settings, imported: dict | None, client_model: ChatModel, cached: CachedModel | None, sender: BatchSender | None,
) -> EngineSender:
    """The sending step for --batch-export and --batch-import: imported answers, then the rest exported, batched or online."""
    from qagen.llm.batch.engine import EngineSender
    from qagen.llm.client import OpenAIChatModel

    if not isinstance(client_model, OpenAIChatModel):
        raise ConfigError("--batch-export and --batch-import need qagen's own client, not a model object passed to qagen.generate.")
    has_endpoint = bool(settings.base_url or settings.api_key)
    return EngineSender(
        imported=imported or {}, export_dir=settings.batch_export, body_of=client_model.request_body, model_name=settings.model,
        then=sender or (ask_all if has_endpoint else None), cache=cached,
        max_lines=settings.batch_max_requests, max_bytes=int(settings.batch_max_mb * 2**20),
    )


def batch_counts(sender: BatchSender | None, engine: EngineSender | None) -> dict | None:
    if sender is None and engine is None:
        return None
    counts: dict = sender.counts.as_dict() if sender is not None else {}
    if engine is not None:
        counts["imported"] = engine.imported_answers
    return counts


def make_model(
    settings: Settings, counter: TokenCounter, on_retry: RetryListener, on_notice: Callable[[str], None] | None = None
) -> ChatModel:
    if settings.offline:
        return OfflineModel(counter)
    from qagen.llm.client import OpenAIChatModel  # the SDK loads here: an offline run never needs it

    return OpenAIChatModel(
        settings.model,
        base_url=settings.base_url,
        api_key=settings.api_key,
        timeout=settings.timeout,
        max_attempts=settings.max_attempts,
        max_retry_wait=settings.max_retry_wait,
        count_tokens=counter,
        on_retry=on_retry,
        structured_output=settings.structured_output,
        on_notice=on_notice,
    )
