"""``--judge``: a model rates every grounded pair against its chunk.

One request per chunk carries the chunk and its pairs (``templates/judge.json``). Ratings
are keyed by pair id; the pair text kept is always qagen's own, never the judge's echo.
A pair rated below the threshold, or not rated at all, goes to the rejects with the
rating and the judge's reason: nothing passes the judge unexamined.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from qagen.llm.asker import Asker, Failure
from qagen.llm.budget import NOT_SENT
from qagen.llm.keys import message_parts, request_key
from qagen.llm.templates import ChatTemplate
from qagen.quality.checks import reject
from qagen.records import Pair, Rejection, Request
from qagen.replies.ratings import Rating, parse_ratings, short_id


def render_pairs_for_judge(pairs: Sequence[Pair]) -> str:
    """The pairs as JSON lines ``{"id": "p1", "question": ..., "answer": ...}``, in order.

    Short ids (``short_id``), not the pairs' own: ``parse_ratings`` maps them back.
    """
    return "\n".join(
        json.dumps({"id": short_id(i), "question": pair.question, "answer": pair.answer}, ensure_ascii=False)
        for i, pair in enumerate(pairs)
    )


async def judge_pairs(
    asker: Asker,
    pairs: Sequence[Pair],
    chunk_texts: Mapping[str, str],
    *,
    template: ChatTemplate,
    threshold: int,
) -> tuple[list[Pair], list[Rejection], list[Failure], dict[str, Rating]]:
    """Kept pairs, rejections, failed requests, and each rated pair's rating (score and reason), by pair id."""
    by_chunk: dict[str, list[Pair]] = {}
    for pair in pairs:
        if pair.kind == "grounded":
            by_chunk.setdefault(pair.chunk_id, []).append(pair)
    requests: dict[str, Request] = {}
    for chunk_id, chunk_pairs in by_chunk.items():
        messages = template.render(passage=chunk_texts[chunk_id], pairs=render_pairs_for_judge(chunk_pairs))
        requests[chunk_id] = Request(key=request_key("judge", *message_parts(messages)), messages=messages, params=template.request_params(len(chunk_pairs)))
    answers, failures = await asker.ask(list(requests.values()))

    ratings_by_id: dict[str, Rating] = {}
    unrated_reason: dict[str, str] = {}
    refused: dict[str, str] = {}  # pair id -> the reason of a request no rerun can mend
    failed = {f.key: f for f in failures}
    for chunk_id, chunk_pairs in by_chunk.items():
        key = requests[chunk_id].key
        if key not in answers:
            why = "the judge request failed after every retry; rerun to ask again"
            failure = failed.get(key)
            if failure is not None and failure.reason == NOT_SENT:
                why = f"the judge request was {failure.detail}"
                refused.update((pair.id, NOT_SENT) for pair in chunk_pairs)
            elif failure is not None and failure.reason == "context_too_long":
                why = f"the judge request is over the model's context window ({failure.detail}); the pair is left unjudged"
            elif failure is not None and not failure.rerun_helps:
                why = f"the endpoint refused the judge request as too large (413: {failure.detail})"
            for pair in chunk_pairs:
                unrated_reason[pair.id] = why
                if failure is not None and failure.reason == "context_too_long":
                    refused[pair.id] = failure.reason
            continue
        ratings, problems = parse_ratings(answers[key].text, [p.id for p in chunk_pairs])
        for pair in chunk_pairs:
            if pair.id in ratings:
                ratings_by_id[pair.id] = ratings[pair.id]
            else:
                unrated_reason[pair.id] = "the judge gave no rating for it" + (f" ({problems[0]})" if problems else "")

    kept: list[Pair] = []
    rejected: list[Rejection] = []
    for pair in pairs:
        if pair.kind != "grounded":
            kept.append(pair)
        elif pair.id in unrated_reason:
            rejected.append(reject(pair, "judge", refused.get(pair.id, "judge_unrated"), unrated_reason[pair.id]))
        elif (rating := ratings_by_id[pair.id]).score < threshold:
            rejected.append(reject(pair, "judge", "judge_low_score", f"rated {rating.score}/5 (threshold {threshold}): {rating.reason}"))
        else:
            kept.append(pair)
    return kept, rejected, failures, ratings_by_id
