"""The train/validation split: seeded, deterministic, and leak-free.

Pairs are grouped before splitting so that no group straddles the two files: all pairs
of one chunk stay together (they ask about the same facts), and so do questions linked
by a chain of near duplicates across chunks. Otherwise a validation score would partly
measure memorised training questions. "I don't know" examples are split on their own,
so both sides get some whenever there are at least two.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from qagen.dedupe import cluster
from qagen.records import Pair
from qagen.validate import MIN_EXAMPLES

@dataclass(frozen=True)
class Split:
    train: list[Pair]
    valid: list[Pair]
    warnings: list[str]


def split_pairs(pairs: Sequence[Pair], valid_fraction: float, seed: int, *, near_threshold: float) -> Split:
    """``near_threshold`` is the word-set Jaccard at which two questions count as near duplicates.

    Dedupe at the same threshold leaves no such pair, so grouping by it costs nothing
    then; it keeps the guarantee when the pairs come from elsewhere. A lower threshold
    would chain short, similar-looking questions ("What is X?", "What is Y?") into one
    giant group and wreck the split.
    """
    grounded = [p for p in pairs if p.kind != "idk"]
    idk = [p for p in pairs if p.kind == "idk"]
    groups = _groups(pairs, near_threshold)
    picked = _pick_valid(grounded, groups, valid_fraction, seed) | _pick_valid(idk, groups, valid_fraction, seed)
    # A group can hold both kinds (an idk question close to a grounded one): it moves whole.
    valid_groups = {groups[pair_id] for pair_id in picked}
    valid_ids = {p.id for p in pairs if groups[p.id] in valid_groups}
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


def _groups(pairs: Sequence[Pair], near_threshold: float) -> dict[str, int]:
    """A group number per pair id: same chunk, or a chain of near-duplicate questions."""
    parent = list(range(len(pairs)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(a: int, b: int) -> None:
        a, b = root(a), root(b)
        if a != b:
            parent[max(a, b)] = min(a, b)

    first_of_chunk: dict[str, int] = {}
    for i, pair in enumerate(pairs):
        if pair.kind != "idk" and pair.chunk_id:
            join(i, first_of_chunk.setdefault(pair.chunk_id, i))
    for i, group in enumerate(cluster([p.question for p in pairs], near_threshold)):
        join(i, group)
    return {pair.id: root(i) for i, pair in enumerate(pairs)}


def _pick_valid(pairs: Sequence[Pair], groups: dict[str, int], valid_fraction: float, seed: int) -> set[str]:
    """Ids of the pairs held out: whole groups, in seeded random order, until the fraction is reached."""
    if valid_fraction <= 0 or len(pairs) < 2:
        return set()
    members: dict[int, list[str]] = {}
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
