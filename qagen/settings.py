"""One frozen ``Settings``, resolved once.

Precedence: command-line flags > environment (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``,
``QAGEN_*``) > config file (``--config``, TOML) > defaults. Nothing else in qagen reads
the environment or config files; the resolved Settings object is passed down.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qagen.documents.chunking import DEFAULT_CHUNK_TOKENS, DEFAULT_OVERLAP_TOKENS, check_sizes
from qagen.errors import ConfigError
from qagen.quality.idk.candidates import DEFAULT_REFUSALS
from qagen.dataset.validate import MAX_EXAMPLE_TOKENS

OFFLINE_MODEL = "offline"
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
DEFAULT_SYSTEM_MESSAGE = (
    "You answer questions about the organisation's documents. "
    "When the documents do not cover a question, say that you don't know."
)


@dataclass(frozen=True)
class Settings:
    corpus: Path
    out: Path = Path("out")
    model: str = OFFLINE_MODEL
    base_url: str | None = None
    # Never printed, logged or written: repr=False keeps it out of reprs and tracebacks.
    api_key: str | None = field(default=None, repr=False)
    pairs_per_chunk: int = 5
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS
    overlap_tokens: int = DEFAULT_OVERLAP_TOKENS
    template: Path | None = None  # None: the built-in templates/qa.json
    idk_template: Path | None = None  # None: templates/idk.json
    idk_check_template: Path | None = None  # None: templates/idk_check.json
    judge_template: Path | None = None  # None: templates/judge.json
    concurrency: int = 8
    max_attempts: int = 6
    timeout: float = 120.0
    format: str = "chat"  # "chat" or "completion"
    system_message: str | None = DEFAULT_SYSTEM_MESSAGE
    separator: str = "\n\n###\n\n"
    stop: str = " END"
    leading_space: bool = True
    valid_fraction: float = 0.1
    seed: int = 0
    idk_ratio: float = 0.1  # "I don't know" examples per kept grounded pair
    refusals: tuple[str, ...] = DEFAULT_REFUSALS
    dedupe_threshold: float = 0.8  # word-set Jaccard at which two questions are near duplicates
    grounding_threshold: float = 0.5  # share of an answer's terms its chunk must contain
    judge: bool = False
    judge_threshold: int = 4  # lowest judge rating (1-5) a pair may have
    max_example_tokens: int = MAX_EXAMPLE_TOKENS
    restart: bool = False
    quiet: bool = False
    model_was_defaulted: bool = False  # offline because nothing was configured: say so at the start

    @property
    def offline(self) -> bool:
        return self.model == OFFLINE_MODEL

    def fingerprint_fields(self, template_digest: str) -> dict[str, Any]:
        """The settings that change what the model is asked or what it replies.

        A rerun into an out folder made with different values would mix two datasets,
        so the run refuses it. Output-only settings (format, system message, split)
        are not here: changing them just rewrites the dataset files.
        """
        return {
            "model": self.model,
            "template_sha256": template_digest,
            "chunk_tokens": self.chunk_tokens,
            "overlap_tokens": self.overlap_tokens,
            "pairs_per_chunk": self.pairs_per_chunk,
        }


# Name in flags/config file -> (Settings field, parser). QAGEN_<NAME upper> in the environment.
def _refusals(value: str | list | tuple) -> tuple[str, ...]:
    # In the environment, phrasings are separated by "|".
    items = value.split("|") if isinstance(value, str) else list(value)
    refusals = tuple(str(item).strip() for item in items if str(item).strip())
    if not refusals:
        raise ValueError("no refusal phrasing given")
    return refusals


def _bool(value: str | bool) -> bool:
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a yes/no value: {value!r}")


_FIELDS: dict[str, Any] = {
    "out": Path,
    "model": str,
    "base_url": str,
    "pairs_per_chunk": int,
    "chunk_tokens": int,
    "overlap_tokens": int,
    "template": Path,
    "idk_template": Path,
    "idk_check_template": Path,
    "judge_template": Path,
    "concurrency": int,
    "max_attempts": int,
    "timeout": float,
    "format": str,
    "system_message": str,
    "separator": str,
    "stop": str,
    "leading_space": _bool,
    "valid_fraction": float,
    "seed": int,
    "quiet": _bool,
    "idk_ratio": float,
    "refusals": _refusals,
    "dedupe_threshold": float,
    "grounding_threshold": float,
    "judge": _bool,
    "judge_threshold": int,
    "max_example_tokens": int,
}


def read_config_file(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # the same parser, from PyPI (a dependency on Python 3.10 only)
        import tomli as tomllib
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}.") from None
    table = data.get("qagen", data)
    unknown = set(table) - set(_FIELDS)
    if unknown:
        raise ConfigError(
            f"config file {path} has unknown setting(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(_FIELDS))})."
        )
    return table


def _convert(name: str, value: Any, origin: str) -> Any:
    try:
        return _FIELDS[name](value)
    except (TypeError, ValueError):
        raise ConfigError(f"{origin} sets {name} to {value!r}, which is not a valid value for it.") from None


def resolve(
    corpus: Path,
    flags: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Merge flags > environment > config file > defaults into one checked Settings.

    ``flags`` holds only the flags the user actually gave (None means "not given").
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    if config_file is not None:
        for name, value in read_config_file(config_file).items():
            values[name] = _convert(name, value, f"config file {config_file}")
    for name in _FIELDS:
        env_name = "QAGEN_" + name.upper()
        if env.get(env_name, "") != "":
            values[name] = _convert(name, env[env_name], f"environment variable {env_name}")
    if env.get("OPENAI_BASE_URL"):
        values["base_url"] = env["OPENAI_BASE_URL"]
    for name, value in flags.items():
        if value is not None:
            values[name] = value

    api_key = env.get("OPENAI_API_KEY") or None
    values["api_key"] = api_key
    values.update(_resolve_model(values.get("model"), values.get("base_url"), api_key))
    settings = Settings(corpus=corpus, **values)
    check(settings)
    return settings


def _resolve_model(model: str | None, base_url: str | None, api_key: str | None) -> dict[str, Any]:
    if model == OFFLINE_MODEL:
        return {"model": OFFLINE_MODEL, "base_url": None}
    if model is None:
        if base_url:
            raise ConfigError(f"--model is required with --base-url {base_url} (the name the server knows the model by).")
        if api_key:
            return {"model": DEFAULT_OPENAI_MODEL}
        return {"model": OFFLINE_MODEL, "model_was_defaulted": True}
    if not base_url and not api_key:
        raise ConfigError(
            f"--model {model} needs OPENAI_API_KEY for OpenAI, or --base-url for a local server; "
            "use --model offline to run without a model."
        )
    return {"model": model}


def check(settings: Settings) -> None:
    if settings.pairs_per_chunk < 1 or settings.pairs_per_chunk > 100:
        raise ConfigError(f"-n must be between 1 and 100 pairs per chunk (got {settings.pairs_per_chunk}).")
    check_sizes(settings.chunk_tokens, settings.overlap_tokens)
    if not 1 <= settings.concurrency <= 512:
        raise ConfigError(f"--concurrency must be between 1 and 512 (got {settings.concurrency}).")
    if settings.max_attempts < 1:
        raise ConfigError(f"--max-attempts must be at least 1 (got {settings.max_attempts}).")
    if settings.timeout <= 0:
        raise ConfigError(f"--timeout must be positive (got {settings.timeout}).")
    if settings.format not in ("chat", "completion"):
        raise ConfigError(f"--format must be chat or completion (got {settings.format}).")
    if not 0 <= settings.valid_fraction < 1:
        raise ConfigError(f"--valid-fraction must be at least 0 and below 1 (got {settings.valid_fraction}).")
    if settings.format == "completion" and not settings.separator:
        raise ConfigError("--separator must not be empty for --format completion.")
    if settings.idk_ratio < 0 or settings.idk_ratio > 1:
        raise ConfigError(f"--idk-ratio must be between 0 and 1 (got {settings.idk_ratio}).")
    if not 0 < settings.dedupe_threshold <= 1:
        raise ConfigError(f"--dedupe-threshold must be above 0 and at most 1 (got {settings.dedupe_threshold}).")
    if not 0 <= settings.grounding_threshold <= 1:
        raise ConfigError(f"--grounding-threshold must be between 0 and 1 (got {settings.grounding_threshold}).")
    if not 1 <= settings.judge_threshold <= 5:
        raise ConfigError(f"--judge-threshold must be a rating from 1 to 5 (got {settings.judge_threshold}).")
    if settings.judge and settings.offline:
        raise ConfigError("--judge needs a model: set OPENAI_API_KEY or pass --base-url and --model.")
    if settings.max_example_tokens < 16:
        raise ConfigError(f"--max-example-tokens must be at least 16 (got {settings.max_example_tokens}).")
    if settings.base_url and not settings.base_url.startswith(("http://", "https://")):
        raise ConfigError(f"--base-url must start with http:// or https:// (got {settings.base_url}).")


def settings_digest(fields: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def public_view(settings: Settings) -> dict[str, Any]:
    """Settings as plain JSON values for the report, without the key."""
    view = {}
    for f in dataclasses.fields(settings):
        if f.name == "api_key":
            continue
        value = getattr(settings, f.name)
        view[f.name] = str(value) if isinstance(value, Path) else value
    view["api_key_set"] = settings.api_key is not None
    return view




def endpoint_from_env(base_url: str | None, env: Mapping[str, str] | None = None) -> tuple[str | None, str | None]:
    """(base URL, API key) for the commands that talk to an endpoint outside a generation run.

    The flag wins over ``OPENAI_BASE_URL``; the key only ever comes from ``OPENAI_API_KEY``.
    """
    env = os.environ if env is None else env
    return base_url or env.get("OPENAI_BASE_URL") or None, env.get("OPENAI_API_KEY") or None
