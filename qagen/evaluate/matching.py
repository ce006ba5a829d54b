"""Answer matching for ``qagen eval``: normalised text, exact match and token F1.

An answer is compared with its reference after ``normalise_answer``: ``qagen.quality.text.fold``
(NFKC, typographic quotes as ASCII, case folded), then without punctuation, symbols or
articles.
"""

from __future__ import annotations

import unicodedata
from collections import Counter

from qagen.quality.text import fold

_ARTICLES = frozenset({"a", "an", "the"})


def normalise_answer(text: str) -> str:
    """Case folded, no punctuation, symbols or articles, single spaces.

    SQuAD-style on purpose, unlike the other normalisations built on ``fold``: an answer
    is scored on its words, so "The fare: £9.40." and "fare 9.40" are the same answer,
    while a question (dedupe) or a span (grounding) keeps its punctuation and articles.

    Apostrophes vanish ("don't" -> "dont"); other punctuation and symbols become spaces
    ("Port Essary-Kellimore" -> "port essary kellimore", "£9.40." -> "9.40"). Between two
    digits a comma is a thousands separator and vanishes ("1,912" -> "1912"), while a
    point or colon stays, so "9.40" and "940" remain different amounts and "06:15" a time.
    """
    text = fold(text)
    out: list[str] = []
    for i, char in enumerate(text):
        if char == "'":
            continue
        if unicodedata.category(char)[0] in "PS":
            between_digits = 0 < i < len(text) - 1 and text[i - 1].isdigit() and text[i + 1].isdigit()
            if between_digits and char == ",":
                continue
            if between_digits and char in ".:":
                out.append(char)
                continue
            out.append(" ")
            continue
        out.append(char)
    return " ".join(word for word in "".join(out).split() if word not in _ARTICLES)


def exact_match(prediction: str, reference: str) -> bool:
    return normalise_answer(prediction) == normalise_answer(reference)


def token_f1(prediction: str, reference: str) -> float:
    """Harmonic mean of token precision and recall of the normalised texts (tokens counted with repeats)."""
    predicted = normalise_answer(prediction).split()
    expected = normalise_answer(reference).split()
    if not predicted or not expected:
        return 1.0 if predicted == expected else 0.0
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision = common / len(predicted)
    recall = common / len(expected)
    return 2 * precision * recall / (precision + recall)
