"""The train/validation split: seeded, deterministic, and leak-free.

All pairs of one chunk stay on the same side: they ask about the same facts, and a
validation score would otherwise partly measure memorised training questions. Near-
duplicate questions need no grouping here: the pipeline dedupes first, which leaves no
two questions asking for the same fact (alike questions about different things, "Route 1"
and "Route 2", may fall on both sides: neither answer gives the other away). "I don't know" examples are
split on their own, so both sides get some whenever there are at least two.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from qagen.records import Pair
from qagen.dataset.checks import MIN_EXAMPLES

@dataclass(frozen=True)
class Split:
    train: list[Pair]
    valid: list[Pair]
    warnings: list[str]


def split_pairs(pairs: Sequence[Pair], valid_fraction: float, seed: int) -> Split:
    grounded = [p for p in pairs if p.kind != "idk"]
    idk = [p for p in pairs if p.kind == "idk"]
    # A grounded pair's group is its chunk; an idk pair is a group of its own.
    groups = {p.id: (p.chunk_id if p.kind != "idk" else p.id) for p in pairs}
    valid_ids = _pick_valid(grounded, groups, valid_fraction, seed) | _pick_valid(idk, groups, valid_fraction, seed)
    train = [p for p in pairs if p.id not in valid_ids]
    valid = [p for p in pairs if p.id in valid_ids]
    warnings = []
    if len(train) < MIN_EXAMPLES:
        warnings.append(
            f"only {len(train)} training examples: fine-tuning needs at least {MIN_EXAMPLES}; add documents or raise -n"
        )
    if valid_fraction > 0 and len(pairs) >= 2 and not valid:
        warnings.append("the validation file is empty: every group of related questions is needed for training")
    elif valid_fraction > 0 and 0 < len(valid) < MIN_EXAMPLES:
        warnings.append(f"only {len(valid)} validation examples: validation loss will be noisy")
    return Split(train=train, valid=valid, warnings=warnings)


def _pick_valid(pairs: Sequence[Pair], groups: dict[str, str], valid_fraction: float, seed: int) -> set[str]:
    """Ids of the pairs held out: whole groups, in seeded random order, until the fraction is reached."""
    if valid_fraction <= 0 or len(pairs) < 2:
        return set()
    members: dict[str, list[str]] = {}
    for pair in pairs:
        members.setdefault(groups[pair.id], []).append(pair.id)
    order = sorted(members)
    random.Random(seed).shuffle(order)
    target = max(1, round(len(pairs) * valid_fraction))
    chosen: set[str] = set()
    for group in order[:-1]:  # the last group always stays in training
        if len(chosen) >= target:
            break
        if len(chosen) + len(members[group]) > 2 * target and chosen:
            continue  # a big group would overshoot: try smaller ones
        chosen.update(members[group])
    return chosen
