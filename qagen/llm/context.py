"""How much a model reads at once: known context windows, and whether a request fits one.

The window is ``--max-context`` when given, else the one this table knows for the model, else
unknown (then only the server's refusal tells, and ``qagen.llm.client`` classifies it). Counts
are qagen's own (exact for OpenAI's models, an estimate elsewhere), so a prompt judged to fit may
still be refused: the pipeline handles both the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from qagen.documents.tokens import count_chat_tokens
from qagen.records import Request

# Context windows in tokens (prompt and reply together) of a few common models, by name prefix;
# the longest matching prefix wins. Recorded 2026-12-02 from the figures OpenAI's model pages
# (platform.openai.com/docs/models) and the Hugging Face model cards of Meta Llama 3.1/3.2, Qwen2.5
# and SmolLM2 give; check them there before adding or changing an entry. A local server may run a
# model with a smaller window than its card says (llama.cpp's default is 2,048): --max-context.
KNOWN_CONTEXT_WINDOWS: dict[str, int] = {
    "gpt-4.1": 1_047_576,
    "gpt-4o": 128_000,
    "gpt-4-turbo": 128_000,
    "gpt-4": 8_192,
    "gpt-3.5-turbo": 16_385,
    "gpt-5": 400_000,
    "o1": 200_000,
    "o3": 200_000,
    "o4-mini": 200_000,
    "llama3.1": 131_072,
    "llama3.2": 131_072,
    "qwen2.5": 32_768,
    "smollm2": 8_192,
}

# A generation prompt must leave the reply at least this share of the window (or all of its
# max_tokens, when that is less): a chunk that leaves less is split before it is sent.
MIN_REPLY_SHARE = 4


def context_window_for(model: str) -> int | None:
    """The known context window of ``model`` (a fine-tuned ``ft:BASE:...`` counts as its base), or None."""
    name = model.lower()
    if name.startswith("ft:"):
        name = name[3:]
    name = name.rsplit("/", 1)[-1]  # "meta-llama/llama3.1" and the like
    matches = [prefix for prefix in KNOWN_CONTEXT_WINDOWS if re.match(re.escape(prefix) + r"(?![\d.])", name)]
    return KNOWN_CONTEXT_WINDOWS[max(matches, key=len)] if matches else None


def reply_budget(request: Request) -> int:
    params = request.params
    return int(params.get("max_tokens") or params.get("max_completion_tokens") or 0)


def prompt_tokens(request: Request, count_tokens: Callable[[str], int]) -> int:
    return count_chat_tokens([m.as_dict() for m in request.messages], count_tokens)


def leaves_no_room(request: Request, window: int, count_tokens: Callable[[str], int]) -> bool:
    """True when the prompt leaves the reply less than it needs: such a prompt is over the window."""
    wanted = reply_budget(request)
    room = min(wanted, window // MIN_REPLY_SHARE) if wanted else window // MIN_REPLY_SHARE
    return prompt_tokens(request, count_tokens) + room > window


def cuts_reply_short(request: Request, window: int, count_tokens: Callable[[str], int]) -> bool:
    """True when prompt and the whole reply asked for (max_tokens) do not fit together."""
    return prompt_tokens(request, count_tokens) + reply_budget(request) > window
