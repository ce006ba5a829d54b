"""Which model is answering: ``qagen eval`` reuses a saved answer only from the same model.

A name is not enough. An adapter is retrained in place, and a server serves a new model
under an old name (``ollama create``, a vLLM ``--served-model-name``), so answers saved under
a name can come from another model. A ``ModelIdentity`` is the name plus what tells that
model apart from others of the same name:

- a local adapter (``--adapter``): its base model and a sha256 over its weights and config
  files (not its training log, which changes nothing the model says);
- a model at an endpoint: what the server says of it, ``GET /models/{name}`` (or the model
  list, for servers that only list): its ``created`` time, owner, and the weights it was
  loaded from (``root``, ``parent``) where the server gives them. Servers that stamp a
  model with the time of the request (vLLM, llama.cpp) tell nothing by it, so a ``created``
  equal to the reply's own date is left out. A server that tells nothing leaves the name
  alone; ``qagen eval --fresh`` then asks again after serving another model under it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import openai

from qagen.errors import ConfigError, ModelError
from qagen.llm.client import NO_KEY, describe_failure

# Files of an adapter folder that make the model: weights, configs, tokenizer and chat template.
MODEL_FILE_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".json", ".model", ".jinja", ".txt")
IDENTIFYING_FIELDS = ("created", "owned_by", "root", "parent")  # of a model object, where a server gives them
LISTING_TIME_SLACK = 5  # seconds: a "created" this close to the reply's date is the time of the listing


@dataclass(frozen=True)
class ModelIdentity:
    name: str
    facts: Mapping[str, str] = field(default_factory=dict)  # empty: only the name is known

    @property
    def digest(self) -> str:
        """16 hex digits naming this model among all that were ever served under its name."""
        text = json.dumps({"name": self.name, "facts": dict(self.facts)}, sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def changes_since(self, earlier: Mapping[str, str]) -> str:
        """``created 1700000000 -> 1700009999``: what differs from an earlier identity of the same name."""
        names = sorted(set(earlier) | set(self.facts))
        changed = [f"{n} {earlier.get(n, 'not given')} -> {self.facts.get(n, 'not given')}" for n in names if earlier.get(n) != self.facts.get(n)]
        return ", ".join(changed) or "same facts"


def adapter_identity(name: str, adapter_dir: Path, base_model: str) -> ModelIdentity:
    """The identity of a LoRA adapter folder: its base model and a digest of the files that make it."""
    combined = hashlib.sha256()
    try:
        files = sorted(p for p in Path(adapter_dir).iterdir() if p.is_file() and p.suffix in MODEL_FILE_SUFFIXES)
        for path in files:
            one = hashlib.sha256()
            with open(path, "rb") as handle:
                while block := handle.read(1 << 20):
                    one.update(block)
            combined.update(f"{path.name}\0{one.hexdigest()}\n".encode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the adapter in {adapter_dir}: {exc.strerror or exc}.") from None
    return ModelIdentity(name, {"base_model": base_model, "files_sha256": combined.hexdigest()})


async def endpoint_identity(name: str, *, base_url: str | None, api_key: str | None, timeout: float) -> ModelIdentity:
    """The identity of model ``name`` at an OpenAI-compatible endpoint, from what the server says of it."""
    # A read that changes nothing: the SDK's own retries are enough here.
    client = openai.AsyncOpenAI(api_key=api_key or NO_KEY, base_url=base_url, timeout=timeout, max_retries=2)
    try:
        return ModelIdentity(name, await _described(client, name))
    except openai.APIError as exc:
        where = base_url or "the OpenAI API"
        raise ModelError(f"cannot ask {where} which model it serves as {name} ({describe_failure(exc)}); run the same command again later.") from None
    finally:
        await client.close()


def _passing(exc: Exception) -> bool:
    """A failure that another try may not have: the server is busy, down or out of reach."""
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409, 429) or (exc.status_code >= 500 and exc.status_code != 501)
    return isinstance(exc, openai.APIConnectionError)


async def _described(client: openai.AsyncOpenAI, name: str) -> dict[str, str]:
    """What the server says of the model; {} when it says nothing (no such endpoint, an odd reply, a wrong key:
    the chat requests then give the reason, if there is one)."""
    try:
        raw: Any = await client.models.with_raw_response.retrieve(name)
        model = raw.parse()
    except (openai.APIError, ValueError) as exc:
        if _passing(exc):
            raise
        # Some servers only list their models (vLLM, llama.cpp).
        try:
            raw = await client.models.with_raw_response.list()
            model = next((m for m in raw.parse().data if getattr(m, "id", None) == name), None)
        except (openai.APIError, ValueError, TypeError) as listing:
            if _passing(listing):
                raise
            return {}
        if model is None:
            return {}
    facts = {key: str(value) for key in IDENTIFYING_FIELDS if (value := getattr(model, key, None)) not in (None, "")}
    created = getattr(model, "created", None)
    if isinstance(created, (int, float)) and abs(created - _reply_time(raw.headers.get("date"))) <= LISTING_TIME_SLACK:
        facts.pop("created", None)
    return facts


def _reply_time(date: str | None) -> float:
    try:
        return parsedate_to_datetime(date).timestamp() if date else time.time()
    except (TypeError, ValueError):
        return time.time()
