"""The run report: ``report.json`` and the short human summary printed at the end."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class ChunkCoverage:
    chunk_id: str
    source: str
    tokens: int
    asked: int  # pairs requested
    generated: int  # pairs parsed from the reply
    kept: int  # pairs in the dataset
    truncated: bool
    status: str  # "answered", "resumed" (answered by an earlier run), "failed"


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
    chunks_failed: list[dict]  # {"chunk_id", "source", "reason", "detail"}
    requests_failed: int  # idk and judge requests that failed after every retry
    requests: int  # requests answered by this run (generation, idk, judge)
    retries: int
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
    coverage: list[ChunkCoverage] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def complete(self) -> bool:
        return not self.chunks_failed and not self.requests_failed


def summary(report: Report) -> str:
    """A few lines a person reads at the end of a run."""
    lines = []
    skipped = f", {len(report.files_skipped)} skipped" if report.files_skipped else ""
    lines.append(f"files     {report.files_read} read{skipped}")
    for item in report.files_skipped[:5]:
        lines.append(f"          skipped {item['source']}: {item['reason']}")
    if len(report.files_skipped) > 5:
        lines.append(f"          ... and {len(report.files_skipped) - 5} more (see report.json)")
    resumed = f" ({report.chunks_resumed} from an earlier run)" if report.chunks_resumed else ""
    failed = f", {len(report.chunks_failed)} failed" if report.chunks_failed else ""
    lines.append(f"chunks    {report.chunks}{resumed}{failed}")
    retries = f", {report.retries} retries" if report.retries else ""
    lines.append(f"requests  {report.requests} to {report.model}{retries}")
    lines.append(f"tokens    {report.tokens_in:,} in, {report.tokens_out:,} out ({report.token_encoding})")
    dropped = sum(report.dropped.values())
    reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(report.dropped.items(), key=lambda kv: (-kv[1], kv[0])))
    grounded = report.pairs_kept - report.idk_kept
    lines.append(
        f"pairs     {grounded} grounded of {report.pairs_generated} generated + {report.idk_kept} I-don't-know"
        + (f"; {dropped} dropped: {reasons}" if dropped else "")
    )
    lines.append(f"dataset   {report.train_examples} train + {report.valid_examples} valid ({report.format}) in {report.out}")
    estimate = report.finetune_estimate
    if estimate.get("examples"):
        lines.append(f"training  about {estimate['billed_tokens']:,} billed tokens ({estimate['n_epochs']} epochs by default)")
    for warning in report.warnings:
        lines.append(f"warning   {warning}")
    lines.append(f"time      {report.seconds:.1f} s")
    return "\n".join(lines)
