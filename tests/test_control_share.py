"""The share of control characters that tells a binary file from text, counted by one regex."""

import random
import sys
import unicodedata

from qagen.documents.decoding import ALLOWED_CONTROLS, _control_share


def _by_category(sample: str) -> float:
    """The definition: characters of Unicode category Cc, other than the allowed whitespace controls."""
    return sum(1 for ch in sample if ch not in ALLOWED_CONTROLS and unicodedata.category(ch) == "Cc") / len(sample)


def test_every_code_point_counts_as_its_category_says():
    for code in range(sys.maxunicode + 1):
        ch = chr(code)
        assert _control_share(ch) == _by_category(ch), hex(code)


def test_mixed_samples_match_the_definition():
    rng = random.Random(7)
    alphabet = [chr(c) for c in [*range(0x250), 0x2028, 0x2029, 0xFEFF, 0xFFFD, 0x1F600]]
    for _ in range(200):
        sample = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 300)))
        assert _control_share(sample) == _by_category(sample)
    assert _control_share("") == 0.0
