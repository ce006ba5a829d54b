"""Exact, offline token counts for a model name, and the token cost of a chat request.

The rank files for OpenAI's encodings ship inside the ``bpe-openai`` package, so
counting never downloads anything. For models that are not OpenAI's (Llama, Qwen,
...) an OpenAI encoding is only an estimate, and ``TokenCounter.exact`` says so.

``count_chat_tokens`` adds the framing of chat messages to the counts of their texts, the
one recipe for a training example (``qagen.dataset.checks``) and for a request whose server
sent no usage (``qagen.llm.client``).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

# Longest prefix wins. Order does not matter: lookup sorts by length.
_ENCODING_BY_PREFIX = {
    "gpt-4o": "o200k_base",
    "gpt-4.1": "o200k_base",
    "gpt-4.5": "o200k_base",
    "gpt-5": "o200k_base",
    "chatgpt-4o": "o200k_base",
    "o1": "o200k_base",
    "o3": "o200k_base",
    "o4-mini": "o200k_base",
    "gpt-oss": "o200k_base",
    "gpt-4": "cl100k_base",
    "gpt-3.5-turbo": "cl100k_base",
    "gpt-35-turbo": "cl100k_base",
    "davinci-002": "cl100k_base",
    "babbage-002": "cl100k_base",
    "text-embedding-3": "cl100k_base",
    "text-embedding-ada-002": "cl100k_base",
}
_ESTIMATE_ENCODING = "o200k_base"


def base_model_name(model: str) -> str:
    """The base model of a fine-tuned name: ``ft:gpt-4.1-mini:org::id`` -> ``gpt-4.1-mini``.

    Stripping the ``ft:`` wrapper first matters: matched naively, ``ft:gpt-4.1...``
    would look like ``gpt-4`` and get the wrong encoding.
    """
    if model.startswith("ft:"):
        return model[3:].split(":", 1)[0]
    return model


def encoding_name_for(model: str) -> tuple[str, bool]:
    """(encoding name, exact) for a model name; unknown models get an estimate."""
    name = base_model_name(model.strip()).lower()
    # Azure deployments and proxies often prefix a provider: "openai/gpt-4o".
    name = name.rsplit("/", 1)[-1]
    for prefix in sorted(_ENCODING_BY_PREFIX, key=len, reverse=True):
        # "gpt-4" must match "gpt-4-turbo" but not "gpt-4o": the prefix has to end at a boundary.
        if name.startswith(prefix) and name[len(prefix):len(prefix) + 1] in ("", "-", ".", ":", "_"):
            return _ENCODING_BY_PREFIX[prefix], True
    return _ESTIMATE_ENCODING, False


@lru_cache(maxsize=None)
def _encoding(name: str) -> Any:  # bpe_openai ships no type hints
    """The Rust tokenizer of bpe-openai for one encoding, loaded without the package's Python wrapper.

    ``import bpe_openai`` reads and decodes the rank files of all three of its encodings (cl100k, o200k,
    voyage3) into Python dicts, which only its own Python-side helpers use: profiled, 0.9 s of CPU on
    every run, a quarter of the read stage at 10 MB. The Rust tokenizer carries its own ranks, so only
    its extension module is loaded here (and registered under its own name: a later ``import bpe_openai``
    then uses the same module, as a PyO3 module cannot be initialised twice).
    """
    module = sys.modules.get(_BINDINGS)
    if module is None:
        package = importlib.util.find_spec("bpe_openai")  # finds the package without running its __init__
        spec = importlib.machinery.PathFinder.find_spec(_BINDINGS, package.submodule_search_locations if package else None)
        if spec is None or spec.loader is None:
            raise ImportError("bpe-openai's tokenizer (bpe_openai._bindings) is not installed")
        module = importlib.util.module_from_spec(spec)
        sys.modules[_BINDINGS] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[_BINDINGS]
            raise
    return module.tokenizer_for_encoding(name)


_BINDINGS = "bpe_openai._bindings"


@dataclass(frozen=True)
class TokenCounter:
    """Counts tokens of text for one model."""

    model: str
    encoding_name: str
    exact: bool

    def __call__(self, text: str) -> int:
        # Text that looks like a special token ("<|endoftext|>") is counted as plain text:
        # documents may contain anything. The Rust tokenizer's count is the length of
        # bpe-openai's encode_ordinary (which is encode(disallowed_special=())), without the
        # wrapper's checks and the list of token ids: counting is called for every piece of every chunk.
        tokenizer = _encoding(self.encoding_name)
        if len(text) <= _PIECE_CHARS:
            return _count(tokenizer, text)
        return sum(_count(tokenizer, piece) for piece in _pieces(text))

    def count_each(self, texts: list[str]) -> list[int]:
        """The count of each text, as calling the counter on each gives, with one call into the tokenizer per text.

        For the lines of a document: the 927,000 lines of 50 MB took 3.9 s through the counter one by one, 3.4 s here
        (least of three).
        """
        tokenizer = _encoding(self.encoding_name)
        if max(map(len, texts), default=0) <= _PIECE_CHARS:
            try:
                return list(map(tokenizer.count, texts))
            except UnicodeEncodeError:
                pass  # a lone surrogate somewhere: each text as the counter counts it
        return [self(text) for text in texts]

    def count_containing(self, text: str, part: str, part_tokens: int) -> int:
        """The count of ``text``, which holds ``part`` of ``part_tokens`` tokens: only the lines at ``part``'s edges are counted.

        A prompt is its template's words around a chunk already counted; counting the chunk again took
        most of the offline generator's token counting. The cuts of ``lines_that_add_up`` inside
        ``part`` are the cuts of ``part`` alone when ``part`` does not end in whitespace (each cut looks
        only at what follows its newline up to the next printable character), so ``part``'s count
        minus its first and last line's is the count of what lies between; the edges are counted with
        ``text`` around them.
        """
        at = text.find(part) if part and not part[-1].isspace() else -1
        if at < 0 or len(text) > _PIECE_CHARS:
            return self(text)
        # Only the first and the last cut are needed: the last is looked for from the end, newline by newline
        # (finding every cut of every chunk took 0.05 s of the 0.15 s of counting the prompts of 10 MB).
        found = LINE_CUT.search(part)
        if found is None:
            return self(text)
        first = last = found.end()
        newline = len(part)
        while (newline := part.rfind("\n", first, newline)) >= first:
            if (cut := LINE_CUT.match(part, newline)) is not None:
                last = cut.end()
                break
        tokenizer = _encoding(self.encoding_name)
        inside = part_tokens - _count(tokenizer, part[:first]) - _count(tokenizer, part[last:])
        return _count(tokenizer, text[: at + first]) + inside + _count(tokenizer, text[at + last :])

    def describe(self) -> str:
        if self.exact:
            return f"{self.encoding_name} (exact for {self.model})"
        return f"{self.encoding_name} (an estimate: {self.model} is not an OpenAI model)"


def _count(tokenizer: Any, text: str) -> int:
    try:
        return tokenizer.count(text)
    except UnicodeEncodeError:
        # A lone surrogate (from a broken escape) is no UTF-8: counted as U+FFFD, as encode_ordinary counts it.
        return tokenizer.count(text.encode("utf-16", "surrogatepass").decode("utf-16", "replace"))


# bpe-openai's Python encoder refuses one call of 1,000,000 characters or more, or of more than 200,000
# tokens, so long texts were counted in pieces of at most 100,000 characters. The Rust count has no such
# limit, but a run without a space to cut at counts differently in pieces: long texts are still cut the
# same way, so every count stays what it was.
_PIECE_CHARS = 100_000


def _pieces(text: str) -> Iterator[str]:
    """``text`` in pieces the encoder takes, cut where no token can span the cut.

    A cut goes just before a single space between two non-space characters: no pre-token
    of the o200k or cl100k pattern runs across it (words take a leading space, never a
    trailing one), so the counts of the pieces add up to the count of the whole. Only a run
    of 100,000 characters without such a space (no real prose) is cut anywhere, which can
    make its count differ by a token at the cut.
    """
    start, end = 0, len(text)
    while end - start > _PIECE_CHARS:
        cut = text.rfind(" ", start + 1, start + _PIECE_CHARS)
        while cut > start and (text[cut - 1].isspace() or cut + 1 >= end or text[cut + 1].isspace()):
            cut = text.rfind(" ", start + 1, cut)
        if cut <= start:
            cut = start + _PIECE_CHARS
        yield text[start:cut]
        start = cut
    yield text[start:]


# A cut just after a newline, where what follows is spaces or tabs (or nothing) and then a printable ASCII
# character other than "/", is a pre-token boundary of both the o200k and the cl100k pattern, whatever
# stands before it: the pre-token holding the newline takes the whitespace and the punctuation before it
# (".\n\n" is one), and after it only more newlines (" \n \n" is one) or, after punctuation, a "/"
# (".\n/"); so the count of the text is the counts of its two sides added. A line of spaces to the end of
# the text is no boundary (cl100k's \s++$ takes it with the newline). tests/test_token_counts.py checks
# the rule on random text of the characters that matter.
# Its group is the printable character a cut needs: a text that ends before it has no cut there.
LINE_CUT = re.compile(r"\n(?=[ \t]*([!-.0-~]))")


def lines_that_add_up(text: str) -> list[str]:
    """``text`` cut into lines whose token counts add up to the count of ``text`` (at most 100,000 characters).

    Not every line start is a cut: a line whose first character after its indent is a "/", a space other
    than " " and tab, or a character outside ASCII stays joined to the line before it.
    """
    # The newline ends the line before the cut. (Found by the newline rather than split at a zero-width
    # match: a third less time.)
    ends = [m.end() for m in LINE_CUT.finditer(text)]
    return [text[start:end] for start, end in zip([0, *ends], [*ends, len(text)])]


def counter_for(model: str) -> TokenCounter:
    encoding_name, exact = encoding_name_for(model)
    return TokenCounter(model=model, encoding_name=encoding_name, exact=exact)


# Chat framing, as in OpenAI's token counting recipe: every message costs 3 tokens
# around its values (role, content, name), a name 1 more, and the reply is primed with 3.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING_TOKENS = 3


def count_chat_tokens(messages: Iterable[object], count_tokens: Callable[[str], int]) -> int:
    """Tokens of a chat request or example: role, content and name of every message plus the framing.

    Every message adds TOKENS_PER_MESSAGE, a name TOKENS_PER_NAME more, and the whole
    REPLY_PRIMING_TOKENS once; a ``function_call`` is counted as its JSON text. Entries that
    are not mappings (a damaged example line) are skipped: they carry no text to count.
    """
    total = REPLY_PRIMING_TOKENS
    for message in messages:
        if not isinstance(message, Mapping):
            continue
        total += TOKENS_PER_MESSAGE
        for key in ("role", "content", "name"):
            value = message.get(key)
            if isinstance(value, str):
                total += count_tokens(value)
        if isinstance(message.get("name"), str):
            total += TOKENS_PER_NAME
        if message.get("function_call") is not None:
            total += count_tokens(json.dumps(message["function_call"], ensure_ascii=False, default=str))
    return total
