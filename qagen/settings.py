"""Every setting of every command, declared once, validated once.

One ``Option`` per setting holds its type, default, valid range and help. Its name is the
config-file key and the flag (``chunk_size`` is ``--chunk-size`` and ``QAGEN_CHUNK_SIZE``), so
the three can never drift apart. Each command's settings are a frozen dataclass built by
``resolve`` (flags > environment > config file > defaults) or ``build`` (library keyword
arguments); a bad name or value is one ``ConfigError`` sentence naming it and where it came from.

The option tables and every default are in ``qagen.options``. This module imports no stage:
``qagen --help`` and ``qagen --version`` load it and nothing heavy.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from qagen.errors import ConfigError
from qagen.options import DEFAULT_OPENAI_MODEL, EVAL_OPTIONS, FINETUNE_OPTIONS, GENERATE_OPTIONS, LOCAL_TIMEOUT, MAX_SUFFIX_CHARS, OFFLINE_MODEL, OPENAI_URL, TRAIN_OPTIONS, VALIDATE_OPTIONS
from qagen.schema import ENV_PREFIX, Option, is_local_endpoint, read_config_file, unknown_setting

def _defaults(options: Mapping[str, Option]) -> Callable[[str], Any]:
    """``default("chunk_size")``: a field's default, read from its option so it is written once."""
    return lambda name: options[name].default


# --------------------------------------------------------------------------- the settings of each command

_g = _defaults(GENERATE_OPTIONS)


@dataclass(frozen=True)
class Settings:
    """Settings of a generation run (``qagen FOLDER``, ``qagen.generate``)."""

    def __post_init__(self) -> None:
        _check(self)


    corpus: Path
    out: Path = _g("out")
    model: str = OFFLINE_MODEL  # resolved: never None after ``resolve``/``build``
    base_url: str | None = _g("base_url")
    # Never printed, logged or written: repr=False keeps it out of reprs and tracebacks.
    api_key: str | None = field(default=None, repr=False)
    pairs_per_chunk: int = _g("pairs_per_chunk")
    max_file_size: float = _g("max_file_size")
    convert_timeout: float = _g("convert_timeout")
    convert_cache: Path | None = _g("convert_cache")
    chunk_size: int = _g("chunk_size")
    chunk_overlap: int = _g("chunk_overlap")
    template: Path | None = _g("template")
    idk_template: Path | None = _g("idk_template")
    idk_check_template: Path | None = _g("idk_check_template")
    judge_template: Path | None = _g("judge_template")
    concurrency: int = _g("concurrency")
    max_attempts: int = _g("max_attempts")
    timeout: float = _g("timeout")
    max_retry_wait: float = _g("max_retry_wait")
    format: str = _g("format")
    system_message: str = _g("system")
    no_system: bool = _g("no_system")
    separator: str = _g("separator")
    stop: str = _g("stop")
    leading_space: bool = _g("leading_space")
    valid_fraction: float = _g("valid_fraction")
    seed: int = _g("seed")
    idk_ratio: float = _g("idk_ratio")
    refusals: tuple[str, ...] = _g("refusal")
    dedupe_threshold: float = _g("dedupe_threshold")
    grounding_threshold: float = _g("grounding_threshold")
    judge: bool = _g("judge")
    judge_threshold: int = _g("judge_threshold")
    decisions: Path | None = _g("decisions")
    review: bool = _g("review")  # write the review page; changes no result, so not in the fingerprint
    language: str | None = _g("language")
    max_example_tokens: int = _g("max_example_tokens")
    structured_output: bool = _g("structured_output")
    max_context: int | None = _g("max_context")
    cache: bool = _g("cache")
    cache_dir: Path | None = _g("cache_dir")
    restart: bool = _g("restart")
    quiet: bool = _g("quiet")
    dry_run: bool = _g("dry_run")
    price_input: float | None = _g("price_input")
    price_output: float | None = _g("price_output")
    max_cost: float | None = _g("max_cost")
    batch: bool = _g("batch")
    batch_retry_online: bool = _g("batch_retry_online")
    batch_max_requests: int = _g("batch_max_requests")
    batch_max_mb: float = _g("batch_max_mb")
    batch_poll_interval: float = _g("batch_poll_interval")
    batch_export: Path | None = _g("batch_export")
    batch_import: tuple[str, ...] | None = _g("batch_import")
    model_was_defaulted: bool = False  # offline because nothing was configured: say so at the start

    @property
    def offline(self) -> bool:
        return self.model == OFFLINE_MODEL

    @property
    def example_system_message(self) -> str | None:
        """The system message the chat examples carry; None with ``no_system``."""
        return None if self.no_system else self.system_message

    def fingerprint_fields(self, template_digest: str) -> dict[str, Any]:
        """The settings that change what the model is asked or what it replies.

        A rerun into an out folder made with different values would mix two datasets,
        so the run refuses it. Output-only settings (format, system message, split)
        are not here: changing them just rewrites the dataset files. The key names are
        those of existing manifests, so out folders made before stay resumable.
        """
        return {
            "model": self.model,
            "template_sha256": template_digest,
            "chunk_tokens": self.chunk_size,
            "overlap_tokens": self.chunk_overlap,
            "pairs_per_chunk": self.pairs_per_chunk,
        }

    def public_view(self) -> dict[str, Any]:
        """Settings by their key names as plain JSON values, for the report; the key is left out."""
        view: dict[str, Any] = {"corpus": str(self.corpus)}
        for option in GENERATE_OPTIONS.values():
            value = getattr(self, option.attr)
            view[option.name] = str(value) if isinstance(value, Path) else (list(value) if isinstance(value, tuple) else value)
        view["api_key_set"] = self.api_key is not None
        return view


_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")


def _check_generate(settings: Settings) -> None:
    """The checks that involve more than one setting."""
    if settings.chunk_overlap >= settings.chunk_size:
        raise ConfigError(
            f"--chunk-overlap must be below --chunk-size (got {settings.chunk_overlap} for a chunk size of {settings.chunk_size})."
        )
    if settings.format == "completion" and not settings.separator:
        raise ConfigError("--separator must not be empty for --format completion.")
    if settings.judge and settings.offline:
        raise ConfigError("--judge needs a model: set OPENAI_API_KEY or pass --base-url and --model.")
    if settings.base_url and not settings.base_url.startswith(("http://", "https://")):
        raise ConfigError(f"--base-url must start with http:// or https:// (got {settings.base_url}).")
    if settings.language is not None and not _LANGUAGE.fullmatch(settings.language):
        # It goes into the card's YAML as it is: only a code is safe there, and only a code is what the Hub reads.
        raise ConfigError(f"--language must be an ISO 639 code such as en, de or pt-BR (got {settings.language!r}).")
    if settings.batch and settings.offline:
        raise ConfigError("--batch needs a model endpoint with a Batch API: set OPENAI_API_KEY or pass --base-url and --model.")
    if (settings.batch_export or settings.batch_import) and settings.offline:
        raise ConfigError("--batch-export and --batch-import need --model: the model the batch engine serves.")
    if settings.batch_export and settings.batch:
        raise ConfigError("give either --batch (the endpoint's Batch API) or --batch-export (files for another engine), not both.")
    if (settings.batch or settings.batch_export) and settings.max_cost is not None:
        raise ConfigError(
            "--max-cost cannot be used with --batch or --batch-export: a batch is paid for as a whole once submitted, so no cap can stop it "
            "midway; see its price with --dry-run --batch, then run without --max-cost."
        )
    if os.path.realpath(settings.out) == os.path.realpath(settings.corpus):
        # The out folder is never read as input, so the corpus would be empty; and the
        # dataset files would land among the user's documents.
        raise ConfigError(
            f"the out folder {settings.out} is the corpus folder itself; choose another folder with -o "
            "(one inside the corpus is fine: it is not read)."
        )


_v = _defaults(VALIDATE_OPTIONS)


@dataclass(frozen=True)
class ValidateSettings:
    """Settings of ``qagen validate FILE``."""

    def __post_init__(self) -> None:
        _check(self)


    file: Path
    model: str = _v("model")
    max_tokens: int = _v("max_tokens")
    separator: str | None = _v("separator")
    stop: str | None = _v("stop")
    leading_space: bool = _v("leading_space")
    max_lines: int = _v("max_lines")


_e = _defaults(EVAL_OPTIONS)


@dataclass(frozen=True)
class EvalSettings:
    """Settings of ``qagen eval OUT_DIR``."""

    def __post_init__(self) -> None:
        _check(self)


    out_dir: Path
    model: str | None = _e("model")
    base_url: str | None = _e("base_url")
    api_key: str | None = field(default=None, repr=False)
    adapter: Path | None = _e("adapter")
    base_model: str | None = _e("base_model")
    judge_model: str | None = _e("judge_model")
    split: str = _e("split")
    concurrency: int = _e("concurrency")
    timeout: float = _e("timeout")
    max_attempts: int = _e("max_attempts")
    max_retry_wait: float = _e("max_retry_wait")
    f1_threshold: float = _e("f1_threshold")
    fresh: bool = _e("fresh")


def _check_eval(settings: EvalSettings) -> None:
    if bool(settings.model) == bool(settings.adapter):
        raise ConfigError("give either --model (a model at an endpoint) or --adapter (a trained LoRA adapter).")
    if settings.model and not settings.base_url and not settings.api_key:
        raise ConfigError(f"--model {settings.model} needs OPENAI_API_KEY for OpenAI, or --base-url for a local server.")


_f = _defaults(FINETUNE_OPTIONS)


@dataclass(frozen=True)
class FinetuneSettings:
    """Settings of ``qagen finetune OUT_DIR`` on a jobs API, and of ``qagen follow JOB_ID``."""

    def __post_init__(self) -> None:
        _check(self)


    out_dir: Path
    base_model: str = _f("base_model")
    n_epochs: int | None = _f("epochs")  # None: the service's default ("auto")
    batch_size: int | None = _f("batch_size")
    learning_rate_multiplier: float | None = _f("learning_rate_multiplier")
    suffix: str | None = _f("suffix")  # added to the fine-tuned model's name
    seed: int | None = _f("seed")
    base_url: str | None = _f("base_url")  # None: OpenAI; e.g. Azure OpenAI's https://<resource>.openai.azure.com/openai/v1
    # Never printed, logged or written: repr=False keeps it out of reprs and tracebacks.
    api_key: str | None = field(default=None, repr=False)
    dry_run: bool = _f("dry_run")
    poll_interval: float = _f("poll_interval")  # seconds between two looks at the job
    timeout: float = _f("timeout")  # seconds per request
    max_attempts: int = _f("max_attempts")  # per request, counting the first
    max_retry_wait: float = _f("max_retry_wait")  # longest Retry-After honoured; a longer one stops

    @property
    def hyperparameters(self) -> dict[str, int | float]:
        """The hyperparameters given; the others are left to the service."""
        chosen = {
            "n_epochs": self.n_epochs,
            "batch_size": self.batch_size,
            "learning_rate_multiplier": self.learning_rate_multiplier,
        }
        return {name: value for name, value in chosen.items() if value is not None}

    @property
    def jobs_endpoint(self) -> str:
        """The base URL of the jobs API, without a trailing slash."""
        return (self.base_url or OPENAI_URL).rstrip("/")


def _check_finetune(settings: FinetuneSettings) -> None:
    if not settings.base_model.strip():
        raise ConfigError("--base-model must not be empty.")
    if settings.suffix is not None and not 0 < len(settings.suffix) <= MAX_SUFFIX_CHARS:
        raise ConfigError(f"--suffix must be 1 to {MAX_SUFFIX_CHARS} characters (got {len(settings.suffix)}).")
    if settings.base_url and not settings.base_url.startswith(("http://", "https://")):
        raise ConfigError(f"--base-url must start with http:// or https:// (got {settings.base_url}).")


_t = _defaults(TRAIN_OPTIONS)


@dataclass(frozen=True)
class TrainSettings:
    """Settings of ``qagen finetune OUT_DIR --trainer trl``: a LoRA adapter trained on this machine."""

    def __post_init__(self) -> None:
        _check(self)


    out_dir: Path  # a qagen out folder (train.jsonl, valid.jsonl)
    base_model: str  # local folder or Hugging Face hub id
    adapter_dir: Path | None = _t("adapter_dir")  # default OUT_DIR/adapter
    epochs: float = _t("epochs")
    learning_rate: float = _t("learning_rate")
    batch_size: int = _t("batch_size")
    lora_r: int = _t("lora_r")
    lora_alpha: int = _t("lora_alpha")
    lora_dropout: float = _t("lora_dropout")
    max_length: int = _t("max_length")  # tokens per example; TRL cuts longer ones at the end
    seed: int = _t("seed")
    max_steps: int | None = _t("max_steps")  # stop after this many optimizer steps; overrides epochs

    @property
    def resolved_adapter_dir(self) -> Path:
        return self.adapter_dir if self.adapter_dir is not None else self.out_dir / "adapter"


def _check_train(settings: TrainSettings) -> None:
    if not str(settings.base_model).strip():
        raise ConfigError("--base-model must not be empty.")


# --------------------------------------------------------------------------- building and resolving

T = TypeVar("T")

_SCHEMAS: dict[type, tuple[Mapping[str, Option], Callable[[Any], None]]] = {
    Settings: (GENERATE_OPTIONS, _check_generate),
    ValidateSettings: (VALIDATE_OPTIONS, lambda settings: None),
    EvalSettings: (EVAL_OPTIONS, _check_eval),
    FinetuneSettings: (FINETUNE_OPTIONS, _check_finetune),
    TrainSettings: (TRAIN_OPTIONS, _check_train),
}


def options_of(cls: type) -> Mapping[str, Option]:
    return _SCHEMAS[cls][0]


def unknown_env_variables(env: Mapping[str, str]) -> list[str]:
    """QAGEN_ variables that name no setting: most likely a typo, worth a warning."""
    known = {option.env for option in GENERATE_OPTIONS.values() if not option.flag_only}
    return sorted(name for name in env if name.startswith(ENV_PREFIX) and name not in known)


def resolve(
    cls: type[T],
    given: Mapping[str, Any],
    *,
    env: Mapping[str, str] | None = None,
    config_file: Path | None = None,
    given_as: str = "flag",
    **fixed: Any,
) -> T:
    """Merge what was given > environment > config file > defaults into one checked ``cls``.

    ``given`` holds flags (``given_as="flag"``) or library keyword arguments
    (``given_as="argument"``) by setting name; None means "not given". ``fixed`` holds the
    fields that are not settings (the corpus, the out folder of a command). ``QAGEN_*``
    variables and config files hold generation settings only; ``OPENAI_BASE_URL`` fills
    ``base_url`` and ``OPENAI_API_KEY`` the key for every command that talks to an endpoint.
    """
    env = os.environ if env is None else env
    options = options_of(cls)
    values: dict[str, tuple[Any, str]] = {}
    if config_file is not None:
        for name, value in read_config_file(config_file, options).items():
            values[name] = (value, f"{name} in config file {config_file}")
    if cls is Settings:
        for name, option in options.items():
            # An empty variable means "not set", except where a blank value is refused: QAGEN_SYSTEM=
            # is most likely meant as "no system message", and is told how to say that.
            if not option.flag_only and (env.get(option.env, "") != "" or (option.env in env and option.not_blank)):
                values[name] = (env[option.env], f"environment variable {option.env}")
    if "base_url" in options and env.get("OPENAI_BASE_URL"):
        values["base_url"] = (env["OPENAI_BASE_URL"], "environment variable OPENAI_BASE_URL")
    for name, value in given.items():
        if name not in options:
            raise unknown_setting(name, options, "qagen.generate()" if given_as == "argument" else "command line")
        if value is not None:
            values[name] = (value, options[name].flag if given_as == "flag" else f"argument {name}")
    kwargs: dict[str, Any] = dict(fixed)
    for name, (value, origin) in values.items():
        kwargs[options[name].attr] = options[name].convert(value, origin)
    if any(f.name == "api_key" for f in dataclasses.fields(cls)):  # type: ignore[arg-type]
        kwargs["api_key"] = env.get("OPENAI_API_KEY") or None
    if cls is Settings:
        engine = bool(kwargs.get("batch_export") or kwargs.get("batch_import"))
        kwargs.update(_resolve_model(kwargs.get("model"), kwargs.get("base_url"), kwargs.get("api_key"), engine_files=engine))
    if "timeout" in options and "timeout" not in values and is_local_endpoint(kwargs.get("base_url")):
        # One request at a time and the rest queued: with 8 in flight and 120 s, queued requests time out
        # and are sent again while the server still works on them for nobody.
        kwargs["timeout"] = LOCAL_TIMEOUT
    return cls(**kwargs)


def _check(settings: Any) -> None:
    """Every field against its option, then the checks that involve several; run on every construction."""
    options, check_together = _SCHEMAS[type(settings)]
    for option in options.values():
        option.convert(getattr(settings, option.attr), f"{type(settings).__name__}.{option.attr}")
    check_together(settings)


def _resolve_model(model: str | None, base_url: str | None, api_key: str | None, *, engine_files: bool = False) -> dict[str, Any]:
    if model == OFFLINE_MODEL:
        return {"model": OFFLINE_MODEL, "base_url": None}
    if model is None:
        if base_url:
            raise ConfigError(f"--model is required with --base-url {base_url} (the name the server knows the model by).")
        if api_key:
            return {"model": DEFAULT_OPENAI_MODEL}
        return {"model": OFFLINE_MODEL, "model_was_defaulted": True}
    if not base_url and not api_key and not engine_files:  # a batch engine's files need no endpoint
        raise ConfigError(
            f"--model {model} needs OPENAI_API_KEY for OpenAI, or --base-url for a local server; "
            "use --model offline to run without a model."
        )
    return {"model": model}
