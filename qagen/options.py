"""Every option of every command, and every default: name, type, default, valid range and help.

One ``Option`` per setting (``qagen.schema``); its name is the config-file key and the flag
(``chunk_size`` is ``--chunk-size`` and ``QAGEN_CHUNK_SIZE``). ``qagen.settings`` builds each
command's checked settings from these tables. Imports no stage.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from qagen.schema import Option

OFFLINE_MODEL = "offline"
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
DEFAULT_BASE_MODEL = "gpt-4o-mini-2024-07-18"
OPENAI_URL = "https://api.openai.com/v1"
MAX_EXAMPLE_TOKENS = 16385  # per-example limit used by OpenAI's data preparation notebook
MAX_SUFFIX_CHARS = 64  # the jobs API's limit on a fine-tuned model's name suffix
LOCAL_TIMEOUT = 600.0  # default --timeout for a server on this machine, which often queues requests (README)
MAX_FILE_MB = 50.0  # larger files are skipped unread (--max-file-size): one file should not eat a run's budget
CONVERT_TIMEOUT = 300.0  # seconds one PDF, DOCX ... may take to convert (--convert-timeout); 500 PDF pages take about 10
DEFAULT_SYSTEM_MESSAGE = (
    "You answer questions about the organisation's documents. "
    "When the documents do not cover a question, say that you don't know."
)
DEFAULT_REFUSALS: tuple[str, ...] = (
    "I don't know. The documents I was trained on do not cover that.",
    "I don't know: the documents I learned from say nothing about that.",
    "I'm sorry, I don't know. That is not covered in the documents I was trained on.",
    "I don't know. Nothing in the documents I was trained on answers that question.",
)


def _options(*options: Option) -> dict[str, Option]:
    return {option.name: option for option in options}


# Shared by several commands: declared once, so a range or a help text cannot differ between them.
_BASE_URL = Option("base_url", str, None, "OpenAI-compatible endpoint, e.g. http://localhost:11434/v1 (env OPENAI_BASE_URL; default OpenAI)", optional=True)
_CONCURRENCY = Option("concurrency", int, 8, "requests in flight at once", low=1, high=512)
_MAX_ATTEMPTS = Option("max_attempts", int, 6, "attempts per request before giving up on it", low=1, high=100)
_TIMEOUT = Option("timeout", float, 120.0, "seconds to wait for one reply (600 for a server on this machine)", low=0, low_open=True)
_MAX_RETRY_WAIT = Option("max_retry_wait", float, 600.0, "longest wait the server may ask for (Retry-After) before a retry; "
                         "asked for longer, qagen stops and a rerun resumes", low=0, low_open=True)
_SEED = Option("seed", int, 0, "seed of the train/validation split and of the I-don't-know choices")

GENERATE_OPTIONS = _options(
    Option("out", Path, Path("out"), "output folder"),
    Option("model", str, None, f"model name at the endpoint, or '{OFFLINE_MODEL}' for the built-in generator "
           f"(default: {DEFAULT_OPENAI_MODEL} when OPENAI_API_KEY is set, else {OFFLINE_MODEL})", optional=True),
    _BASE_URL,
    Option("pairs_per_chunk", int, 5, "question/answer pairs asked per chunk (written into the prompt)", low=1, high=100),
    Option("template", Path, None, "chat template JSON file (default: the built-in templates/qa.json)", optional=True),
    _CONCURRENCY,
    _MAX_ATTEMPTS,
    _TIMEOUT,
    _MAX_RETRY_WAIT,
    Option("max_file_size", float, MAX_FILE_MB, "largest file read, in MB (2**20 bytes); larger files are skipped", low=0, low_open=True),
    Option("convert_timeout", float, CONVERT_TIMEOUT, "seconds one PDF, DOCX, PPTX or EPUB may take to convert; a slower one is skipped",
           low=0, low_open=True),
    Option("convert_cache", Path, None, "folder of converted text, kept by file content "
           "(default: $XDG_CACHE_HOME/qagen/converted, else ~/.cache/qagen/converted)", optional=True),
    Option("chunk_size", int, 800, "tokens per chunk", low=50, high=1_000_000),
    Option("chunk_overlap", int, 80, "tokens shared by neighbouring chunks (below chunk_size)", low=0),
    Option("format", str, "chat", "chat messages, or legacy prompt/completion for completion models", choices=("chat", "completion")),
    Option("system", str, DEFAULT_SYSTEM_MESSAGE, "system message of every chat example (--no-system for none)", field="system_message",
           not_blank="for chat examples without a system message, use --no-system (no_system = true in a config file, QAGEN_NO_SYSTEM=1)"),
    Option("no_system", bool, False, "write chat examples without a system message (whatever --system says)"),
    Option("separator", str, "\n\n###\n\n", "completion format: the separator ending every prompt"),
    Option("stop", str, " END", "completion format: the stop sequence ending every completion"),
    Option("leading_space", bool, True, "completion format: start completions with a space (--no-leading-space turns it off)"),
    Option("valid_fraction", float, 0.1, "share of pairs held out for validation", low=0, high=1, high_open=True),
    _SEED,
    Option("max_example_tokens", int, MAX_EXAMPLE_TOKENS, "per-example token limit of the target model; longer examples are rejected", low=16),
    Option("max_context", int, None, "context window of the model, in tokens (prompt and reply); chunks too long for it are "
           "split before sending (default: the window qagen knows for well-known models, else none)", low=256, optional=True),
    Option("idk_ratio", float, 0.1, "I-don't-know examples per kept grounded pair (0 for none)", low=0, high=1),
    Option("refusal", tuple, DEFAULT_REFUSALS, "answer of the I-don't-know examples; repeat the flag for several "
           "(a list in a config file, '|'-separated in the environment)", field="refusals",
           not_blank="to make no I-don't-know examples, use --idk-ratio 0 (idk_ratio = 0 in a config file, QAGEN_IDK_RATIO=0)"),
    Option("dedupe_threshold", float, 0.75, "overlap of content words (Jaccard) at which two questions are alike; alike questions that ask about different things stay", low=0, high=1, low_open=True),
    Option("grounding_threshold", float, 0.5, "share of an answer's terms its chunk must contain (numbers must all be there)", low=0, high=1),
    Option("judge", bool, False, "also have the model rate every pair against its chunk (templates/judge.json)"),
    Option("judge_threshold", int, 4, "lowest judge rating a pair may have", low=1, high=5),
    Option("idk_template", Path, None, "template that asks for I-don't-know candidates (default: built-in idk.json)", optional=True),
    Option("idk_check_template", Path, None, "template that checks a candidate against passages (default: built-in idk_check.json)", optional=True),
    Option("judge_template", Path, None, "template of the judge (default: built-in judge.json)", optional=True),
    Option("decisions", Path, None, "a review's decisions.jsonl (keep, drop, edit pairs by id); kept in OUT for later runs", optional=True),
    Option("review", bool, True, "write OUT/review.html at the end of the run: a page to look at the pairs, rejects and "
           "coverage, and decide on pairs (--no-review writes none)"),
    Option("language", str, None, "language of the documents (ISO 639 code: en, pt-BR) for the dataset card", optional=True),
    Option("structured_output", bool, True, "ask for the JSON schema the templates give (response_format), falling back "
           "once per run where the server refuses it (--no-structured-output sends none)"),
    Option("cache", bool, True, "answer a request sent before (same endpoint, model, messages and parameters) from the call "
           "cache instead of the endpoint (--no-cache asks the endpoint every time)"),
    Option("cache_dir", Path, None, "folder of the call cache (default: $XDG_CACHE_HOME/qagen, else ~/.cache/qagen)", optional=True),
    Option("batch", bool, False, "send each step's requests as Batch API jobs (half price, answered within 24 h) instead of "
           "one at a time; a rerun follows the batches already submitted"),
    Option("batch_retry_online", bool, False, "with --batch: ask online the requests that every batch failed to answer "
           "(default: report them failed; a rerun asks them again)"),
    Option("batch_max_requests", int, 50_000, "with --batch: requests in one batch input file (OpenAI's limit; larger "
           "steps go as several batches)", low=1),
    Option("batch_max_mb", float, 200.0, "with --batch: size of one batch input file, in MB (2**20 bytes)", low=0, low_open=True),
    Option("batch_poll_interval", float, 1.0, "with --batch: seconds before the first look at a batch; each later wait is "
           "half as long again, up to 30 s", low=0, low_open=True),
    Option("batch_export", Path, None, "write each step's pending requests as a batch input file in this folder (for "
           "vLLM's run_batch or Ray Data), print the command to run and exit 8", optional=True, flag_only=True),
    Option("batch_import", tuple, None, "an output file of a batch engine (OpenAI or vLLM lines) whose answers the run "
           "takes; repeat the flag for several", optional=True, flag_only=True),
    Option("restart", bool, False, "discard the earlier run in the out folder and start over (keeps eval/ and adapter/)", flag_only=True),
    Option("quiet", bool, False, "no progress bar or notices; the summary still prints"),
    Option("dry_run", bool, False, "show the chunks, requests, tokens, cost and time of the run; sends and writes nothing", flag_only=True),
    Option("price_input", float, None, "dollars per million input tokens, for --dry-run and --max-cost (default: qagen's table)", low=0, optional=True),
    Option("price_output", float, None, "dollars per million output tokens, for --dry-run and --max-cost (default: qagen's table)", low=0, optional=True),
    Option("max_cost", float, None, "most dollars the out folder's runs may spend in all; before a request could cross it, "
           "qagen stops sending, writes what it has and exits 7 (a rerun with a higher cap continues)", low=0, low_open=True, optional=True),
)

VALIDATE_OPTIONS = _options(
    Option("model", str, DEFAULT_OPENAI_MODEL, "model whose tokenizer counts tokens"),
    Option("max_tokens", int, MAX_EXAMPLE_TOKENS, "per-example token limit", low=16),
    Option("separator", str, None, "legacy format: the separator every prompt must end with (default: inferred)", optional=True),
    Option("stop", str, None, "legacy format: the stop sequence every completion must end with (default: inferred)", optional=True),
    Option("leading_space", bool, True, "legacy format: completions start with a space (--no-leading-space: need not)"),
    Option("max_lines", int, 50, "problems listed at most", low=1),
)

EVAL_OPTIONS = _options(
    Option("model", str, None, "model to evaluate: a name at the endpoint (e.g. ft:gpt-4o-mini:org::id)", optional=True),
    _BASE_URL,
    Option("adapter", Path, None, "evaluate a LoRA adapter trained by `qagen finetune --trainer trl` instead", optional=True),
    Option("base_model", str, None, "with --adapter: the base model (default: the one the adapter names)", optional=True),
    Option("judge_model", str, None, "also have this model (same endpoint) rate each answer against the reference", optional=True),
    Option("split", str, "valid", "which questions to ask", choices=("valid", "train")),
    _CONCURRENCY,
    _TIMEOUT,
    _MAX_ATTEMPTS,
    _MAX_RETRY_WAIT,
    Option("f1_threshold", float, 0.5, "token F1 at which an answer counts as correct", low=0, high=1, low_open=True),
    Option("fresh", bool, False, "ask every question again, even those this very model answered before", flag_only=True),
)

FINETUNE_OPTIONS = _options(
    Option("base_model", str, DEFAULT_BASE_MODEL, "model to fine-tune; babbage-002 or davinci-002 for prompt/completion data"),
    Option("epochs", int, None, "training epochs (default: chosen by the service); --dry-run shows its estimate", low=1, optional=True, field="n_epochs"),
    Option("batch_size", int, None, "examples per training step (default: chosen by the service)", low=1, optional=True),
    Option("learning_rate_multiplier", float, None, "scales the learning rate (default: chosen by the service)", low=0, low_open=True, optional=True),
    Option("suffix", str, None, f"up to {MAX_SUFFIX_CHARS} characters added to the fine-tuned model's name", optional=True),
    Option("seed", int, None, "seed for a reproducible job (default: chosen by the service)", optional=True),
    _BASE_URL,
    Option("dry_run", bool, False, "check the dataset and show the files, tokens, epochs and estimated billed tokens; sends nothing", flag_only=True),
    Option("poll_interval", float, 10.0, "seconds between two looks at the job", low=0, low_open=True),
    dataclasses.replace(_TIMEOUT, default=60.0),
    _MAX_ATTEMPTS,
    _MAX_RETRY_WAIT,
)

FOLLOW_OPTIONS = {name: FINETUNE_OPTIONS[name] for name in ("base_url", "poll_interval", "timeout", "max_attempts", "max_retry_wait")}

TRAIN_OPTIONS = _options(
    Option("base_model", str, None, "local folder or Hugging Face id of the model to train"),
    Option("adapter_dir", Path, None, "where the adapter goes (default: OUT_DIR/adapter)", optional=True),
    Option("epochs", float, 3.0, "passes over train.jsonl", low=0, low_open=True),
    Option("learning_rate", float, 2e-4, "peak learning rate", low=0, low_open=True),
    Option("batch_size", int, 4, "examples per step", low=1),
    Option("lora_r", int, 16, "LoRA rank", low=1),
    Option("lora_alpha", int, 32, "LoRA scaling alpha", low=1),
    Option("lora_dropout", float, 0.05, "LoRA dropout", low=0, high=1, high_open=True),
    Option("max_length", int, 1024, "longest example in tokens; longer ones are cut at the end", low=1),
    Option("seed", int, 0, "training seed"),
    Option("max_steps", int, None, "stop after N optimizer steps, whatever --epochs says (quick trials)", low=1, optional=True),
)
