"""What a model's tokens cost: one small, dated table of well-known models, and the user's own figures.

The figures are US dollars per million tokens, as published on OpenAI's pricing page
(https://openai.com/api/pricing), as of August 2025; they were not re-checked after that, so a
price that changed since is the user's to pass (--price-input, --price-output, or
``price_input``/``price_output`` in the config file). A model not in the table gets no price:
guessing one would print a cost nobody charges.
"""

from __future__ import annotations

from dataclasses import dataclass

from qagen.documents.tokens import base_model_name

PRICES_AS_OF = "2025-08"
PRICES_SOURCE = "OpenAI's pricing page (https://openai.com/api/pricing)"
# The Batch API bills half the price of the same requests sent online (OpenAI's Batch API guide).
BATCH_DISCOUNT = 0.5


@dataclass(frozen=True)
class Price:
    """Dollars per million tokens; ``cached_input`` and ``batch`` only where the provider publishes them."""

    input: float | None
    output: float | None
    cached_input: float | None = None
    batch: bool = False  # the Batch API takes this model at BATCH_DISCOUNT of the price
    source: str = PRICES_SOURCE

    @property
    def known(self) -> bool:
        return self.input is not None and self.output is not None

    def cost(self, input_tokens: int, output_tokens: int) -> float | None:
        """Dollars for that many tokens; None without both prices."""
        if self.input is None or self.output is None:
            return None
        return (input_tokens * self.input + output_tokens * self.output) / 1_000_000


# model -> (input, cached input, output), dollars per million tokens.
_TABLE: dict[str, tuple[float, float, float]] = {
    "gpt-4o-mini": (0.15, 0.075, 0.60),
    "gpt-4o": (2.50, 1.25, 10.00),
    "gpt-4.1": (2.00, 0.50, 8.00),
    "gpt-4.1-mini": (0.40, 0.10, 1.60),
    "gpt-4.1-nano": (0.10, 0.025, 0.40),
    "gpt-5": (1.25, 0.125, 10.00),
    "gpt-5-mini": (0.25, 0.025, 2.00),
    "gpt-5-nano": (0.05, 0.005, 0.40),
    "o3": (2.00, 0.50, 8.00),
    "o4-mini": (1.10, 0.275, 4.40),
}


def _table_name(model: str) -> str | None:
    """The table's name for a model: dated snapshots ("gpt-4o-2024-08-06") and "openai/" prefixes included."""
    name = base_model_name(model.strip()).lower().rsplit("/", 1)[-1]
    # The longest name first, so "gpt-4o-mini-2024-07-18" is not taken for "gpt-4o".
    for known in sorted(_TABLE, key=len, reverse=True):
        rest = name[len(known):]
        if name == known or (name.startswith(known) and rest[:1] == "-" and rest[1:5].isdigit()):
            return known
    return None


def price_for(model: str, *, input: float | None = None, output: float | None = None) -> Price:
    """The model's price, with the user's figures (``input``, ``output``) over the table's."""
    known = _table_name(model)
    if known is None:
        return Price(input=input, output=output, source="your settings")
    table_input, cached, table_output = _TABLE[known]
    overridden = input is not None or output is not None
    return Price(
        input=table_input if input is None else input,
        output=table_output if output is None else output,
        cached_input=None if overridden else cached,
        batch=not overridden,
        source=f"your settings and {PRICES_SOURCE}, {PRICES_AS_OF}" if overridden else f"{PRICES_SOURCE}, {PRICES_AS_OF}",
    )
