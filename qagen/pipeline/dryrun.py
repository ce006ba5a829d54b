"""``qagen FOLDER --dry-run``: what a run would ask and cost, worked out without sending or writing anything.

The corpus is loaded and chunked exactly as a run does it, and every generation request is
rendered and counted (chat framing included); chunks the out folder's journal already holds an
answer for are left out, as a resumed run would not ask them again. The later stages ("I don't
know" candidates and checks, the judge) depend on the replies, so they are estimated from the
settings by the formulas printed with the figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from qagen.documents.tokens import TokenCounter, count_chat_tokens, counter_for
from qagen.llm.budget import Ledger, Rates
from qagen.llm.prices import BATCH_DISCOUNT, Price, price_for
from qagen.options import DEFAULT_OPENAI_MODEL, OPENAI_URL
from qagen.outfolder import OutFolder
from qagen.outfolder.journal import JournalEntry
from qagen.pipeline import overflow, stages
from qagen.progress import Reporter
from qagen.quality.idk.candidates import choose_excerpt_chunks, render_excerpts
from qagen.quality.idk.pairs import CHECK_PASSAGES, EXCERPT_CHUNKS, EXCERPT_TOKENS, MAX_ROUNDS
from qagen.quality.judge import render_pairs_for_judge
from qagen.records import Chunk, Pair, Request
from qagen.settings import Settings

TYPICAL_SHARE = 0.6  # of a template's max_tokens, when the journal has seen no reply yet
TOKENS_PER_SECOND = 50.0  # output tokens a second of one request, a typical figure for hosted models
SECONDS_PER_REQUEST = 1.0  # a request's overhead before the first token
IDK_CANDIDATES_CAP = 30  # candidates asked per round at most (qagen.quality.idk.pairs)
IDK_KEPT_SHARE = 0.5  # of the candidates, that survive the checks: the stage asks for twice what it misses


@dataclass(frozen=True)
class StageEstimate:
    name: str
    requests: int  # typical
    max_requests: int
    input_tokens: int  # typical requests' prompts
    max_input_tokens: int
    max_output: int  # per request: the template's max_tokens
    typical_output: int  # per request
    formula: str

    @property
    def output_upper(self) -> int:
        return self.max_requests * self.max_output

    @property
    def output_typical(self) -> int:
        return self.requests * self.typical_output


@dataclass
class DryRun:
    settings: Settings
    documents: int
    chunks: int
    answered: int  # chunks the journal holds an answer for
    typical_source: str
    price: Price | None
    notes: list[str] = field(default_factory=list)
    spent: float | None = None  # what the answers in the out folder's journal cost; None without a price
    stages: list[StageEstimate] = field(default_factory=list)


def other_settings(settings: Settings, template_digest: str) -> str | None:
    """Why the run would refuse the out folder's earlier run (as ``OutFolder.prepare`` does); None if it would not."""
    if settings.restart or not (details := OutFolder(settings.out).changed_settings(settings.fingerprint_fields(template_digest))):
        return None
    return (f"{settings.out} holds a run made with different settings ({details}); the run would refuse it "
            "without --restart, so this estimate starts over")


def journal_entries(settings: Settings) -> dict[str, JournalEntry]:
    """The out folder's journal, read only: a damaged line is skipped here, not repaired as a run would."""
    path = OutFolder(settings.out).journal_path
    if settings.restart or not path.is_file():
        return {}
    entries = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = JournalEntry.from_line(line)
        except (ValueError, KeyError, TypeError):
            continue
        entries[entry.key] = entry
    return entries


def plan(settings: Settings, reporter: Reporter | None = None) -> DryRun:
    """The estimate for ``settings``; reads the corpus and the journal, sends and writes nothing."""
    reporter = reporter or Reporter()
    counter = counter_for(DEFAULT_OPENAI_MODEL if settings.offline else settings.model)
    run = stages.read_documents(settings, reporter, counter)
    qa = run.templates["qa"]

    def build(chunk: Chunk) -> Request:
        return stages.build_request(qa, chunk, settings.pairs_per_chunk)

    chunks = run.chunks
    if (window := overflow.context_window(settings)) is not None:
        chunks, _cuts = overflow.fit_to_window(chunks, build, window, counter, settings.chunk_overlap)
    refused = other_settings(settings, qa.digest)
    entries = {} if refused else journal_entries(settings)
    answered = [entries[c.id] for c in chunks if c.id in entries]
    left = [c for c in chunks if c.id not in entries]

    max_output = int(qa.params.get("max_tokens", 0))
    if answered:
        typical = round(sum(e.completion.completion_tokens for e in answered) / len(answered))
        source = f"generation: the mean of the {len(answered)} replies in the journal; the other stages: {TYPICAL_SHARE:.0%} of max_tokens"
    else:
        typical = round(max_output * TYPICAL_SHARE)
        source = f"{TYPICAL_SHARE:.0%} of each template's max_tokens"
    prompt_tokens = sum(_tokens(build(c), counter) for c in left)
    price = None if settings.offline else price_for(settings.model, input=settings.price_input, output=settings.price_output)
    result = DryRun(settings, len(run.loaded.documents), len(chunks), len(answered), source, price, notes=[refused] if refused else [])
    if price is not None and price.known:
        result.spent = float(Ledger.spent_by(Rates.of(price), (e.completion for e in entries.values())))
    result.stages.append(StageEstimate(
        "generation", len(left), len(left), prompt_tokens, prompt_tokens, max_output, typical,
        "one request per chunk not yet answered in the journal",
    ))
    if settings.offline or not chunks:
        return result
    if settings.judge:
        result.stages.append(_judge(run, chunks, counter))
    if settings.idk_ratio > 0:
        result.stages += _idk(run, chunks, counter)
    return result


def _tokens(request: Request, counter: TokenCounter) -> int:
    return count_chat_tokens([m.as_dict() for m in request.messages], counter)


def _messages_tokens(messages: tuple, counter: TokenCounter) -> int:
    return count_chat_tokens([m.as_dict() for m in messages], counter)


def _judge(run: stages.Run, chunks: list[Chunk], counter: TokenCounter) -> StageEstimate:
    template, n = run.templates["judge"], run.settings.pairs_per_chunk
    prompt = 0
    for chunk in chunks:
        # Pairs are not written yet: each stands in as a question and a sentence-long answer from its chunk.
        sample = [Pair(id=f"s{i}", question="What does this passage say about it?", answer=chunk.text[:200],
                       source=chunk.source, chunk_id=chunk.id) for i in range(n)]
        prompt += _messages_tokens(template.render(passage=chunk.text, pairs=render_pairs_for_judge(sample)), counter)
    max_output = int(template.params.get("max_tokens", 0))
    return StageEstimate("judge", len(chunks), len(chunks), prompt, prompt, max_output, round(max_output * TYPICAL_SHARE),
                         f"one request per chunk with pairs, {n} pairs each")


def _idk(run: stages.Run, chunks: list[Chunk], counter: TokenCounter) -> list[StageEstimate]:
    settings = run.settings
    target = round(len(chunks) * settings.pairs_per_chunk * settings.idk_ratio)
    if target <= 0:
        return []
    # Typical: half of each round's candidates survive, as the stage's asking for twice what it misses expects.
    typical_asks: list[int] = []
    missing = target
    while missing > 0 and len(typical_asks) < MAX_ROUNDS:
        ask = min(IDK_CANDIDATES_CAP, max(5, 2 * missing))
        typical_asks.append(ask)
        missing -= math.floor(ask * IDK_KEPT_SHARE) or 1
    # At most: no candidate survives, so every round runs and asks as many as the first.
    first = min(IDK_CANDIDATES_CAP, max(5, 2 * target))
    max_asks = [first] * MAX_ROUNDS

    generate, check = run.templates["idk"], run.templates["idk_check"]
    round_prompts = []
    for number in range(MAX_ROUNDS):
        excerpts = render_excerpts(choose_excerpt_chunks(chunks, EXCERPT_CHUNKS, seed=settings.seed, round=number),
                                   max_tokens=EXCERPT_TOKENS, count_tokens=counter)
        round_prompts.append(_messages_tokens(generate.render(excerpts=excerpts, n=first, avoid=""), counter))
    passages = "\n\n---\n\n".join(c.text for c in chunks[:CHECK_PASSAGES])
    check_prompt = _messages_tokens(check.render(question="What does the organisation say about it?", passages=passages), counter)
    gen_max, check_max = int(generate.params.get("max_tokens", 0)), int(check.params.get("max_tokens", 0))
    ratio = f"{settings.idk_ratio:g}"
    return [
        StageEstimate(
            "I-don't-know candidates", len(typical_asks), MAX_ROUNDS, sum(round_prompts[:len(typical_asks)]), sum(round_prompts),
            gen_max, round(gen_max * TYPICAL_SHARE),
            f"target = chunks x pairs per chunk x idk_ratio = {len(chunks)} x {settings.pairs_per_chunk} x {ratio} = {target}; "
            f"one request a round, min(30, max(5, 2 x missing)) candidates each, half kept (typical), at most {MAX_ROUNDS} rounds",
        ),
        StageEstimate(
            "I-don't-know checks", sum(typical_asks), sum(max_asks), sum(typical_asks) * check_prompt, sum(max_asks) * check_prompt,
            check_max, round(check_max * TYPICAL_SHARE),
            f"one request per candidate the corpus search does not already answer (counted as all), against {CHECK_PASSAGES} passages",
        ),
    ]


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _money(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"


def describe(dry: DryRun) -> str:
    """The estimate as lines for the terminal."""
    s = dry.settings
    left = dry.stages[0].requests
    lines = [
        "dry run: nothing was sent and nothing was written",
        f"corpus: {dry.documents} documents, {dry.chunks} chunks of up to {s.chunk_size} tokens (overlap {s.chunk_overlap})"
        + (f"; {dry.answered} already answered in {s.out}, {left} left" if dry.answered else ""),
    ]
    lines += [f"note: {note}" for note in dry.notes]
    if s.offline:
        lines.append("model: the built-in offline generator; no request goes to any endpoint, and there is nothing to pay")
        return "\n".join(lines)
    lines.append(f"model: {s.model} at {s.base_url or OPENAI_URL}, {s.concurrency} requests at once")
    lines.append("")
    width = max(len(e.name) for e in dry.stages) + 2

    def row(name: str, requests: str, input_tokens: str, output_tokens: str) -> str:
        return f"{name:<{width}}{requests:>20}  {input_tokens:>24}  {output_tokens:>34}"

    lines.append(row("stage", "requests", "input tokens", "output tokens (typical / at most)"))
    for e in dry.stages:
        requests = f"{e.requests:,}" if e.requests == e.max_requests else f"{e.requests:,} (<= {e.max_requests:,})"
        input_tokens = f"{e.input_tokens:,}" if e.input_tokens == e.max_input_tokens else f"{e.input_tokens:,} (<= {e.max_input_tokens:,})"
        lines.append(row(e.name, requests, input_tokens, f"{e.output_typical:,} / {e.output_upper:,}"))
    total_in = sum(e.input_tokens for e in dry.stages)
    max_in = sum(e.max_input_tokens for e in dry.stages)
    typical_out = sum(e.output_typical for e in dry.stages)
    max_out = sum(e.output_upper for e in dry.stages)
    all_requests = sum(e.requests for e in dry.stages)
    max_requests = sum(e.max_requests for e in dry.stages)
    lines.append(row("total", f"{all_requests:,} (<= {max_requests:,})", f"{total_in:,} (<= {max_in:,})", f"{typical_out:,} / {max_out:,}"))
    lines.append("")
    lines.append("how each stage is counted:")
    lines += [f"  {e.name}: {e.formula}" for e in dry.stages]
    lines.append(f"  output tokens: at most each template's max_tokens a request; typical: {dry.typical_source}")
    lines.append("  the later stages are counted for every chunk; answers already in the journal are not asked again")
    lines.append("")
    price = dry.price
    if price is None or not price.known:
        missing = [flag for flag, value in (("--price-input", price and price.input), ("--price-output", price and price.output)) if value is None]
        lines.append(f"cost: no price known for {s.model}; pass {' and '.join(missing)} (dollars per million tokens)")
    else:
        typical_cost, max_cost = price.cost(total_in, typical_out), price.cost(max_in, max_out)
        assert typical_cost is not None and max_cost is not None
        if s.batch and price.batch:
            lines.append(f"cost with --batch: about {_money(typical_cost * BATCH_DISCOUNT)}, at most {_money(max_cost * BATCH_DISCOUNT)} "
                         f"(the Batch API at {BATCH_DISCOUNT:.0%} of ${price.input:g} input / ${price.output:g} output per million "
                         f"tokens; {price.source}); online: about {_money(typical_cost)}")
        else:
            lines.append(f"cost: about {_money(typical_cost)}, at most {_money(max_cost)} "
                         f"(${price.input:g} input / ${price.output:g} output per million tokens; {price.source})")
            if s.batch:
                lines.append("  with --batch these are your prices as given: pass the batch prices (often half) for the Batch API")
            elif price.batch:
                lines.append(f"  through the Batch API (--batch): about {_money(typical_cost * BATCH_DISCOUNT)}")
        if s.base_url and s.base_url.rstrip("/") != OPENAI_URL:
            lines.append(f"  these are OpenAI's prices; {s.base_url} may bill differently")
    if s.max_cost is not None:
        spent = f"{_money(dry.spent)} already spent by the answers in {s.out}" if dry.spent is not None else "no price to count by"
        lines.append(f"cap: --max-cost {_money(s.max_cost)} for the out folder in all ({spent}); the run stops before "
                     "a request could cross it and exits 7")
    seconds = 0.0
    for e in dry.stages:
        waves = math.ceil(e.requests / s.concurrency) if e.requests else 0
        seconds += waves * (SECONDS_PER_REQUEST + e.typical_output / TOKENS_PER_SECOND)
    if s.batch:
        lines.append("time: a batch is answered within its 24 h window, each step's batches one after the other; "
                     f"online it would take about {_duration(seconds)}")
        return "\n".join(lines)
    lines.append(f"time: about {_duration(seconds)} (each request {SECONDS_PER_REQUEST:g} s plus {TOKENS_PER_SECOND:g} output tokens "
                 f"a second, {s.concurrency} at once, the stages one after the other; no rate limit is known, retries not counted)")
    return "\n".join(lines)
