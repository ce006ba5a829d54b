"""The checks every pair passes before it is written, and the examples the kept ones become.

Pairs first (``check_pairs``: usable text by ``qagen.dataset.checks``; a grounded answer
supported by its chunk, ``qagen.quality.grounding``), then the examples they become
(``check_examples``: the chat or legacy format rules, the per-example token limit). Each
drop is a Rejection naming the check, so the report can count them by reason. This sits in
``qagen.dataset`` because it applies the dataset's own example rules, which the quality
layer below may not import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from qagen.dataset.checks import Finding, check_chat_example, check_completion_examples, check_made_chat, pair_text_findings
from qagen.dataset.formats import ExampleFormat
from qagen.documents.tokens import count_chat_tokens
from qagen.quality.checks import reject
from qagen.quality.grounding import CorpusTerms, check_grounding
from qagen.records import Pair, Rejection


def check_pairs(
    pairs: Sequence[Pair], chunk_texts: Mapping[str, str], *, grounding_threshold: float, example: str = ""
) -> tuple[list[Pair], list[Rejection]]:
    """Keep pairs whose text is usable and whose grounded answers their chunk supports.

    ``example`` is the generation template's worked example (``qagen.quality.grounding.example_text``):
    a pair naming what only it holds is rejected as ``example_leak``.
    """
    kept: list[Pair] = []
    rejected: list[Rejection] = []
    known = CorpusTerms(chunk_texts.values())  # read only for the terms asked
    for pair in pairs:
        findings = pair_text_findings(pair.question, pair.answer, source=chunk_texts.get(pair.chunk_id))
        if findings:
            rejected.append(reject(pair, "check", findings[0].code, " ".join(f.message for f in findings)))
            continue
        if pair.kind == "grounded":
            verdict = check_grounding(
                pair.question, pair.answer, chunk_texts[pair.chunk_id],
                threshold=grounding_threshold, example=example, corpus_terms=known,
            )
            if verdict is not None:
                rejected.append(reject(pair, "grounding", verdict.reason, verdict.detail))
                continue
        kept.append(pair)
    return kept, rejected


@dataclass(frozen=True)
class CheckedExamples:
    kept: list[Pair]  # pairs whose example passed, in input order
    rejected: list[Rejection]
    warnings: list[str]  # file-level notes, such as too few examples
    examples: dict[str, dict]  # pair id -> its example, ready to write
    tokens: dict[str, int]  # pair id -> tokens of its example


def check_examples(
    pairs: Sequence[Pair],
    example_format: ExampleFormat,
    count_tokens: Callable[[str], int],
    *,
    max_tokens: int,
    chunk_texts: Mapping[str, str] | None = None,
) -> CheckedExamples:
    """Format each pair once and keep those whose example passes the format's rules.

    ``chunk_texts`` (chunk id -> text) lets a pair quote template syntax that its chunk holds.
    """
    # Every example repeats the system message (or separator and stop): count each text once.
    count_tokens = lru_cache(maxsize=None)(count_tokens)
    examples = [example_format.example(pair) for pair in pairs]
    sources = [(chunk_texts or {}).get(pair.chunk_id) for pair in pairs]
    if example_format.kind == "completion":
        findings = check_completion_examples(
            examples,
            separator=example_format.separator,
            stop=example_format.stop,
            leading_space=example_format.leading_space,
            count_tokens=count_tokens,
            max_tokens=max_tokens,
            sources=sources,
        )
        by_line: dict[int, list[Finding]] = {}
        warnings = []
        for finding in findings:
            if finding.line is None:
                # File-level notes (such as too few examples) concern the whole dataset, not one pair.
                warnings.append(finding.message)
            elif finding.is_error:
                by_line.setdefault(finding.line, []).append(finding)
        problems = [by_line.get(line, []) for line in range(1, len(examples) + 1)]
        counted: list[int | None] = [None] * len(examples)
    else:
        warnings = []
        problems, counted = [], []
        for pair, example, source in zip(pairs, examples, sources):
            tokens = None
            if _made_of_text(pair, example_format):
                found, tokens = check_made_chat(example, count_tokens, max_tokens, source)
            else:
                found = [f for f in check_chat_example(example, count_tokens=count_tokens, max_tokens=max_tokens, source=source) if f.is_error]
            problems.append(found)
            counted.append(tokens)
    checked = CheckedExamples(kept=[], rejected=[], warnings=warnings, examples={}, tokens={})
    for pair, example, found, tokens in zip(pairs, examples, problems, counted):
        if found:
            checked.rejected.append(reject(pair, "validate", found[0].code, " ".join(f.message for f in found)))
            continue
        checked.kept.append(pair)
        checked.examples[pair.id] = example
        checked.tokens[pair.id] = example_tokens(example, count_tokens) if tokens is None else tokens
    return checked


def _made_of_text(pair: Pair, example_format: ExampleFormat) -> bool:
    """Whether the chat example of ``pair`` is messages of text only, as ``check_made_chat`` takes."""
    system = example_format.system_message
    return isinstance(pair.question, str) and isinstance(pair.answer, str) and (system is None or isinstance(system, str))


def example_tokens(example: dict, count_tokens: Callable[[str], int]) -> int:
    if "messages" in example:
        return count_chat_tokens(example["messages"], count_tokens)
    return count_tokens(example["prompt"]) + count_tokens(example["completion"])
