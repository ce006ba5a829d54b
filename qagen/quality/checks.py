"""A dropped pair as a Rejection: ``reject``, for every check that drops pairs.

The checks themselves live with what they check: ``qagen.quality.judge`` (the judge's
ratings), ``qagen.dataset.examples`` (usable text, grounding, the example format rules).
"""

from __future__ import annotations

import json

from qagen.records import Pair, Rejection


def pair_raw(pair: Pair) -> str:
    return json.dumps({"question": pair.question, "answer": pair.answer}, ensure_ascii=False)


def reject(pair: Pair, stage: str, reason: str, detail: str) -> Rejection:
    return Rejection(
        stage=stage, reason=reason, detail=detail, raw=pair_raw(pair), source=pair.source, chunk_id=pair.chunk_id, pair_id=pair.id
    )
