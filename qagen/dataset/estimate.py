"""What a dataset costs to fine-tune: token statistics, and the service's default epochs and billed tokens.

``TokenStats`` summarises the token counts of the examples; ``estimate_finetune`` follows the
rule of OpenAI's data preparation notebook for the number of epochs left on auto, and counts
every example up to the per-example limit, as training truncates it. The run report
(``qagen.pipeline``), ``qagen validate`` and ``qagen finetune`` use them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from qagen.options import MAX_EXAMPLE_TOKENS


@dataclass(frozen=True)
class TokenStats:
    examples: int
    total: int
    min: int
    mean: float
    p50: float
    p90: float
    max: int

    @classmethod
    def of(cls, counts: Sequence[int]) -> TokenStats | None:
        if not counts:
            return None
        ordered = sorted(counts)
        return cls(
            examples=len(ordered), total=sum(ordered), min=ordered[0], mean=sum(ordered) / len(ordered),
            p50=_quantile(ordered, 0.5), p90=_quantile(ordered, 0.9), max=ordered[-1],
        )


def _quantile(ordered: Sequence[int], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25


@dataclass(frozen=True)
class FinetuneEstimate:
    examples: int
    n_epochs: int  # what the service picks when n_epochs is left on auto
    tokens_per_epoch: int  # each example counted up to the limit, as training truncates it
    billed_tokens: int
    truncated_examples: int


def estimate_finetune(token_counts: Sequence[int], *, limit: int = MAX_EXAMPLE_TOKENS) -> FinetuneEstimate:
    """Default epochs and billed tokens, by the rule of OpenAI's data preparation notebook.

    Small files get more epochs so that about MIN_TARGET_EXAMPLES examples are seen, huge
    ones fewer; no examples means no training (0 epochs).
    """
    n = len(token_counts)
    n_epochs = TARGET_EPOCHS if n else 0
    if n and n * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        n_epochs = min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // n)
    elif n and n * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        n_epochs = max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // n)
    per_epoch = sum(min(limit, count) for count in token_counts)
    return FinetuneEstimate(
        examples=n, n_epochs=n_epochs, tokens_per_epoch=per_epoch, billed_tokens=n_epochs * per_epoch,
        truncated_examples=sum(1 for count in token_counts if count > limit),
    )
