"""``qagen eval``: ask a model the held-out questions and score its answers.

The held-out questions are the valid split of a run's ``pairs.jsonl``: its grounded
pairs (answerable, with the reference answer) and its "I don't know" pairs (the
unanswerable probes). Each is asked with the system message the dataset was written
with (the first example of ``valid.jsonl``), at temperature 0.

Scores
------

- An answerable question is *correct* when the model did not refuse and, with a judge,
  the judge rated the answer at least ``JUDGE_PASS`` (4 of 5); without a judge (or for an
  answer the judge left unrated), when the normalised answer equals the reference or
  their token F1 reaches ``f1_threshold``. A refusal is never correct, and its exact
  match and F1 count as 0.
- An unanswerable probe is handled well when the model refused it.
- Three headline rates: accuracy (answerable questions answered correctly), correct
  refusals (unanswerable probes refused) and wrong refusals (answerable questions refused).
  A rate with nothing to count is ``None``, not 0.
- A request that fails after every retry is counted in ``failures`` and left out of every
  rate; it is never scored right or wrong.

Refusals
--------

Whether a reply declines to answer is decided by ``qagen.evaluate.refusals.looks_like_refusal``
(its rules are in that module's docstring), after a reasoning block (``<think>...</think>``)
is removed by ``qagen.replies.reasoning.strip_reasoning``. Answers are matched against their
reference by ``qagen.evaluate.matching``.

Resuming
--------

With ``resume_dir``, every answer (and judge reply) is appended to
``resume_dir/.qagen/journal.jsonl`` as it arrives, and an answer found there is not
asked again, so an interrupted evaluation picks up where it stopped. Requests are keyed
by the model's name and identity (``qagen.evaluate.identity``: an adapter's file digest,
what an endpoint says of its model) and the messages, so an answer is reused only from the
model that gave it (``qagen.evaluate.answers``); the folder's lock keeps a second
evaluation out of it meanwhile. Without ``resume_dir`` nothing is written
while asking.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from qagen.evaluate.answers import Answers
from qagen.evaluate.identity import ModelIdentity
from qagen.evaluate.matching import exact_match, token_f1
from qagen.errors import ConfigError, OutputError
from qagen.outfolder import unfinished_switch, write_atomic
from qagen.outfolder.lines import json_line
from qagen.llm.model import ChatModel
from qagen.llm.keys import message_parts, request_key
from qagen.llm.templates import ChatTemplate, builtin_template_path, load_template
from qagen.records import Message, Request
from qagen.evaluate.refusals import looks_like_refusal
from qagen.replies.ratings import parse_ratings, short_id
from qagen.replies.reasoning import strip_reasoning

__all__ = [
    "ANSWER_PARAMS",
    "answer_request",
    "EVAL_DIR",
    "JUDGE_BATCH",
    "JUDGE_PASS",
    "EvalItem",
    "EvalReport",
    "ItemScore",
    "evaluate",
    "load_eval_items",
    "render_eval",
    "safe_model_name",
    "write_eval",
]

EVAL_DIR = "eval"
ANSWER_PARAMS = {"temperature": 0, "max_tokens": 300}
JUDGE_PASS = 4  # a judge score of at least this makes an answer correct
JUDGE_BATCH = 8  # answers rated per judge request: fewer requests, short enough to rate carefully


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class EvalItem:
    """One held-out question with the answer the dataset gives for it."""

    pair_id: str
    kind: str  # "grounded" (answerable) or "idk" (an unanswerable probe)
    question: str
    reference: str
    system: str | None  # the dataset's system message, None when it has none


@dataclass(frozen=True)
class ItemScore:
    pair_id: str
    kind: str
    question: str
    reference: str
    prediction: str  # the model's reply, reasoning block removed
    refused: bool
    exact: bool
    f1: float
    judge_score: int | None  # None without a judge, for probes, refusals, and answers the judge left unrated
    correct: bool  # answerable: answered correctly; probe: refused


@dataclass(frozen=True)
class EvalReport:
    model: str
    items: int  # questions asked, failures included
    answerable: int
    unanswerable: int
    accuracy: float | None  # share of answered answerable questions answered correctly
    exact_match: float | None
    mean_f1: float | None
    correct_refusal_rate: float | None  # share of answered unanswerable probes the model refused
    wrong_refusal_rate: float | None  # share of answered answerable questions the model refused
    judge_mean: float | None  # mean judge score of the answers it rated (refusals are not sent to it)
    scores: tuple[ItemScore, ...]
    failures: int  # requests that failed after every retry; their items are in no rate
    failed_ids: tuple[str, ...] = ()  # pair ids of those items
    judge_model: str | None = None
    judge_unrated: int = 0  # answers the judge did not rate; scored lexically instead
    f1_threshold: float = 0.5
    model_identity: dict | None = None  # the digest and facts of the model that answered (qagen.evaluate.identity)


# --------------------------------------------------------------------------- loading


def load_eval_items(out_dir: Path, *, split: str = "valid") -> list[EvalItem]:
    """The ``split`` questions of a qagen run's ``pairs.jsonl``, in file order."""
    pairs_path = out_dir / "pairs.jsonl"
    if not pairs_path.is_file():
        raise OutputError(
            f"{pairs_path} does not exist: pass the folder a qagen run wrote its dataset to (qagen CORPUS -o {out_dir})."
        )
    if mixed := unfinished_switch(out_dir):
        raise OutputError(mixed)
    system = _dataset_system_message(out_dir, split)
    items: list[EvalItem] = []
    for number, row in _jsonl_rows(pairs_path):
        if row.get("split") != split:
            continue
        try:
            pair_id, kind, question, answer = (row[k] for k in ("id", "kind", "question", "answer"))
        except KeyError as exc:
            raise OutputError(f"{pairs_path} line {number} has no {exc.args[0]!r} field; rerun qagen to rewrite it.") from None
        if kind not in ("grounded", "idk"):
            raise OutputError(f"{pairs_path} line {number} has an unknown kind {kind!r} (expected grounded or idk).")
        items.append(EvalItem(str(pair_id), kind, str(question), str(answer), system))
    if not items:
        raise OutputError(
            f"{pairs_path} holds no {split} questions; rerun qagen with --valid-fraction above 0 to hold some out."
        )
    return items


def _jsonl_rows(path: Path) -> list[tuple[int, dict]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise OutputError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}.") from None
    rows = []
    # Lines end at "\n" only: str.splitlines() would also cut at U+2028 and U+0085 inside a string.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            raise OutputError(f"{path} line {number} is not valid JSON; rerun qagen to rewrite it.") from None
        if not isinstance(row, dict):
            raise OutputError(f"{path} line {number} is not a JSON object; rerun qagen to rewrite it.")
        rows.append((number, row))
    return rows


def _dataset_system_message(out_dir: Path, split: str) -> str | None:
    """The system message of the dataset's first chat example; None for none or the legacy format."""
    for name in dict.fromkeys((f"{split}.jsonl", "valid.jsonl", "train.jsonl")):
        path = out_dir / name
        if not path.is_file():
            continue
        rows = _jsonl_rows(path)
        if not rows:
            continue
        messages = rows[0][1].get("messages")
        if isinstance(messages, list) and messages and isinstance(messages[0], dict) and messages[0].get("role") == "system":
            content = messages[0].get("content")
            return content if isinstance(content, str) and content else None
        return None
    return None


# --------------------------------------------------------------------------- asking


def answer_request(item: EvalItem, model_name: str, identity: str = "") -> Request:
    """The request asking ``item``; ``identity`` (a model identity's digest) keeps answers of two models of one name apart."""
    messages: list[Message] = []
    if item.system:
        messages.append(Message("system", item.system))
    messages.append(Message("user", item.question))
    key = request_key("eval", model_name, *([identity] if identity else []), *message_parts(messages))
    return Request(key=key, messages=tuple(messages), params=dict(ANSWER_PARAMS), n=1)


# --------------------------------------------------------------------------- evaluating


async def evaluate(
    items: Sequence[EvalItem],
    model: ChatModel,
    *,
    concurrency: int,
    judge_model: ChatModel | None = None,
    judge_template: ChatTemplate | None = None,
    f1_threshold: float = 0.5,
    say: Callable[[str], None] = lambda line: None,
    resume_dir: Path | None = None,
    judge_batch: int = JUDGE_BATCH,
    identity: ModelIdentity | None = None,
    judge_identity: ModelIdentity | None = None,
    fresh: bool = False,
) -> EvalReport:
    """Ask ``model`` every item, score the answers, and (with ``judge_model``) have them rated.

    ``identity`` tells ``model`` apart from other models of its name (default: the name alone),
    so that answers saved in ``resume_dir`` are reused only from the same model; ``fresh``
    asks everything again.
    """
    if concurrency < 1:
        raise ConfigError(f"concurrency must be at least 1, got {concurrency}.")
    if not 0.0 <= f1_threshold <= 1.0:
        raise ConfigError(f"the F1 threshold must be between 0 and 1, got {f1_threshold}.")
    if judge_batch < 1:
        raise ConfigError(f"the judge batch size must be at least 1, got {judge_batch}.")
    if judge_model is not None and judge_template is None:
        judge_template = load_template(builtin_template_path("eval_judge"), required=frozenset({"items"}))

    identity = identity or ModelIdentity(model.name)
    answers = Answers(resume_dir, fresh=fresh, concurrency=concurrency, warn=lambda sentence: say(f"warning: {sentence}"))
    try:
        answerable = sum(item.kind == "grounded" for item in items)
        say(f"asking {model.name} {len(items)} held-out questions ({answerable} answerable, {len(items) - answerable} unanswerable)")
        tag = answers.tag_for(identity, say, keys_under=lambda other: [answer_request(i, model.name, other).key for i in items])
        requests = [answer_request(item, model.name, tag) for item in items]
        reused = sum(r.key in answers.known for r in requests)
        if reused:
            alone = "" if identity.facts else (
                f" (matched by the name alone, as nothing more is known of {model.name}: "
                "pass --fresh after serving another model under that name)"
            )
            say(f"{reused} answers reused from an earlier evaluation in {resume_dir}{alone}")
        progress = _Progress(len(requests) - reused, say)
        replies, _ = await answers.ask(requests, model, concurrency=concurrency, on_answer=progress.tick)

        predictions: dict[str, str] = {}
        failed: list[str] = []
        for item, request in zip(items, requests):
            if request.key in replies:
                predictions[item.pair_id] = strip_reasoning(replies[request.key].text)
            else:
                failed.append(item.pair_id)
        if failed:
            say(f"{len(failed)} questions failed after every retry and are left out of the scores")

        scores = [_lexical_score(item, predictions[item.pair_id], f1_threshold) for item in items if item.pair_id in predictions]
        judge_scores: dict[str, int] = {}
        to_judge = [s for s in scores if s.kind == "grounded" and not s.refused]
        if judge_model is not None and judge_template is not None and to_judge:
            judge_tag = answers.tag_for(judge_identity or ModelIdentity(judge_model.name), say, what="ratings")
            judge_scores = await _judge(to_judge, answers, judge_model, judge_template, concurrency, judge_batch, say, judge_tag)
    finally:
        answers.close()

    scores = [_with_judge(s, judge_scores.get(s.pair_id)) for s in scores]
    judge_unrated = sum(1 for s in scores if s.kind == "grounded" and not s.refused and s.judge_score is None) if judge_model else 0
    report = _report(model.name, items, scores, failed, judge_model, judge_unrated, f1_threshold)
    return replace(report, model_identity={"digest": identity.digest, **identity.facts})


class _Progress:
    """A line every tenth of the way, so a long evaluation shows it is moving."""

    def __init__(self, total: int, say: Callable[[str], None]) -> None:
        self.total, self.done, self._say = total, 0, say
        self._step = max(1, total // 10)

    def tick(self) -> None:
        self.done += 1
        if self.done % self._step == 0 or self.done == self.total:
            self._say(f"answered {self.done}/{self.total}")


def _lexical_score(item: EvalItem, prediction: str, f1_threshold: float) -> ItemScore:
    refused = looks_like_refusal(prediction)
    if item.kind == "idk":
        # Exact match and F1 against the dataset's refusal are kept for reference; they are in no rate.
        exact, f1 = exact_match(prediction, item.reference), token_f1(prediction, item.reference)
        correct = refused
    elif refused:
        exact, f1, correct = False, 0.0, False
    else:
        exact, f1 = exact_match(prediction, item.reference), token_f1(prediction, item.reference)
        correct = exact or f1 >= f1_threshold
    return ItemScore(item.pair_id, item.kind, item.question, item.reference, prediction, refused, exact, f1, None, correct)


def _with_judge(score: ItemScore, rating: int | None) -> ItemScore:
    if rating is None or score.kind != "grounded" or score.refused:
        return score  # no rating: the lexical verdict stands (counted in judge_unrated when a judge was used)
    return ItemScore(**{**asdict(score), "judge_score": rating, "correct": rating >= JUDGE_PASS})


async def _judge(
    scores: Sequence[ItemScore],
    answers: Answers,
    judge_model: ChatModel,
    template: ChatTemplate,
    concurrency: int,
    batch: int,
    say: Callable[[str], None],
    tag: str,
) -> dict[str, int]:
    """Judge ratings by pair id; answers the judge could not rate are simply absent."""
    batches = [list(scores[i : i + batch]) for i in range(0, len(scores), batch)]
    requests = []
    for group in batches:
        messages = template.render(items=_render_items(group))
        requests.append(
            Request(key=request_key("evaljudge", judge_model.name, tag, *message_parts(messages)), messages=messages, params=template.request_params(len(group)))
        )
    say(f"judge {judge_model.name} rating {len(scores)} answers in {len(requests)} requests")
    replies, failures = await answers.ask(requests, judge_model, concurrency=concurrency)
    if failures:
        say(f"{len(failures)} judge requests failed after every retry; their answers are scored without the judge")
    ratings: dict[str, int] = {}
    for group, request in zip(batches, requests):
        if request.key not in replies:
            continue
        found, _problems = parse_ratings(replies[request.key].text, [s.pair_id for s in group])
        ratings.update({pair_id: rating.score for pair_id, rating in found.items()})
    return ratings


def _render_items(scores: Sequence[ItemScore]) -> str:
    return "\n".join(
        json.dumps(
            {"id": short_id(i), "question": s.question, "reference": s.reference, "answer": s.prediction},
            ensure_ascii=False,
        )
        for i, s in enumerate(scores)
    )


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _report(
    model_name: str,
    items: Sequence[EvalItem],
    scores: Sequence[ItemScore],
    failed: Sequence[str],
    judge_model: ChatModel | None,
    judge_unrated: int,
    f1_threshold: float,
) -> EvalReport:
    grounded = [s for s in scores if s.kind == "grounded"]
    probes = [s for s in scores if s.kind == "idk"]
    rated = [s.judge_score for s in grounded if s.judge_score is not None]
    answerable = sum(item.kind == "grounded" for item in items)
    return EvalReport(
        model=model_name,
        items=len(items),
        answerable=answerable,
        unanswerable=len(items) - answerable,
        accuracy=_share(sum(s.correct for s in grounded), len(grounded)),
        exact_match=_share(sum(s.exact for s in grounded), len(grounded)),
        mean_f1=sum(s.f1 for s in grounded) / len(grounded) if grounded else None,
        correct_refusal_rate=_share(sum(s.refused for s in probes), len(probes)),
        wrong_refusal_rate=_share(sum(s.refused for s in grounded), len(grounded)),
        judge_mean=sum(rated) / len(rated) if rated else None,
        scores=tuple(scores),
        failures=len(failed),
        failed_ids=tuple(failed),
        judge_model=judge_model.name if judge_model is not None else None,
        judge_unrated=judge_unrated,
        f1_threshold=f1_threshold,
    )


# --------------------------------------------------------------------------- output


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def render_eval(report: EvalReport) -> str:
    """A short summary: the three headline rates first, then the details."""
    grounded = [s for s in report.scores if s.kind == "grounded"]
    probes = [s for s in report.scores if s.kind == "idk"]
    how = f"judge {report.judge_model} score >= {JUDGE_PASS}" if report.judge_model else f"exact match or F1 >= {report.f1_threshold:g}"
    lines = [
        f"accuracy          {_percent(report.accuracy):>6}  "
        f"{sum(s.correct for s in grounded)} of {len(grounded)} answerable questions answered correctly ({how})",
        f"correct refusals  {_percent(report.correct_refusal_rate):>6}  "
        f"{sum(s.refused for s in probes)} of {len(probes)} unanswerable probes refused",
        f"wrong refusals    {_percent(report.wrong_refusal_rate):>6}  "
        f"{sum(s.refused for s in grounded)} of {len(grounded)} answerable questions refused",
        f"model             {report.model}: {report.items} held-out questions "
        f"({report.answerable} answerable, {report.unanswerable} unanswerable)",
    ]
    details = [f"exact match {_percent(report.exact_match)}"]
    details.append("mean F1 n/a" if report.mean_f1 is None else f"mean F1 {report.mean_f1:.2f}")
    if report.judge_model:
        details.append("judge mean n/a" if report.judge_mean is None else f"judge mean {report.judge_mean:.2f}/5")
    lines.append(f"answers           {', '.join(details)}")
    if report.judge_unrated:
        lines.append(f"judge             {report.judge_unrated} answers left unrated by the judge were scored by exact match / F1")
    if report.failures:
        lines.append(
            f"failed            {report.failures} questions got no answer after every retry and are left out "
            "of every rate; run the evaluation again to ask them"
        )
    return "\n".join(lines)


def safe_model_name(name: str) -> str:
    """A file name for a model name: "ft:gpt-4o-mini:org::id" becomes "ft_gpt-4o-mini_org_id-<hash>".

    A short hash of the real name is added whenever characters had to change, so two model
    names never share a file.
    """
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-") or "model"
    if safe != name or len(safe) > 80:
        safe = f"{safe[:80]}-{hashlib.sha256(name.encode('utf-8')).hexdigest()[:8]}"
    return safe


def write_eval(report: EvalReport, out_dir: Path) -> Path:
    """Write ``OUT_DIR/eval/<model>.json`` (the summary) and ``<model>.jsonl`` (one line per scored item)."""
    folder = out_dir / EVAL_DIR
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {folder}: {exc.strerror}.") from None
    name = safe_model_name(report.model)
    summary_path = folder / f"{name}.json"
    scores_path = folder / f"{name}.jsonl"
    summary = {k: v for k, v in asdict(report).items() if k != "scores"}
    summary["judge_pass"] = JUDGE_PASS
    summary["scores_file"] = scores_path.name
    write_atomic(scores_path, "".join(json_line(asdict(s)) + "\n" for s in report.scores))
    write_atomic(summary_path, json.dumps(summary, ensure_ascii=False, indent=2) + "\n")
    return summary_path
