"""The spending cap (``--max-cost``): a ledger of what the out folder's runs spent, and the model that keeps to it.

The cap is for the out folder, not for one invocation: the answers in its journal were paid
for by earlier runs and count as spent, so ``--max-cost 5`` and then ``--max-cost 10`` spend at
most 10 in all. (``--restart`` discards the journal, and with it that count.)

Before a request is sent, ``Ledger.reserve`` books its worst case: every prompt token at the
input price plus the completion cap (``max_tokens``) at the output price. A request whose worst
case would take what is spent plus what is booked for the requests in flight over the cap is not
sent, and from then on no request is: the run stops asking, those in flight finish. When an answer
arrives, ``settle`` replaces its booking with what its usage says it cost. Reserving and checking
happen with no ``await`` between them, so the workers of one event loop cannot both book the last
dollar.

What counts as billed: an answer, by its usage (prompt tokens the usage reports as cached at the
cached-input price, where the price table has one). An attempt answered with an error status (429,
5xx, a 400 refusal of a parameter) is not billed by OpenAI: it costs nothing, and the retry that
follows goes out under the same booking. An attempt whose reply never arrived (a timeout, a dropped
connection, a body cut off) may have been billed, since the service can finish a reply nobody
reads, and no usage says what it cost: it is counted at its worst case (``lost``), and recorded in
the out folder so a rerun counts it too. Its retry then goes out only if its booking still fits
under the cap with that counted. Answers from the call cache and the offline generator cost
nothing: the cache sits in front of this model, so a cache hit never reaches the ledger.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from fractions import Fraction

from qagen.documents.tokens import TokenCounter, count_chat_tokens
from qagen.errors import ConfigError
from qagen.llm.failures import RequestFailed
from qagen.llm.model import ChatModel
from qagen.llm.prices import Price
from qagen.records import Completion, Request

NOT_SENT = "budget"  # the failure reason of a request the cap kept from being sent
NOT_SENT_DETAIL = "not sent: the --max-cost cap was reached; rerun with a higher --max-cost to ask it"
# Failures (as qagen.llm.client.describe_failure names them) whose reply never arrived: billed or not, nobody can tell.
MAYBE_BILLED = frozenset({"timeout", "connection error", "malformed reply"})
TYPICAL_SHARE = Fraction(6, 10)  # of max_tokens, a reply's length when no answer has shown one yet (as --dry-run)
# A prompt counted with an OpenAI encoding for a model that is not OpenAI's is an estimate: book this much more.
ESTIMATE_MARGIN = Fraction(1, 4)


@dataclass(frozen=True)
class Rates:
    """Dollars per token, exact (Fractions of the decimal prices), so a sum never drifts over the cap."""

    input: Fraction
    cached_input: Fraction
    output: Fraction

    @staticmethod
    def of(price: Price) -> Rates:
        assert price.input is not None and price.output is not None
        per_million = Fraction(1, 1_000_000)
        cached = price.cached_input if price.cached_input is not None else price.input
        return Rates(Fraction(repr(price.input)) * per_million, Fraction(repr(cached)) * per_million,
                     Fraction(repr(price.output)) * per_million)

    def cost(self, completion: Completion) -> Fraction:
        """What an answer cost by its usage; nothing for one that was not billed."""
        if not completion.billed:
            return Fraction(0)
        cached = min(max(completion.cached_tokens, 0), completion.prompt_tokens)
        return ((completion.prompt_tokens - cached) * self.input + cached * self.cached_input
                + completion.completion_tokens * self.output)


def completion_cap(params: dict) -> int | None:
    """The most tokens a reply may have, from the request's parameters; None when nothing caps it."""
    value = params.get("max_completion_tokens") or params.get("max_tokens")
    return int(value) if value else None


@dataclass(frozen=True)
class Booking:
    """One request in flight, booked at its worst case."""

    key: str
    worst: Fraction
    prompt_tokens: int
    cap_tokens: int


@dataclass(frozen=True)
class NotSent:
    """A request the cap kept back (or, in ``Ledger.lost``, an attempt whose reply never arrived)."""

    key: str
    prompt_tokens: int
    cap_tokens: int


# The booking of the request the current task is sending: the client's retry listener runs in that task,
# so a lost attempt is charged to the request it belonged to.
_sending: ContextVar[Booking | None] = ContextVar("qagen_budget_sending", default=None)


class Ledger:
    """What the out folder spent, what is in flight, and whether the next request may go."""

    def __init__(
        self,
        rates: Rates,
        cap: float | None,
        counter: TokenCounter,
        *,
        spent_before: Fraction = Fraction(0),
        lost_before: Iterable[NotSent] = (),
        window: int | None = None,
        on_stop: Callable[[str], None] = lambda sentence: None,
        on_lost: Callable[[NotSent, str], None] = lambda attempt, reason: None,
    ) -> None:
        self.rates = rates
        self.cap = None if cap is None else Fraction(repr(cap))
        self.spent_before = spent_before
        self.spent_now = Fraction(0)
        self.in_flight = Fraction(0)
        self.not_sent: list[NotSent] = []
        self.lost: list[NotSent] = []  # this run's attempts whose reply never arrived, counted at their worst case
        self.lost_before = sum((self._worst(a.prompt_tokens, a.cap_tokens) for a in lost_before), Fraction(0))
        self.stopped = False
        self._counter = counter
        self._window = window
        self._on_stop = on_stop
        self._on_lost = on_lost
        self._reply_share: list[Fraction] = []  # each answer's completion tokens over its cap: for the projection

    @staticmethod
    def spent_by(rates: Rates, completions: Iterable[Completion]) -> Fraction:
        return sum((rates.cost(c) for c in completions), Fraction(0))

    @property
    def spent(self) -> Fraction:
        """Billed answers, and attempts whose reply never arrived at their worst case, of this run and the earlier ones."""
        return self.spent_before + self.spent_now + self.lost_before + self.lost_now

    @property
    def lost_now(self) -> Fraction:
        return sum((self._worst(a.prompt_tokens, a.cap_tokens) for a in self.lost), Fraction(0))

    def _worst(self, prompt_tokens: int, cap_tokens: int) -> Fraction:
        return prompt_tokens * self.rates.input + cap_tokens * self.rates.output

    def prompt_tokens(self, request: Request) -> int:
        """The prompt's tokens as the endpoint bills them, erring high.

        A ``response_format`` schema is counted too: OpenAI adds it to what the model reads.
        """
        tokens = count_chat_tokens([m.as_dict() for m in request.messages], self._counter)
        if (response_format := request.params.get("response_format")) is not None:
            tokens += self._counter(json.dumps(response_format, ensure_ascii=False))
        if not self._counter.exact:
            tokens += int(tokens * ESTIMATE_MARGIN) + 1
        return tokens

    def cap_tokens(self, request: Request, prompt_tokens: int) -> int:
        cap = completion_cap(request.params)
        if cap is not None:
            return cap
        if self._window is not None:  # nothing caps the reply but the model's window
            return max(self._window - prompt_tokens, 0)
        raise ConfigError(
            "--max-cost needs the most a reply may cost, and a template sets no max_tokens; "
            "set max_tokens in its params, or pass --max-context."
        )

    def reserve(self, request: Request) -> Booking | None:
        """Book the request's worst case; None (and no request is sent from then on) when it could cross the cap."""
        prompt = self.prompt_tokens(request)
        cap_tokens = self.cap_tokens(request, prompt)
        worst = self._worst(prompt, cap_tokens)
        if self.stopped or self._over(worst):
            self.not_sent.append(NotSent(request.key, prompt, cap_tokens))
            self._stop()
            return None
        self.in_flight += worst
        return Booking(request.key, worst, prompt, cap_tokens)

    def _over(self, more: Fraction) -> bool:
        return self.cap is not None and self.spent + self.in_flight + more > self.cap

    def _stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self._on_stop(
                f"the next request could cross the --max-cost cap of {money(self.cap)} ({money(self.spent)} spent, "
                f"{money(self.in_flight)} booked for the requests in flight): no more requests are sent"
            )

    def attempt_failed(self, reason: str) -> None:
        """The client is about to retry the current task's request after ``reason``.

        An attempt whose reply never arrived is counted at its worst case; then the retry, still
        under the request's booking, goes only if that fits: else this raises, and it is not sent.
        """
        booking = _sending.get()
        if booking is None or reason not in MAYBE_BILLED:
            return
        self._lose(booking, reason)
        # Its booking is still in flight: the retry goes if what is spent now leaves it room, stopped or not.
        if self._over(Fraction(0)):
            self._stop()
            self.in_flight -= booking.worst
            _sending.set(None)  # given back here: the request's end must not give it back again
            self.not_sent.append(NotSent(booking.key, booking.prompt_tokens, booking.cap_tokens))
            raise RequestFailed(NOT_SENT, NOT_SENT_DETAIL)

    def _lose(self, booking: Booking, reason: str) -> None:
        attempt = NotSent(booking.key, booking.prompt_tokens, booking.cap_tokens)
        self.lost.append(attempt)
        self._on_lost(attempt, reason)

    def settle(self, booking: Booking, completion: Completion) -> None:
        """Replace the booking with what the answer cost."""
        self.in_flight -= booking.worst
        self.spent_now += self.rates.cost(completion)
        if booking.cap_tokens:
            self._reply_share.append(Fraction(min(completion.completion_tokens, booking.cap_tokens), booking.cap_tokens))

    def release(self, booking: Booking, reason: str | None = None) -> None:
        """Give the booking back: the request got no answer; one whose last reply never arrived counts as ``lost``."""
        self.in_flight -= booking.worst
        if reason in MAYBE_BILLED:
            self._lose(booking, reason)

    def projected(self) -> Fraction:
        """Spent, plus what the requests the cap kept back would typically cost (replies as long as the answers so far)."""
        share = sum(self._reply_share, Fraction(0)) / len(self._reply_share) if self._reply_share else TYPICAL_SHARE
        return self.spent + sum(
            (n.prompt_tokens * self.rates.input + n.cap_tokens * share * self.rates.output for n in self.not_sent), Fraction(0)
        )

    def stop_sentence(self) -> str:
        """What the CLI says when the cap stopped the run."""
        return (
            f"the --max-cost cap stopped the run: {money(self.spent)} spent of the {money(self.cap)} cap, "
            f"{len(self.not_sent)} requests not sent (the whole run would cost about {money(self.projected())}); "
            "rerun with a higher --max-cost to continue (what was answered is not asked again)."
        )


def money(value: Fraction | float | None) -> str:
    """Dollars as a person reads them: cents, or four decimals below a cent."""
    if value is None:
        return "no cap"
    amount = float(value)
    return f"${amount:,.2f}" if amount >= 0.01 or amount == 0 else f"${amount:.4f}"


class BudgetedModel:
    """A ChatModel that asks the ledger before each request and tells it what each answer cost."""

    def __init__(self, inner: ChatModel, ledger: Ledger) -> None:
        self.name = inner.name
        self._inner = inner
        self._ledger = ledger

    async def complete(self, request: Request) -> Completion:
        booking = self._ledger.reserve(request)
        if booking is None:
            raise RequestFailed(NOT_SENT, NOT_SENT_DETAIL)
        token = _sending.set(booking)
        try:
            completion = await self._inner.complete(request)
        except RequestFailed as exc:
            if _sending.get() is booking:  # else the cap kept its retry back, and gave the booking back then
                self._ledger.release(booking, exc.reason)
            raise
        except BaseException:
            # A fatal error or a cancelled run: no answer came, and the run stops here.
            if _sending.get() is booking:
                self._ledger.release(booking)
            raise
        finally:
            _sending.reset(token)
        self._ledger.settle(booking, completion)
        return completion

    async def aclose(self) -> None:
        await self._inner.aclose()
