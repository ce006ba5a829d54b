"""The run report: ``report.json`` and the short human summary printed at the end."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

from qagen.dataset.estimate import TokenStats, estimate_finetune
from qagen.outfolder.journal import JournalEntry
from qagen.progress import terminal_safe
from qagen.records import Pair

if TYPE_CHECKING:
    from qagen.pipeline.stages import Dataset, Generated, Run


@dataclass(frozen=True)
class ChunkCoverage:
    chunk_id: str
    source: str
    tokens: int
    asked: int  # pairs requested
    generated: int  # pairs parsed from the reply
    kept: int  # pairs in the dataset
    truncated: bool
    status: str  # "answered", "resumed" (answered by an earlier run), "failed" (a rerun asks again), "not_sent" (kept back by --max-cost), "too_large" (413)
    page: int | None = None  # the page the chunk starts on, where the format has pages
    section: str | None = None  # the chunk's heading path, where the document has headings


_COVERAGE_FIELDS = tuple(f.name for f in fields(ChunkCoverage))


@dataclass(frozen=True)
class Report:
    model: str
    endpoint: str
    offline: bool
    token_encoding: str
    settings: dict
    files_read: int
    files_skipped: list[dict]  # {"source", "reason"}
    files: list[dict]  # per file: {"source", "chunks", "asked", "generated", "kept"}
    warnings: list[str]
    chunks: int
    chunks_resumed: int
    chunks_failed: list[dict]  # {"chunk_id", "source", "reason", "detail"}: a rerun asks them again
    requests_failed: int  # idk and judge requests that failed after every retry
    requests: int  # requests this run sent (generation, idk, judge), every attempt counted
    retries: int
    cache_hits: int  # requests answered from the call cache: not sent, not counted in ``requests``
    tokens_in: int  # over every answer of the run, including ones an earlier run paid for
    tokens_out: int
    stages: dict[str, dict]  # stage -> {"in", "out", "dropped": {reason: count}}
    pairs_generated: int
    pairs_kept: int
    idk_kept: int
    dropped: dict[str, int]  # reason -> count, over every stage
    train_examples: int
    valid_examples: int
    format: str
    example_tokens: dict[str, dict | None]  # "train"/"valid" -> token length distribution
    finetune_estimate: dict  # epochs and billed tokens for the training file
    out: str
    seconds: float
    # In dollars: {"spent" (by every run into the out folder), "spent_this_run", "unanswered" (of spent: attempts whose
    # reply never arrived, at their worst case), "cap" (--max-cost), "requests_not_sent" (kept back by the cap),
    # "projected" (spent plus what those would typically cost), "price"}; None without a price.
    cost: dict | None = None
    # With --batch: {"batches" created, "batched" requests put in a first batch, "answered" by a batch (or online
    # after one), "retried" in a follow-up batch or online, "failed" in the end}; None without --batch.
    batch: dict | None = None
    coverage: list[ChunkCoverage] = field(default_factory=list)
    # CPU seconds of this process by stage: read (load and chunk), generate (with the offline generator, its
    # work; with a model, sending and parsing), check, dedupe, idk, dataset (format, validate, split).
    stage_cpu_seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        # asdict() walks every field of every coverage row (one per chunk) through its recursive copy:
        # profiled, most of the report's cost. Those rows hold only str, int, bool and None, so a plain
        # dict of their fields is the same value; the other fields still go through asdict.
        data = asdict(replace(self, coverage=[]))
        data["coverage"] = [{name: getattr(row, name) for name in _COVERAGE_FIELDS} for row in self.coverage]
        return data

    @property
    def complete(self) -> bool:
        return not self.chunks_failed and not self.requests_failed


def build_report(
    run: Run,
    generated: Generated,
    dataset: Dataset,
    answered_before: dict[str, JournalEntry],
    *,
    requests: int,
    retries: int,
    cache_hits: int,
    tokens: tuple[int, int],
    failed_requests: int,
    seconds: float,
    cost: dict | None = None,
    batch: dict | None = None,
) -> Report:
    """The report of a run, assembled here and only here from what the stages recorded."""
    settings, chunks = run.settings, run.chunks
    final = dataset.checked.kept
    split, example_tokens = dataset.split, dataset.checked.tokens
    coverage = chunk_coverage(run, generated, answered_before, final)
    source_of = {c.id: c.source for c in chunks}
    train_tokens = [example_tokens[p.id] for p in split.train]
    return Report(
        model=settings.model,
        endpoint=_endpoint(settings),
        offline=settings.offline,
        token_encoding=run.counter.describe(),
        settings=settings.public_view(),
        files_read=len(run.loaded.documents),
        files_skipped=[{"source": s.source, "reason": s.reason} for s in run.loaded.skipped],
        files=file_coverage(coverage),
        warnings=run.warnings,
        chunks=len(chunks),
        chunks_resumed=sum(1 for c in chunks if c.id in answered_before),
        chunks_failed=[
            {"chunk_id": f.key, "source": source_of[f.key], "reason": f.reason, "detail": f.detail}
            for f in generated.failures if f.rerun_helps
        ],
        requests_failed=failed_requests,
        requests=requests,
        retries=retries,
        cache_hits=cache_hits,
        tokens_in=tokens[0],
        tokens_out=tokens[1],
        stages=run.counts.counts,
        pairs_generated=len(generated.pairs),
        pairs_kept=len(final),
        idk_kept=sum(1 for p in final if p.kind == "idk"),
        dropped=dict(Counter(r.reason for r in run.rejections)),
        train_examples=len(split.train),
        valid_examples=len(split.valid),
        format=settings.format,
        example_tokens={"train": _stats(train_tokens), "valid": _stats([example_tokens[p.id] for p in split.valid])},
        finetune_estimate=asdict(estimate_finetune(train_tokens, limit=settings.max_example_tokens)),
        out=str(settings.out),
        seconds=seconds,
        cost=cost,
        batch=batch,
        coverage=coverage,
        stage_cpu_seconds=dict(run.cpu_seconds),
    )


def _endpoint(settings) -> str:
    if settings.offline:
        return "offline"
    if not settings.base_url and not settings.api_key and (settings.batch_import or settings.batch_export):
        return "a batch engine (--batch-import files)"  # no endpoint was asked: the answers came from files
    return settings.base_url or "https://api.openai.com/v1"


def _stats(counts: list[int]) -> dict | None:
    stats = TokenStats.of(counts)
    return asdict(stats) if stats else None


def chunk_coverage(
    run: Run, generated: Generated, answered_before: dict[str, JournalEntry], final: Sequence[Pair]
) -> list[ChunkCoverage]:
    kept = Counter(p.chunk_id for p in final if p.kind == "grounded")
    failed = {f.key: ("not_sent" if f.reason == "budget" else "failed") if f.rerun_helps
              else ("context_too_long" if f.reason == "context_too_long" else "too_large")
              for f in generated.failures}
    return [
        ChunkCoverage(
            chunk_id=c.id,
            source=c.source,
            tokens=c.tokens,
            asked=run.settings.pairs_per_chunk,
            generated=generated.parsed_count.get(c.id, 0),
            kept=kept.get(c.id, 0),
            truncated=c.id in generated.answers and generated.answers[c.id].truncated,
            status=failed.get(c.id) or ("resumed" if c.id in answered_before else "answered"),
            page=c.page,
            section=c.section,
        )
        for c in run.chunks
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


# Stages whose drops are not pairs: unreadable replies and failed requests (generate), and
# "I don't know" candidates that never became pairs (idk).
_NOT_PAIR_STAGES = ("generate", "idk")


def _most_common_first(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {reason}" for reason, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def why_no_training_examples(report: Report) -> str | None:
    """Why the run wrote an empty train.jsonl, in words that point at the file to read; None when it did not."""
    if report.train_examples:
        return None
    rejects = Path(report.out) / "rejects.jsonl"
    replies = report.chunks - len(report.chunks_failed)
    if not report.pairs_generated:
        if not replies:
            return "no chunk was answered"
        return f"the model's {replies} {'reply' if replies == 1 else 'replies'} gave no pairs; see {rejects}"
    dropped: Counter[str] = Counter()
    for name, counts in report.stages.items():
        if name not in _NOT_PAIR_STAGES:
            dropped.update(counts.get("dropped", {}))
    if not report.pairs_kept:
        total = sum(dropped.values())
        return f"all {total} {'pair was' if total == 1 else 'pairs were'} rejected ({_most_common_first(dropped)}); see {rejects}"
    return f"every one of the {report.pairs_kept} kept pairs went to the validation file; lower --valid-fraction"


def _dollars(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"


def summary(report: Report) -> str:
    """A few lines a person reads at the end of a run, each safe to print (file names are escaped)."""
    lines = []
    skipped = f", {len(report.files_skipped)} skipped" if report.files_skipped else ""
    need_docs = sum(1 for item in report.files_skipped if item["reason"].startswith("install qagen[docs]"))
    skipped += f' ({need_docs} need pip install "qagen[docs]")' if need_docs else ""
    lines.append(f"files     {report.files_read} read{skipped}")
    for item in report.files_skipped[:5]:
        lines.append(f"          skipped {item['source']}: {item['reason']}")
    if len(report.files_skipped) > 5:
        lines.append(f"          ... and {len(report.files_skipped) - 5} more (see report.json)")
    resumed = f" ({report.chunks_resumed} from an earlier run)" if report.chunks_resumed else ""
    kept_back = sum(1 for c in report.chunks_failed if c["reason"] == "budget")
    failed = f", {len(report.chunks_failed) - kept_back} failed" if len(report.chunks_failed) > kept_back else ""
    failed += f", {kept_back} not sent (--max-cost)" if kept_back else ""
    too_large = sum(1 for c in report.coverage if c.status == "too_large")
    failed += f", {too_large} too large for the endpoint" if too_large else ""
    lines.append(f"chunks    {report.chunks}{resumed}{failed}")
    retries = f", {report.retries} retries" if report.retries else ""
    cached = f" ({report.cache_hits} answered from the cache)" if report.cache_hits else ""
    lines.append(f"requests  {report.requests} to {report.model}{retries}{cached}")
    if (batch := report.batch) is not None:
        parts = [f"{batch['batches']} batches of {batch['batched']} requests" if "batches" in batch else "",
                 f"{batch['imported']} answers imported" if batch.get("imported") else "",
                 f"{batch['retried']} sent again" if batch.get("retried") else "",
                 f"{batch['failed']} failed" if batch.get("failed") else ""]
        lines.append(f"batch     {', '.join(p for p in parts if p) or 'nothing left to ask'}")
    lines.append(f"tokens    {report.tokens_in:,} in, {report.tokens_out:,} out ({report.token_encoding})")
    if (cost := report.cost) is not None and not report.offline:
        line = f"cost      {_dollars(cost['spent'])} spent"
        line += f" of the {_dollars(cost['cap'])} cap" if cost["cap"] is not None else ""
        line += f" ({_dollars(cost['spent_this_run'])} by this run)" if cost["spent_this_run"] != cost["spent"] else ""
        if cost["requests_not_sent"]:
            line += f"; {cost['requests_not_sent']} requests not sent, about {_dollars(cost['projected'])} for the whole run"
        lines.append(line)
    dropped = sum(report.dropped.values())
    reasons = _most_common_first(report.dropped)
    grounded = report.pairs_kept - report.idk_kept
    lines.append(
        f"pairs     {grounded} grounded of {report.pairs_generated} generated + {report.idk_kept} I-don't-know"
        + (f"; {dropped} dropped: {reasons}" if dropped else "")
    )
    if review := report.stages.get("review"):
        done = ", ".join(f"{n} {word}" for word, n in zip(("kept", "dropped", "edited"), review["decisions"].values()) if n)
        verb = "names" if review["not_found"] == 1 else "name"
        missing = f" ({review['not_found']} {verb} no pair of this run)" if review["not_found"] else ""
        lines.append(f"review    {done or 'no decision applied'} by the reviewer{missing}")
    lines.append(f"dataset   {report.train_examples} train + {report.valid_examples} valid ({report.format}) in {report.out}")
    estimate = report.finetune_estimate
    if estimate.get("examples"):
        lines.append(f"training  about {estimate['billed_tokens']:,} billed tokens ({estimate['n_epochs']} epochs by default)")
    for warning in report.warnings:
        lines.append(f"warning   {warning}")
    lines.append(f"time      {report.seconds:.1f} s")
    return "\n".join(terminal_safe(line) for line in lines)
