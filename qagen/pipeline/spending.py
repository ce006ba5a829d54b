"""What a run may spend and what it spent: the prices, the --max-cost ledger, and the report's cost section."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from fractions import Fraction

from qagen.documents.tokens import TokenCounter
from qagen.errors import ConfigError
from qagen.llm.budget import Ledger, NotSent, Rates, completion_cap
from qagen.llm.prices import BATCH_DISCOUNT, Price, price_for
from qagen.outfolder import OutFolder
from qagen.outfolder.journal import JournalEntry
from qagen.pipeline import stages
from qagen.settings import Settings


def budget_rates(settings: Settings) -> Rates | None:
    """Dollars per token of the run's model; None when no price is known (or the offline generator, which is free).

    With --max-cost a price must be known, before anything is read or sent.
    """
    if settings.offline:
        return None
    price = run_price(settings)
    if price.known:
        return Rates.of(price)
    if settings.max_cost is not None:
        missing = " and ".join(flag for flag, value in (("--price-input", price.input), ("--price-output", price.output)) if value is None)
        raise ConfigError(
            f"--max-cost needs the price of {settings.model}, which qagen's price table does not know: "
            f"pass {missing} (dollars per million tokens)."
        )
    return None


def run_price(settings: Settings) -> Price:
    """The price the run pays: with --batch, the Batch API's (half of the table's, for the models it has)."""
    price = price_for(settings.model, input=settings.price_input, output=settings.price_output)
    if settings.batch and price.batch and price.input is not None and price.output is not None:
        cached = None if price.cached_input is None else price.cached_input * BATCH_DISCOUNT
        price = dataclasses.replace(price, input=price.input * BATCH_DISCOUNT, output=price.output * BATCH_DISCOUNT,
                                    cached_input=cached, source=f"the Batch API at {BATCH_DISCOUNT:.0%} of {price.source}")
    return price


def check_reply_caps(run: stages.Run) -> None:
    """With --max-cost every request needs a worst case: a cap on its reply, or the model's known window."""
    if stages.overflow.context_window(run.settings) is not None:
        return
    for template in run.templates.values():
        if completion_cap(template.params) is None:
            raise ConfigError(
                f"--max-cost needs the most a reply may cost, and template {template.name} sets no max_tokens; "
                "set max_tokens in its params, or pass --max-context."
            )


def make_ledger(
    settings: Settings, rates: Rates | None, counter: TokenCounter,
    answered_before: dict[str, JournalEntry], out: OutFolder, on_notice: Callable[[str], None],
) -> Ledger | None:
    """The ledger that keeps the run under --max-cost; None without a cap (or for the offline generator)."""
    if settings.max_cost is None or rates is None:
        return None
    # The cap is for the out folder: what its earlier runs spent counts, their answers in the journal and
    # the attempts whose reply never arrived.
    spent = Ledger.spent_by(rates, (e.completion for e in answered_before.values()))
    lost = [attempt for line in out.read_unanswered() if (attempt := _unanswered(line)) is not None]

    def on_lost(attempt: NotSent, reason: str) -> None:
        out.record_unanswered({"key": attempt.key, "reason": reason, "prompt_tokens": attempt.prompt_tokens,
                               "max_tokens": attempt.cap_tokens})

    return Ledger(rates, settings.max_cost, counter, spent_before=spent, lost_before=lost,
                  window=stages.overflow.context_window(settings), on_stop=on_notice, on_lost=on_lost)


def _unanswered(line: dict) -> NotSent | None:
    try:
        return NotSent(str(line["key"]), int(line["prompt_tokens"]), int(line["max_tokens"]))
    except (KeyError, TypeError, ValueError):
        return None  # a line damaged by hand: what it would have added is not known


def cost_report(
    settings: Settings, rates: Rates | None, ledger: Ledger | None,
    answered: dict[str, JournalEntry], answered_before: dict[str, JournalEntry],
) -> dict | None:
    """Spent (by the out folder's runs, and by this one), the cap, and the projected cost; None when no price is known."""
    if settings.offline:
        return {"spent": 0.0, "spent_this_run": 0.0, "unanswered": 0.0, "cap": settings.max_cost, "requests_not_sent": 0,
                "projected": 0.0, "price": None}
    if rates is None:
        return None
    if ledger is not None:
        spent, now, projected, not_sent = ledger.spent, ledger.spent_now + ledger.lost_now, ledger.projected(), len(ledger.not_sent)
        unanswered = ledger.lost_before + ledger.lost_now
    else:
        now = Ledger.spent_by(rates, (e.completion for key, e in answered.items() if key not in answered_before))
        spent = Ledger.spent_by(rates, (e.completion for e in answered.values()))
        projected, not_sent, unanswered = spent, 0, Fraction(0)
    price = run_price(settings)
    return {
        "spent": round(float(spent), 6),
        "spent_this_run": round(float(now), 6),
        "unanswered": round(float(unanswered), 6),  # of spent: attempts whose reply never arrived, at their worst case
        "cap": settings.max_cost,
        "requests_not_sent": not_sent,
        "projected": round(float(projected), 6),
        "price": {"input": price.input, "cached_input": price.cached_input, "output": price.output, "source": price.source},
    }
