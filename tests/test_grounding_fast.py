"""The short cuts of qagen.quality.grounding give what the plain computation gives."""

from __future__ import annotations

import pytest

from qagen.quality.grounding import names

TEXTS = [
    "", "What does MV Heather Bell carry?", "Malden & Rusk run SR-4.", "  The MV Heather Bell  ", "When? Route Four.",
    "ends with a Name", "Name starts it", "I am here. The end", "\tTabbed Name\t", "O’Brien and D'Arcy met Ünal Öz.",
    "Route 3 & Route 4", "A", "x-Ray and X-Ray-2", "per cent Pound", "中文 Name 中文", "Name\n", "\nName", "Name &",
]


@pytest.mark.parametrize("question", TEXTS)
@pytest.mark.parametrize("answer", TEXTS)
def test_names_of_a_question_and_answer_joined_are_the_names_of_each(question: str, answer: str) -> None:
    # _leaked takes the names of the two apart, as names() of each is already known.
    assert names(f"{question}\n{answer}") == list(dict.fromkeys(names(question) + names(answer)))
