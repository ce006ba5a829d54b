"""The checks of one fine-tuning example or one question/answer pair, each problem a ``Finding``.

Two callers share these checks: the pipeline (one pair or one example before it is written)
and ``qagen validate FILE.jsonl`` (``qagen.validate`` reads the whole file, runs these on
every line and adds what only a file can have: its encoding, JSON, format and blank lines).

Severity: ``error`` means the fine-tuning service rejects the line or file, or the example
is not usable for training (empty, an answer that repeats its question, a leftover of a
template or of the model's JSON reply, over the token limit). ``warning`` means the file is
accepted but something looks off; ``not_a_question`` is a warning because it is a heuristic.
Every code and its severity is in ``SEVERITY``.

Chat checks follow the categories of OpenAI's chat data preparation notebook, counted the
same way (a message without ``content`` counts as both ``message_missing_key`` and
``missing_content``); the shapes of messages and tool use are ``qagen.dataset.messages``'. Legacy prompt/completion checks follow the conventions of the old
``fine_tunes.prepare_data`` tool: one separator ending every prompt, a leading space and
one stop sequence on every completion.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from qagen.dataset.messages import example_problems, json_type, message_problems, tool_texts, uses_tools
from qagen.documents.tokens import count_chat_tokens
from qagen.options import MAX_EXAMPLE_TOKENS
from qagen.quality.leftovers import json_leftover, template_leftover
from qagen.quality.text import fold

TokenCount = Callable[[str], int]

ERROR = "error"
WARNING = "warning"

MIN_EXAMPLES = 10  # the service refuses a training file with fewer examples
LONG_EXAMPLE_CHARS = 10_000  # the legacy tool's threshold for a long prompt + completion

EXAMPLE_KEYS = frozenset({"messages", "tools", "functions", "parallel_tool_calls"})
LEGACY_KEYS = frozenset({"prompt", "completion"})

SEVERITY: dict[str, str] = {
    # the file as a whole
    "not_utf8": ERROR,
    "utf8_bom": ERROR,  # Python's json, and many JSONL readers, refuse a first line that starts with one
    "invalid_json": ERROR,
    "unknown_format": ERROR,
    "too_few_examples": ERROR,
    "blank_line": WARNING,
    "duplicate_example": WARNING,
    "garbled_text": WARNING,  # U+FFFD or mojibake: the source was decoded with the wrong encoding
    "mixed_runs": ERROR,  # train.jsonl and valid.jsonl of a qagen folder that a kill left half replaced
    # chat structure (the notebook's categories, plus weight)
    "data_type": ERROR,
    "missing_messages_list": ERROR,
    "message_missing_key": ERROR,
    "message_unrecognized_key": ERROR,
    "unrecognized_role": ERROR,
    "missing_content": ERROR,
    "example_missing_assistant_message": ERROR,
    "invalid_weight": ERROR,
    # tool use (qagen.dataset.messages)
    "invalid_tool_calls": ERROR,
    "invalid_function_call": ERROR,
    "invalid_tools": ERROR,
    "invalid_parallel_tool_calls": ERROR,
    "unknown_tool_call_id": ERROR,  # a tool message answering a call no earlier assistant message made
    "unknown_tool": WARNING,  # a call of a function the example's tools do not declare
    "example_unrecognized_key": WARNING,
    "example_missing_user_message": WARNING,
    "example_missing_system_message": WARNING,
    "too_many_tokens": ERROR,
    # legacy prompt/completion
    "legacy_missing_key": ERROR,
    "legacy_not_a_string": ERROR,
    "legacy_extra_key": WARNING,
    "legacy_missing_separator": ERROR,
    "legacy_separator_in_prompt": ERROR,
    "legacy_no_leading_space": ERROR,
    "legacy_inconsistent_stop": ERROR,
    "legacy_stop_in_completion": WARNING,
    "long_example": WARNING,
    # the text of a question/answer pair
    "empty_text": ERROR,
    "not_a_question": WARNING,  # a heuristic: foreign files may hold instructions qagen cannot recognise
    "empty_answer": ERROR,
    "answer_repeats_question": ERROR,
    "template_leftover": ERROR,
    "json_leftover": ERROR,
}

@dataclass(frozen=True)
class Finding:
    line: int | None  # 1-based line of the file; None for the file as a whole
    code: str  # a key of SEVERITY
    severity: str  # "error" or "warning"
    message: str  # one sentence

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR


def make_finding(code: str, message: str, line: int | None = None) -> Finding:
    """A finding with the severity its code has in SEVERITY."""
    return Finding(line=line, code=code, severity=SEVERITY[code], message=message)


def _excerpt(text: str, limit: int = 40) -> str:
    short = text if len(text) <= limit else text[: limit - 3] + "..."
    return json.dumps(short, ensure_ascii=False)


# ---------------------------------------------------------------- question/answer text

# A question either holds a question mark or opens with one of these words. Kept short on
# purpose: it catches statements and fragments, not every way of asking.
_QUESTION_MARKS = ("?", "？", "؟", "¿")
QUESTION_OPENERS = frozenset(
    """what which who whom whose when where why how
    is are am was were do does did can could should would will shall may might must has have had
    explain describe list name define give summarize summarise compare contrast state identify outline
    tell show provide calculate find translate classify""".split()
)
_FIRST_WORD = re.compile(r"[^\W\d_]+")
_WORDS = re.compile(r"\w+")

def looks_like_question(text: str) -> bool:
    """True when the text holds a question mark or opens with a question word or an imperative."""
    if any(mark in text for mark in _QUESTION_MARKS):
        return True
    first = _FIRST_WORD.search(text)
    return first is not None and first.group().casefold() in QUESTION_OPENERS


def _normalised(text: str) -> str:
    # Words only: an answer that repeats its question with other punctuation still repeats it.
    return " ".join(_WORDS.findall(fold(text)))


def _leftover_findings(text: str, role: str, line: int | None, source: str | None = None) -> list[Finding]:
    found = []
    template = template_leftover(text, source)
    if template:
        where = " that its source text does not hold" if source is not None else ""
        message = f"the {role} holds template text {_excerpt(template)}{where}."
        found.append(make_finding("template_leftover", message, line))
    if json_leftover(text):
        message = f"the {role} looks like leftover JSON: {_excerpt(text.strip())}."
        found.append(make_finding("json_leftover", message, line))
    return found


def _question_findings(question: str, line: int | None, role: str = "question", source: str | None = None) -> list[Finding]:
    if not question.strip():
        return [make_finding("empty_text", f"the {role} is empty.", line)]
    found = []
    if not looks_like_question(question):
        found.append(
            make_finding(
                "not_a_question",
                f"the {role} {_excerpt(question.strip())} has no question mark and does not open "
                "with a question word or an instruction such as Explain, Describe or List.",
                line,
            )
        )
    return found + _leftover_findings(question, role, line, source)


def _answer_findings(
    answer: str, question: str | None, line: int | None, role: str = "answer", source: str | None = None
) -> list[Finding]:
    if not answer.strip():
        return [make_finding("empty_answer", f"the {role} is empty.", line)]
    found = []
    if question is not None and question.strip() and _normalised(answer) == _normalised(question):
        found.append(make_finding("answer_repeats_question", f"the {role} only repeats the question.", line))
    return found + _leftover_findings(answer, role, line, source)


def pair_text_findings(question: str, answer: str, *, line: int | None = None, source: str | None = None) -> list[Finding]:
    """Why a question/answer pair is not a usable example, as findings with a sentence each.

    ``source`` is the text the pair was written from (its chunk): template syntax quoted from
    it is not a leftover. Without it (a file checked on its own) any template syntax is.
    """
    return _question_findings(question, line, source=source) + _answer_findings(answer, question, line, source=source)


def check_example_count(count: int) -> list[Finding]:
    """The file-level rule on the number of examples."""
    if count >= MIN_EXAMPLES:
        return []
    message = f"the file has {count} examples; fine-tuning needs at least {MIN_EXAMPLES}."
    return [make_finding("too_few_examples", message)]


# ---------------------------------------------------------------- chat examples


def _chat_text_findings(example: Mapping, messages: Sequence[object], line: int | None, source: str | None) -> list[Finding]:
    found: list[Finding] = []
    question: str | None = None
    # The not-a-question heuristic is for question/answer data: one user turn and no tools. In a
    # conversation, user turns are as often replies ("Thanks, that settles it.") or requests as
    # questions, and in tool use they ask for actions; warning on those would flag good data.
    one_question = sum(1 for m in messages if isinstance(m, Mapping) and m.get("role") == "user") == 1
    check_questions = one_question and not uses_tools(example, messages)
    for message in messages:
        if not isinstance(message, Mapping) or not isinstance(message.get("content"), str):
            continue
        role, content = message.get("role"), message["content"]
        if role == "user":
            question = content
            found += [f for f in _question_findings(content, line, role="user message", source=source)
                      if check_questions or f.code != "not_a_question"]
        elif role == "assistant" and not (content == "" and any(k in message for k in ("tool_calls", "function_call"))):
            found += _answer_findings(content, question, line, role="assistant message", source=source)
        elif role == "system":  # written by qagen's settings, never from a document: no source excuses it
            found += [f for f in _leftover_findings(content, "system message", line) if f.code == "template_leftover"]
    return found


def check_chat(
    example: object, count_tokens: TokenCount, max_tokens: int, line: int | None, source: str | None = None
) -> tuple[list[Finding], int | None]:
    """Everything wrong with one chat example, and its tokens (None when it has no messages to count).

    ``source``: the text the example's question and answer were written from (see ``pair_text_findings``).
    """
    if not isinstance(example, Mapping):
        return [make_finding("data_type", f"the line is a JSON {json_type(example)}, not an object.", line)], None
    messages = example.get("messages")
    if not isinstance(messages, list) or not messages:
        hint = " (it looks like a prompt/completion example)" if "prompt" in example else ""
        return [make_finding("missing_messages_list", f"the example has no non-empty messages list{hint}.", line)], None
    found = []
    extra = sorted(str(key) for key in example if key not in EXAMPLE_KEYS)
    if extra:
        message = f"the example has unrecognized keys: {', '.join(extra)}."
        found.append(make_finding("example_unrecognized_key", message, line))
    for position, message in enumerate(messages, 1):
        found += [make_finding(code, text, line) for code, text in message_problems(position, message)]
    found += [make_finding(code, text, line) for code, text in example_problems(example, messages)]
    roles = {m.get("role") for m in messages if isinstance(m, Mapping) and isinstance(m.get("role"), str)}
    if "assistant" not in roles:
        found.append(make_finding("example_missing_assistant_message", "the example has no assistant message.", line))
    if "user" not in roles:
        found.append(make_finding("example_missing_user_message", "the example has no user message.", line))
    if "system" not in roles:
        found.append(make_finding("example_missing_system_message", "the example has no system message.", line))
    found += _chat_text_findings(example, messages, line, source)
    tokens = count_chat_tokens(messages, count_tokens) + sum(count_tokens(text) for text in tool_texts(example, messages))
    return found + _too_many_tokens(tokens, max_tokens, line), tokens


def check_made_chat(example: Mapping, count_tokens: TokenCount, max_tokens: int, source: str | None = None) -> tuple[list[Finding], int]:
    """The errors ``check_chat`` finds in a chat example as ``qagen.dataset.formats.ExampleFormat`` makes it, and its tokens.

    Such an example is an optional system message, one user and one assistant message, each a role
    and text: it passes every check of shape, which took a third of ``check_chat``'s time at 10 MB, so
    only its texts and tokens are checked here.
    """
    *system, user, assistant = example["messages"]
    found = [f for f in _leftover_findings(system[0]["content"], "system message", None) if f.code == "template_leftover"] if system else []
    found += _question_findings(user["content"], None, role="user message", source=source)
    found += _answer_findings(assistant["content"], user["content"], None, role="assistant message", source=source)
    tokens = count_chat_tokens(example["messages"], count_tokens)
    return [f for f in found if f.is_error] + _too_many_tokens(tokens, max_tokens, None), tokens


def check_chat_example(
    example: object,
    *,
    count_tokens: TokenCount,
    max_tokens: int = MAX_EXAMPLE_TOKENS,
    line: int | None = None,
    source: str | None = None,
) -> list[Finding]:
    """Everything wrong with one chat example (``{"messages": [...]}``)."""
    return check_chat(example, count_tokens, max_tokens, line, source)[0]


# ---------------------------------------------------------------- legacy prompt/completion

# Sentence-ending marks belong to the text, not to a separator or stop sequence: prompts that
# all end with "installed?\n\n###\n\n" use the separator "\n\n###\n\n".
_SENTENCE_END = re.compile(r"[?.!？。！…]")


def infer_common_suffix(texts: Sequence[str], *, max_length: int = 200) -> str:
    """The separator (or stop sequence) a set of texts ends with, or "" when there is none.

    The longest suffix shared by all texts is the legacy tool's rule, but one text missing
    the separator would then hide it, and the report could not say which line is wrong.
    So a few outliers (a tenth of the texts, at least one) are tolerated; among the suffixes
    shared by all other texts, the end of the longest run shared by the same number of texts
    is taken, which is where the common ending stops and varied text begins. Whatever comes
    before the last sentence-ending mark in it is text, not separator, and is cut off.
    """
    n = len(texts)
    if n == 0:
        return ""
    min_share = max(n - max(1, n // 10), n // 2 + 1)
    matching = list(texts)
    suffix = ""
    chain_counts: list[tuple[str, int]] = []
    for length in range(1, max_length + 1):
        # Only texts that share the current suffix can share a longer one.
        chars = Counter(t[-length] for t in matching if len(t) >= length)
        if not chars:
            break
        char, count = chars.most_common(1)[0]
        if count < min_share:
            break
        suffix = char + suffix
        matching = [t for t in matching if len(t) >= length and t[-length] == char]
        chain_counts.append((suffix, count))
    best, best_run, run = "", 0, 0
    for index, (candidate, count) in enumerate(chain_counts):
        run = run + 1 if index and count == chain_counts[index - 1][1] else 1
        if run > best_run:
            best, best_run = candidate, run
    marks = list(_SENTENCE_END.finditer(best))
    return best[marks[-1].end():] if marks else best


@dataclass(frozen=True)
class LegacyResult:
    findings: list[Finding]
    separator: str | None
    stop: str | None
    token_counts: list[int]


def _legacy_rows(examples: Sequence[object], lines: Sequence[int]) -> tuple[list[Finding], list[tuple[int, str, str]]]:
    found, rows = [], []
    for line, example in zip(lines, examples):
        if not isinstance(example, Mapping):
            found.append(make_finding("data_type", f"the line is a JSON {json_type(example)}, not an object.", line))
            continue
        missing = [key for key in ("prompt", "completion") if key not in example]
        if missing:
            found.append(make_finding("legacy_missing_key", f"the example has no {' and no '.join(missing)}.", line))
        wrong = [key for key in ("prompt", "completion") if key in example and not isinstance(example[key], str)]
        if wrong:
            found.append(make_finding("legacy_not_a_string", f"the {' and '.join(wrong)} must be text.", line))
        extra = sorted(str(key) for key in example if key not in LEGACY_KEYS)
        if extra:
            message = f"the example has extra keys that are ignored: {', '.join(extra)}."
            found.append(make_finding("legacy_extra_key", message, line))
        if not missing and not wrong:
            rows.append((line, example["prompt"], example["completion"]))
    return found, rows


def _too_many_tokens(tokens: int, max_tokens: int, line: int | None) -> list[Finding]:
    if tokens <= max_tokens:
        return []
    message = f"the example has {tokens} tokens, over the limit of {max_tokens}; it would be truncated."
    return [make_finding("too_many_tokens", message, line)]


def _without_separator(prompt: str, separator: str | None, line: int) -> tuple[str, list[Finding]]:
    """The question text of a prompt, and what is wrong with its separator."""
    if not separator:
        return prompt, []
    if not prompt.endswith(separator):
        message = f"the prompt does not end with the separator {_excerpt(separator)}."
        return prompt, [make_finding("legacy_missing_separator", message, line)]
    question = prompt[: -len(separator)]
    if separator in question:
        message = f"the separator {_excerpt(separator)} also appears inside the prompt."
        return question, [make_finding("legacy_separator_in_prompt", message, line)]
    return question, []


def _without_space_and_stop(
    completion: str, stop: str | None, leading_space: bool, line: int
) -> tuple[str, list[Finding]]:
    """The answer text of a completion, and what is wrong with its leading space and stop sequence."""
    answer, found = completion, []
    if leading_space:
        if answer.startswith(" "):
            answer = answer[1:]
        else:
            found.append(make_finding("legacy_no_leading_space", "the completion does not start with a space.", line))
    if not stop:
        return answer, found
    if not answer.endswith(stop):
        message = f"the completion does not end with the stop sequence {_excerpt(stop)}."
        return answer, found + [make_finding("legacy_inconsistent_stop", message, line)]
    answer = answer[: -len(stop)]
    if stop in answer:
        message = f"the stop sequence {_excerpt(stop)} also appears inside the completion, which would end it early."
        found.append(make_finding("legacy_stop_in_completion", message, line))
    return answer, found


_NO_SEPARATOR = (
    'the prompts share no common separator at their end; end every prompt with one, such as "\\n\\n###\\n\\n".'
)
_NO_STOP = 'the completions share no common stop sequence at their end; end every completion with one, such as " END".'


def check_legacy(
    examples: Sequence[object],
    lines: Sequence[int],
    *,
    separator: str | None,
    stop: str | None,
    leading_space: bool,
    count_tokens: TokenCount | None,
    max_tokens: int,
    sources: Sequence[str | None] | None = None,
) -> LegacyResult:
    """Everything wrong with legacy examples meant as one file, and what they were checked with.

    The result also holds the separator and stop sequence used (given, or inferred) and the
    token counts of the examples (none without ``count_tokens``). ``sources[i]`` is the text
    ``examples[i]`` was written from (see ``pair_text_findings``).
    """
    source_of = dict(zip(lines, sources)) if sources is not None else {}
    found, rows = _legacy_rows(examples, lines)
    if separator is None and rows:
        separator = infer_common_suffix([prompt for _, prompt, _ in rows]) or None
        found += [] if separator else [make_finding("legacy_missing_separator", _NO_SEPARATOR)]
    if stop is None and rows:
        stop = infer_common_suffix([completion for _, _, completion in rows]) or None
        found += [] if stop else [make_finding("legacy_inconsistent_stop", _NO_STOP)]
    token_counts: list[int] = []
    first_seen: dict[tuple[str, str], int] = {}
    for line, prompt, completion in rows:
        question, problems = _without_separator(prompt, separator, line)
        found += problems
        answer, problems = _without_space_and_stop(completion, stop, leading_space, line)
        found += problems
        found += _question_findings(question, line, role="prompt", source=source_of.get(line))
        found += _answer_findings(answer, question, line, role="completion", source=source_of.get(line))
        size = len(prompt) + len(completion)
        if size > LONG_EXAMPLE_CHARS:
            message = f"prompt and completion hold {size} characters, over {LONG_EXAMPLE_CHARS}."
            found.append(make_finding("long_example", message, line))
        first = first_seen.setdefault((prompt, completion), line)
        if first != line:
            found.append(make_finding("duplicate_example", f"the example repeats line {first}.", line))
        if count_tokens is not None:
            token_counts.append(count_tokens(prompt) + count_tokens(completion))
            found += _too_many_tokens(token_counts[-1], max_tokens, line)
    return LegacyResult(found, separator, stop, token_counts)


def check_completion_examples(
    examples: Sequence[object],
    *,
    separator: str | None = None,
    stop: str | None = None,
    leading_space: bool = True,
    count_tokens: TokenCount | None = None,
    max_tokens: int = MAX_EXAMPLE_TOKENS,
    line_numbers: Sequence[int] | None = None,
    sources: Sequence[str | None] | None = None,
) -> list[Finding]:
    """Everything wrong with a set of legacy prompt/completion examples, meant as one file.

    Separator and stop are inferred when not given (see ``infer_common_suffix``). Findings
    carry ``line_numbers[i]`` for ``examples[i]`` (by default i + 1). Token limits are only
    checked when ``count_tokens`` is given. ``sources[i]``: the text ``examples[i]`` was written from.
    """
    lines = list(line_numbers) if line_numbers is not None else list(range(1, len(examples) + 1))
    result = check_legacy(
        examples, lines, separator=separator, stop=stop, leading_space=leading_space,
        count_tokens=count_tokens, max_tokens=max_tokens, sources=sources,
    )
    return check_example_count(len(examples)) + result.findings
