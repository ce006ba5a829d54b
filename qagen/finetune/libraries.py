"""The trainer's optional libraries (torch, transformers, trl, peft, datasets) and the base model.

Imported inside functions only, so qagen imports without the ``train`` extra; a missing
library or an unloadable base model is one ``QagenError`` sentence.
"""

from __future__ import annotations

import importlib
import logging
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

from qagen.errors import ConfigError, QagenError

Say = Callable[[str], None]

CPU_TORCH_HINT = (
    "on a machine without a GPU, install the small CPU build of torch first: "
    "pip install torch --index-url https://download.pytorch.org/whl/cpu"
)


# --------------------------------------------------------------------------- the optional libraries


def import_stack(purpose: str) -> SimpleNamespace:
    """torch, transformers, peft, datasets and (for training) trl, or one sentence saying how to get them."""
    try:
        import torch
        import transformers
        import peft
        import datasets

        # trl is needed for training only; serving an adapter works without it.
        trl = importlib.import_module("trl") if purpose == "training" else None
    except ImportError as exc:
        missing = exc.name or "one of its libraries"
        raise QagenError(f"the trl trainer needs the train extra: pip install 'qagen[train]' ({missing} is missing; {CPU_TORCH_HINT}).") from None
    return SimpleNamespace(torch=torch, transformers=transformers, peft=peft, datasets=datasets, trl=trl)


class _SayHandler(logging.Handler):
    """Passes the libraries' warnings on to the reporter, each once, instead of letting them print."""

    def __init__(self, say: Say) -> None:
        super().__init__(logging.WARNING)
        self._say = say
        self._seen: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        self.note(record.getMessage())

    def note(self, message: str) -> None:
        message = message.strip()
        if message and message not in self._seen:
            self._seen.add(message)
            self._say(f"note: {message.splitlines()[0][:300]}")

    def show_warning(self, message, category, filename, lineno, file=None, line=None) -> None:
        """Stands in for ``warnings.showwarning``: the filters still decide what is shown (or raised)."""
        # Deprecations inside the libraries are for their developers; a user can do nothing about them.
        if not issubclass(category, (DeprecationWarning, FutureWarning)):
            self.note(f"{category.__name__}: {message}")


@contextmanager
def library_output_to(stack: SimpleNamespace, say: Say) -> Iterator[None]:
    """While training or loading, the libraries' progress bars stay off and their warnings go to ``say``."""
    hf_logging = stack.transformers.utils.logging
    bars_were_on = hf_logging.is_progress_bar_enabled()
    dataset_bars_were_on = stack.datasets.is_progress_bar_enabled()
    handler = _SayHandler(say)
    loggers = [logging.getLogger(name) for name in ("transformers", "trl", "peft")]
    hf_logging.disable_default_handler()
    hf_logging.disable_progress_bar()
    stack.datasets.disable_progress_bars()
    for logger in loggers:
        logger.addHandler(handler)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = handler.show_warning
            yield
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
        hf_logging.enable_default_handler()
        if bars_were_on:
            hf_logging.enable_progress_bar()
        if dataset_bars_were_on:
            stack.datasets.enable_progress_bars()


# --------------------------------------------------------------------------- base model


def check_base_model(base_model: str) -> None:
    """A name that is plainly a path must be a folder; anything else is left to the hub client to find."""
    path = Path(base_model).expanduser()
    looks_like_path = base_model.startswith((".", "/", "~", "\\")) or base_model.count("/") > 1 or path.exists()
    if looks_like_path and not path.is_dir():
        raise ConfigError(f"base model {base_model} is not a folder: pass a local model folder (config.json, weights, tokenizer) or a Hugging Face hub id.")


def _base_model_error(base_model: str, exc: BaseException) -> ConfigError:
    reason = str(exc).strip().splitlines()[0][:200].rstrip(".") if str(exc).strip() else type(exc).__name__
    return ConfigError(
        f"cannot load base model {base_model} ({reason}): pass a local model folder, or download it first "
        f"(hf download {base_model}) on a machine that reaches the Hugging Face hub."
    )


def load_tokenizer(stack: SimpleNamespace, source: str, *, base_model: str):
    try:
        tokenizer = stack.transformers.AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as exc:  # OSError: not found, offline; ValueError: malformed hub id or files
        raise _base_model_error(base_model, exc) from None
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigError(f"base model {base_model} has no chat template: use a chat or instruct model (its tokenizer_config.json names a chat_template).")
    return tokenizer


def precision(torch) -> tuple[object, bool, bool]:
    """(dtype to load in, bf16 training, fp16 training): mixed precision on a GPU, plain float32 elsewhere."""
    if torch.cuda.is_available():
        if torch.cuda.is_bf16_supported():
            return torch.bfloat16, True, False
        return torch.float32, False, True
    return torch.float32, False, False


def load_model(stack: SimpleNamespace, base_model: str, dtype):
    try:
        return stack.transformers.AutoModelForCausalLM.from_pretrained(base_model, dtype=dtype)
    except (OSError, ValueError) as exc:
        raise _base_model_error(base_model, exc) from None


def describe_base(base_model: str) -> str:
    """What qagen_adapter.json records: an absolute folder for a local model, the hub id otherwise."""
    path = Path(base_model).expanduser()
    return str(path.resolve()) if path.is_dir() else base_model


