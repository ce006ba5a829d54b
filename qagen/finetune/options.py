"""What a fine-tuning launch is asked to do: ``FinetuneOptions``, their flags and checks.

Owns the options of ``qagen finetune`` and ``qagen follow`` (with the flags that set them and
the environment they are read from), ``check_options`` that refuses what the service would
refuse before anything is sent, the jobs API address the options point at, and the errors
every fine-tuning module raises (``FinetuneError``, ``FinetuneRefused``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qagen.settings import endpoint_from_env
from qagen.errors import ConfigError, QagenError

DEFAULT_BASE_MODEL = "gpt-4o-mini-2024-07-18"
DEFAULT_POLL_INTERVAL = 10.0
OPENAI_URL = "https://api.openai.com/v1"
MAX_SUFFIX_CHARS = 64


class FinetuneError(QagenError):
    """The dataset is not ready for fine-tuning, or the service could not run the job."""


class FinetuneRefused(FinetuneError):
    """The service refused to create a fine-tuning job for this account or resource."""


# ---------------------------------------------------------------- options


@dataclass(frozen=True)
class FinetuneOptions:
    out_dir: Path
    base_model: str = DEFAULT_BASE_MODEL
    n_epochs: int | None = None  # None: the service's default ("auto")
    batch_size: int | None = None
    learning_rate_multiplier: float | None = None
    suffix: str | None = None  # at most 64 characters, added to the fine-tuned model's name
    seed: int | None = None
    base_url: str | None = None  # None: OpenAI; e.g. Azure OpenAI's https://<resource>.openai.azure.com/openai/v1
    # Never printed, logged or written: repr=False keeps it out of reprs and tracebacks.
    api_key: str | None = field(default=None, repr=False)
    dry_run: bool = False
    poll_interval: float = DEFAULT_POLL_INTERVAL  # seconds between two looks at the job
    timeout: float = 60.0  # seconds per request
    max_attempts: int = 6  # per request, counting the first

    @property
    def hyperparameters(self) -> dict[str, int | float]:
        """The hyperparameters given; the others are left to the service."""
        chosen = {
            "n_epochs": self.n_epochs,
            "batch_size": self.batch_size,
            "learning_rate_multiplier": self.learning_rate_multiplier,
        }
        return {name: value for name, value in chosen.items() if value is not None}


def check_options(options: FinetuneOptions) -> None:
    """Refuse values the service would refuse, before anything is sent."""
    if not options.base_model.strip():
        raise ConfigError("--base-model must not be empty.")
    for flag, value in (("--epochs", options.n_epochs), ("--batch-size", options.batch_size)):
        if value is not None and value < 1:
            raise ConfigError(f"{flag} must be at least 1 (got {value}).")
    if options.learning_rate_multiplier is not None and not options.learning_rate_multiplier > 0:
        raise ConfigError(f"--learning-rate-multiplier must be above 0 (got {options.learning_rate_multiplier}).")
    if options.suffix is not None and not 0 < len(options.suffix) <= MAX_SUFFIX_CHARS:
        raise ConfigError(f"--suffix must be 1 to {MAX_SUFFIX_CHARS} characters (got {len(options.suffix)}).")
    if not options.poll_interval > 0:
        raise ConfigError(f"--poll-interval must be above 0 seconds (got {options.poll_interval}).")
    if not options.timeout > 0 or options.max_attempts < 1:
        raise ConfigError("the request timeout must be above 0 and the number of attempts at least 1.")
    if options.base_url and not options.base_url.startswith(("http://", "https://")):
        raise ConfigError(f"--base-url must start with http:// or https:// (got {options.base_url}).")


def _positive(kind: type) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be above 0 (got {text})")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def add_follow_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags that following a job needs: --base-url, --poll-interval."""
    parser.add_argument(
        "--base-url",
        metavar="URL",
        help="an OpenAI-compatible jobs API, such as Azure OpenAI's https://<resource>.openai.azure.com/openai/v1 "
        "(default: OPENAI_BASE_URL, else OpenAI); the key is read from OPENAI_API_KEY",
    )
    parser.add_argument(
        "--poll-interval",
        type=_positive(float),
        default=DEFAULT_POLL_INTERVAL,
        metavar="SECONDS",
        help="seconds between two looks at the job (default: %(default)s)",
    )


def add_finetune_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``qagen finetune OUT_DIR`` (the caller adds the OUT_DIR positional as ``out_dir``)."""
    parser.add_argument(
        "--base-model",
        default=DEFAULT_BASE_MODEL,
        metavar="MODEL",
        help="model to fine-tune (default: %(default)s); babbage-002 or davinci-002 for prompt/completion data",
    )
    auto = "(default: chosen by the service)"
    parser.add_argument("--epochs", type=_positive(int), metavar="N", help=f"training epochs {auto}; --dry-run shows its estimate")
    parser.add_argument("--batch-size", type=_positive(int), metavar="N", help=f"examples per training step {auto}")
    parser.add_argument("--learning-rate-multiplier", type=_positive(float), metavar="X", help=f"scales the learning rate {auto}")
    parser.add_argument("--suffix", metavar="TEXT", help=f"up to {MAX_SUFFIX_CHARS} characters added to the fine-tuned model's name (default: none)")
    parser.add_argument("--seed", type=int, metavar="N", help=f"seed for a reproducible job {auto}")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="check the dataset and show the files, tokens, epochs and estimated billed tokens; sends nothing",
    )
    add_follow_arguments(parser)


def options_from_args(args: argparse.Namespace, env: Mapping[str, str]) -> FinetuneOptions:
    """Options from parsed flags and the environment: --base-url > OPENAI_BASE_URL; the key from OPENAI_API_KEY."""
    base_url, api_key = endpoint_from_env(getattr(args, "base_url", None), env)
    options = FinetuneOptions(
        out_dir=Path(getattr(args, "out_dir", None) or "."),
        base_model=getattr(args, "base_model", None) or DEFAULT_BASE_MODEL,
        n_epochs=getattr(args, "epochs", None),
        batch_size=getattr(args, "batch_size", None),
        learning_rate_multiplier=getattr(args, "learning_rate_multiplier", None),
        suffix=getattr(args, "suffix", None),
        seed=getattr(args, "seed", None),
        base_url=base_url,
        api_key=api_key,
        dry_run=bool(getattr(args, "dry_run", False)),
        poll_interval=getattr(args, "poll_interval", None) or DEFAULT_POLL_INTERVAL,
    )
    check_options(options)
    return options


# ---------------------------------------------------------------- the jobs API address


def jobs_endpoint(options: FinetuneOptions) -> str:
    """The base URL of the jobs API the options point at, without a trailing slash."""
    return (options.base_url or OPENAI_URL).rstrip("/")
