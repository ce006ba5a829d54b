"""qagen counts with bpe-openai's Rust tokenizer directly: every count must equal the package's own encoder's."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest

from qagen.documents.tokens import counter_for

TRICKY = [
    "",
    " ",
    "\n\n\n",
    "Hello, world!",
    "<|endoftext|> looks like a special token <|endofprompt|>",
    "a lone surrogate \ud800 in the middle, and one at the end \udfff",
    "é, ß, 東京, مرحبا, emoji 🚢🚢🚢 and a ZWJ family 👨‍👩‍👧",
    "don't won't it's THEY'LL I'M we'd",
    "tabs\tand   runs of   spaces   \n  \r\n trailing   ",
    "numbers 1234567 3.14159 1,000,000 12:30 2026/12/03",
    "x" * 5_000,
    "def f(x):\n    return {'a': [1, 2, 3]}  # code\n",
]


def reference_count(encoding: str, text: str) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # bpe-openai's own importlib.resources call
        import bpe_openai

        return len(bpe_openai.get_encoding(encoding).encode_ordinary(text))


@pytest.mark.parametrize("model, encoding", [("gpt-4o-mini", "o200k_base"), ("gpt-4", "cl100k_base")])
@pytest.mark.parametrize("text", TRICKY)
def test_counts_equal_the_packages_encoder(model: str, encoding: str, text: str) -> None:
    assert counter_for(model)(text) == reference_count(encoding, text)


def test_the_package_still_imports_after_qagen_loaded_its_tokenizer() -> None:
    # A PyO3 module cannot be initialised twice: qagen registers the one it loads, and the package then uses it.
    code = (
        "import warnings; warnings.simplefilter('ignore', DeprecationWarning)\n"
        "from qagen.documents.tokens import counter_for\n"
        "n = counter_for('gpt-4o-mini')('The ferry leaves at noon.')\n"
        "import bpe_openai\n"
        "assert n == len(bpe_openai.get_encoding('o200k_base').encode_ordinary('The ferry leaves at noon.')), n\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
