"""The dataset card: ``OUT/README.md``, Hugging Face dataset-card metadata and how the dataset was made.

The YAML front matter follows the Hub's dataset card spec: ``configs`` (the default config, whose
data files are ``train.jsonl`` as split ``train`` and ``valid.jsonl`` as ``validation``), so
``datasets.load_dataset(OUT)`` and the Hub's viewer read exactly those two files and none of the
others in the folder (pairs, rejects); ``task_categories``, ``size_categories``, and ``language``
when ``--language`` gives it. An empty ``valid.jsonl`` is left out of ``configs``: ``datasets``
refuses a split with no rows ("corresponds to no data"). The license is the user's to set (qagen
cannot know under what terms the documents may be shared), and a comment line in the YAML says so.

The card holds nothing that differs between two runs that made the same files (no time, no
request counts), so a resumed run writes the same card as an uninterrupted one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

# The Hub's size categories, by their upper bounds.
_SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
          (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (10**9, "100M<n<1B"), (10**10, "1B<n<10B"),
          (10**11, "10B<n<100B"), (10**12, "100B<n<1T"))

# Settings that change what the dataset holds, as the report names them; paths and run mechanics
# (concurrency, timeouts, the cache) are left out: they change how a run goes, not what it makes.
RESULT_SETTINGS = (
    "model", "base_url", "pairs_per_chunk", "chunk_size", "chunk_overlap", "max_context", "structured_output",
    "max_file_size", "convert_timeout", "grounding_threshold", "judge", "judge_threshold", "dedupe_threshold",
    "idk_ratio", "refusal", "seed", "valid_fraction", "max_example_tokens", "format", "system", "no_system",
    "separator", "stop", "leading_space",
)
_COMPLETION_ONLY = {"separator", "stop", "leading_space"}
_CHAT_ONLY = {"system", "no_system"}


def size_category(examples: int) -> str:
    for bound, name in _SIZES:
        if examples < bound:
            return name
    return "n>1T"


def front_matter(*, train: int, valid: int, language: str | None) -> str:
    """The YAML block; every value in it is one qagen chose, or a checked language code."""
    lines = [
        "---",
        "# Dataset card metadata: https://huggingface.co/docs/hub/datasets-cards",
        "# license: qagen does not know the terms of your documents; add a line such as `license: cc-by-4.0` here.",
        "configs:",
        "- config_name: default",
        "  data_files:",
        "  - split: train",
        "    path: train.jsonl",
    ]
    if valid:
        lines += ["  - split: validation", "    path: valid.jsonl"]
    lines += ["task_categories:", "- question-answering", "- text-generation",
              "size_categories:", f"- {size_category(train + valid)}"]
    if language:
        lines += ["language:", f"- {language}"]
    lines += ["tags:", "- synthetic", "- qagen", "---"]
    return "\n".join(lines) + "\n"


def _shown(value: object) -> str:
    # A table cell: a "|" would end it, even inside a code span.
    return "`" + json.dumps(value, ensure_ascii=False).replace("`", "\\u0060").replace("|", "\\|") + "`"


def _line_format(settings: Mapping[str, object], fmt: str) -> list[str]:
    example: dict[str, object]
    if fmt == "completion":
        example = {"prompt": "QUESTION" + str(settings.get("separator", "")),
                   "completion": (" " if settings.get("leading_space", True) else "") + "ANSWER" + str(settings.get("stop", ""))}
        what = ("Legacy prompt/completion lines for completion models: the prompt is the question and the "
                "separator, the completion the answer and the stop sequence.")
    else:
        messages: list[dict[str, str]] = []
        if not settings.get("no_system") and settings.get("system"):
            messages.append({"role": "system", "content": str(settings["system"])})
        messages += [{"role": "user", "content": "QUESTION"}, {"role": "assistant", "content": "ANSWER"}]
        example = {"messages": messages}
        what = "Chat lines: " + ("a system message, " if len(messages) == 3 else "") + "the question as the user's turn and the answer as the assistant's."
    return [what, "", "```json", json.dumps(example, ensure_ascii=False), "```"]


def _stage_rows(stages: Mapping[str, Mapping]) -> list[str]:
    rows = ["| stage | in | out | dropped |", "|---|---|---|---|"]
    for name, counts in stages.items():
        dropped = counts.get("dropped") or {}
        reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(dropped.items(), key=lambda kv: (-kv[1], kv[0]))) or "none"
        if name == "idk":
            taken, out = counts.get("candidates", 0), counts.get("out", 0)
            reasons += f" (candidates for a target of {counts.get('target', 0)})"
        elif name == "split":
            taken, out = counts.get("in", 0), counts.get("train", 0) + counts.get("valid", 0)
            reasons = f"{counts.get('train', 0)} to train, {counts.get('valid', 0)} to validation"
        else:
            taken, out = counts.get("in", 0), counts.get("out", 0)
        if name == "review":
            decided = counts.get("decisions", {})
            reasons += f" ({', '.join(f'{n} {action}' for action, n in decided.items())}; {counts.get('not_found', 0)} not found)"
        rows.append(f"| {name} | {taken} | {out} | {reasons} |")
    return rows


def dataset_card(
    report: Mapping, *, version: str, templates: Mapping[str, str], language: str | None, decisions: int = 0
) -> str:
    """The whole README.md. ``report`` is ``report.json``'s content; ``templates`` maps each template used to its sha256."""
    settings: Mapping[str, object] = report.get("settings", {})
    train, valid, fmt = int(report["train_examples"]), int(report["valid_examples"]), str(report["format"])
    maker = ("qagen's built-in offline generator (extractive: each answer is a sentence of the documents)"
             if report.get("offline") else f"the model `{report['model']}` at {report['endpoint']}")
    lines = [
        front_matter(train=train, valid=valid, language=language),
        "# Question/answer dataset",
        "",
        f"Made by qagen {version} from {report['files_read']} files ({report['chunks']} chunks), with {maker}. "
        f"{train} training and {valid} validation examples; every grounded answer was checked against the chunk it came from.",
        "",
        "## Files",
        "",
        "| file | what it holds |",
        "|---|---|",
        f"| `train.jsonl` | {train} examples, split `train` |",
        f"| `valid.jsonl` | {valid} examples, split `validation`" + ("" if valid else
            " (empty, so the metadata above lists no validation split: the `datasets` library refuses an empty one)") + " |",
        "| `pairs.jsonl` | every kept pair with its source file, chunk, page and section |",
        "| `rejects.jsonl` | every pair or reply that was not kept, with the stage and reason |",
        "| `report.json` | the run's full report |",
    ]
    if decisions:
        lines.append(f"| `decisions.jsonl` | {decisions} reviewer decisions (keep, drop, edit), applied to this dataset |")
    lines += ["", "## Format of a line", "", *_line_format(settings, fmt), "", "## How it was made", "",
              f"- qagen {version}; model: {maker}; tokens counted with {report.get('token_encoding', 'unknown')}",
              "- templates (sha256): " + ", ".join(f"{name} `{digest}`" for name, digest in sorted(templates.items()))]
    if language:
        lines.append(f"- language: {language} (given with --language)")
    else:
        lines.append("- language: not given (`--language` sets it), so the metadata names none")
    lines += ["", "Settings that change what the dataset holds:", "", "| setting | value |", "|---|---|"]
    lines += [f"| {name} | {_shown(settings.get(name))} |" for name in _settings_shown(settings, fmt)]
    lines += ["", "## Counts by stage", "",
              f"{report['files_read']} files read, {len(report.get('files_skipped', []))} skipped; "
              f"{report['pairs_generated']} pairs generated, {report['pairs_kept']} kept "
              f"({report.get('idk_kept', 0)} of them \"I don't know\" examples).", "",
              *_stage_rows(report.get("stages", {})),
              "", "## License", "",
              "Not set: qagen cannot know the terms under which your documents may be shared. Add a `license:` line "
              "to the metadata at the top (see the comment there) before publishing this dataset.", ""]
    return "\n".join(lines)


def _settings_shown(settings: Mapping[str, object], fmt: str) -> Sequence[str]:
    skip = _CHAT_ONLY if fmt == "completion" else _COMPLETION_ONLY
    return [name for name in RESULT_SETTINGS if name not in skip and name in settings]
