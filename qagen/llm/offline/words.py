"""Small word tests the offline generator's question makers share.

What a word is once its punctuation is gone, whether it is capitalised, which words a passage
uses as names, whether a noun looks plural, how a phrase starts inside a question, and whether
a text mentions a time.
"""

from __future__ import annotations

from collections.abc import Iterable

from qagen.llm.offline.passage import TITLES
from qagen.llm.offline.vocabulary import DATE_RE, DETERMINERS, IRREGULAR_PLURALS, TIME_RE, TIME_WORDS_RE, YEAR_RE

__all__ = ["OPENING_MARKS", "WORD_MARKS", "bare_word", "is_capitalised", "known_names", "looks_plural", "lower_first", "mentions_time",
           "names_and_capitals", "names_and_capitals_of_words"]


WORD_MARKS = ".,;:!?()[]{}\"'“”‘’*_`"  # the punctuation and markup around a word


def bare_word(word: str) -> str:
    """The word without the punctuation and markup around it, in lower case, as the word lists hold it."""
    return word.strip(WORD_MARKS).lower()


OPENING_MARKS = "([\"'“‘*_"  # what may stand before a capitalised word's capital


def is_capitalised(word: str) -> bool:
    """Whether the word opens with a capital, past an opening bracket, quote or emphasis mark."""
    # Most words open with a letter: only a word opening with a mark needs the strip.
    first = word[:1]
    if first in OPENING_MARKS:
        return word.strip(OPENING_MARKS)[:1].isupper()
    return first.isupper()


def known_names(sentences: Iterable[str]) -> frozenset[str]:
    """Words the passage capitalises mid-sentence: proper names, even when one opens a sentence."""
    return names_and_capitals(sentences)[0]


def names_and_capitals(sentences: Iterable[str]) -> tuple[frozenset[str], dict[str, int]]:
    """`known_names`, and for each sentence how many of those words it holds that are letters only and not "I".

    The count is the offline model's proper-name points, found in this one scan of every word: counting
    them again per scored sentence took 0.3 of extract_pairs' 3.7 s at 10 MB.
    """
    return names_and_capitals_of_words((sentence, sentence.split()) for sentence in sentences)


def names_and_capitals_of_words(split_sentences: Iterable[tuple[str, list[str]]]) -> tuple[frozenset[str], dict[str, int]]:
    """`names_and_capitals` of sentences given with their words (``sentence.split()``), split once by the caller."""
    names: set[str] = set()
    capitals: dict[str, int] = {}
    for sentence, words in split_sentences:
        count = 0
        previous = words[0] if words else ""
        for word in words[1:]:
            # word[0].isupper() first: is_capitalised in full on every word pair took 2.6 of extract_pairs'
            # 42 s under cProfile at 10 MB (a pattern finding the capitals in C was slower: 29% of words are candidates).
            if (word[0].isupper() or (word[0] in OPENING_MARKS and is_capitalised(word))) \
                    and not previous.endswith((":", ".")):
                bare = word.strip(WORD_MARKS).lower()  # bare_word, without a call per word: 0.26 -> 0.21 s at 10 MB
                names.add(bare)
                if bare.isalpha() and bare != "i":
                    count += 1
            previous = word
        capitals[sentence] = count
    names.discard("i")
    return frozenset(names), capitals


def looks_plural(bare: str) -> bool:
    return bare in IRREGULAR_PLURALS or (
        bare.endswith("s") and not bare.endswith(("ss", "us", "is", "'s", "’s"))
    )


def lower_first(phrase: str, names: frozenset[str]) -> str:
    first, _, rest = phrase.partition(" ")
    if _keeps_capital(first, rest, names):
        return phrase
    return first.lower() + (" " + rest if rest else "")


def _keeps_capital(first: str, rest: str, names: frozenset[str]) -> bool:
    if first.lower() in DETERMINERS:
        return False
    if first.lower().rstrip(".") in TITLES or (first.isupper() and len(first) > 1):
        return True
    return first.lower() in names or (bool(rest) and rest[:1].isupper())


def mentions_time(text: str) -> bool:
    return any(regex.search(text) for regex in (YEAR_RE, DATE_RE, TIME_RE, TIME_WORDS_RE))
