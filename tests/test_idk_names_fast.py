"""The faster paths of name finding and tokenizing give exactly what the plain ones gave.

The reference functions below are the earlier, plainer versions (kept here as the proof):
``_passages`` joined one growing string, ``_name_runs`` walked ``_TOKEN`` matches one by one
(it now finds whole runs with one regex),
and the regexes had no ASCII variants.
"""

from __future__ import annotations

import random
import re
from array import array
from collections import Counter

from qagen.quality import retrieval
from qagen.quality.idk import mentions, names
from qagen.records import Chunk

_ALPHABET = "aZ bY'’-&.:;,!?\n\t 1_é ÉßİıǅⅰŞ\u0345\u00aa日x"


def _random_texts(seed: int, count: int, alphabet: str = _ALPHABET) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60))) for _ in range(count)]


_PROSE = [
    "Dr. Maria Lopez met the Harbor Museum Trust.\nNotes: see the Bank of England's report.",
    "Founders' Day at Port Essary, said Amara Okafor, a pilot.\n\nSTAFF HANDBOOK\n\n# Heading\nMV Brannoch Lass sailed",
    "- Item One\n- Item Two\nBuilt: 1998\n" + "A long line of wrapped prose that goes on and on about Orrin Bay\nand Kellimore Island.",
    "The Residents of Kellimore met Malden & Rusk in Quay Street; O'Brien and Jean-Luc McLeod too",
    "A line of prose long enough to be wrapped, by Harbor\n-\nMuseum went on\n12)\nKellimore Island and more\n•\tOrrin\n>",
    "Heading Alone\n\nOne Line Of Prose.\n\n# Title\n\nNOTES OF DEL\n\n  \n\nx\n\nAb Cd",
]


_REFERENCE_LIST_ITEM = re.compile(r"\s*(?:[-*+•|>]|\d+[.)])\s")


def _reference_passages(text: str) -> list[str]:
    passages = []
    for block in re.split(r"\n\s*\n", text):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        if len(lines) == 1 and _reference_is_title_line(lines[0]):
            continue
        joined = ""
        for line in lines:
            if mentions._is_markup_line(line) or _reference_is_upper_case_line(line):
                joined += "\n"
                continue
            previous = joined.rsplit("\n", 1)[-1]
            wrapped = (
                len(previous) >= mentions._JOIN_AFTER
                and not previous.endswith(":")
                and not _REFERENCE_LIST_ITEM.match(line + " ")
                and not mentions._FIELD_LINE.match(line)
            )
            separator = " " if wrapped else "\n"
            joined = f"{joined}{separator}{line}" if joined else line
        if joined.strip():
            passages.append(joined)
    return passages


def _reference_is_upper_case_line(line: str) -> bool:
    words = mentions._TOKEN.findall(line)
    return len(words) >= 2 and all(word.isupper() or word.lower() in names._CONNECTORS for word in words)


def _reference_is_title_line(line: str) -> bool:
    words = mentions._TOKEN.findall(line)
    if mentions._is_markup_line(line) or _reference_is_upper_case_line(line):
        return True
    if len(words) < 2 or len(words) > 10 or line[-1] in ".!?:;,":
        return False
    return sum(1 for word in words if word[:1].isupper()) >= 0.6 * len(words)


def _joiner_inside_name(previous: str, gap: str) -> str | None:
    """What of a non-space gap stays inside a name, or None when the gap ends the name (the plain version's rule)."""
    if gap == "." and previous.lower() in mentions._TITLES:
        return ""  # "Dr. Maria Lopez"
    if gap in ("'", "’") and previous.endswith("s"):
        return gap  # "Founders' Day"
    return None


def _reference_name_runs(text: str, chunk: int) -> list[tuple]:
    """Every run, as (words, chunk, sentence_start, previous, next_word, label, apposition)."""
    runs: list[tuple] = []
    for passage in _reference_passages(text):
        tokens = list(mentions._TOKEN.finditer(passage))
        run: list[str] = []
        start = 0

        def close(end: int) -> None:
            runs.append(_reference_occurrence(run, tokens, start, end, passage, chunk))
            run.clear()

        for i, match in enumerate(tokens):
            word = match.group()
            if not run and not word[0].isupper():
                continue
            gap = passage[tokens[i - 1].end() : match.start()].strip(" \t") if run else ""
            if gap:
                joiner = _joiner_inside_name(run[-1], gap)
                if joiner is None:
                    close(i)
                else:
                    run[-1] += joiner
            possessive = word.endswith(("'s", "’s"))
            if possessive:
                word = word[:-2]
            if word[:1].isupper() or (run and word.lower() in names._CONNECTORS):
                if not run:
                    start = i
                run.append(word)
            elif run:
                close(i)
            if possessive and run:
                close(i + 1)
        if run:
            close(len(tokens))
    return runs


def _reference_occurrence(run, tokens, start, end, passage, chunk) -> tuple:
    before = passage[tokens[start - 1].end() : tokens[start].start()] if start else "\n"
    breaks_sentence = bool(mentions._SENTENCE_BREAK.search(before))
    previous = "" if breaks_sentence else tokens[start - 1].group().lower()
    after = passage[tokens[end - 1].end() : tokens[end].start()] if end < len(tokens) else passage[tokens[end - 1].end() :]
    following = tokens[end].group() if end < len(tokens) else ""
    return (
        tuple(run), chunk, breaks_sentence, previous,
        following if not after.strip(" \t") else "",
        after.lstrip(" \t").startswith(":"),
        after.strip(" \t") == "," and following.lower() in ("a", "an"),
    )


def _texts() -> list[str]:
    words = "The Harbor Museum of the Bank de la Dr. Ms. Founders' Day it's O'Brien said, a an & Notes: NOTES MV ss".split()
    rng = random.Random(7)
    glued = [
        "".join(rng.choice(words) + rng.choice([" ", "  ", "\n", "\n\n", ". ", ": ", ", ", "'", "\t", " - ", "|"]) for _ in range(40))
        for _ in range(300)
    ]
    return _PROSE + glued + _random_texts(1, 400)


def test_passages_are_those_of_the_plain_version() -> None:
    for text in _texts():
        assert mentions._passages(text) == _reference_passages(text), text


def test_name_runs_are_those_of_the_plain_version_but_labels_and_lone_sentence_openers() -> None:
    for text in _texts():
        expected = [
            (words, chunk, start, previous, next_word, apposition)
            for words, chunk, start, previous, next_word, label, apposition in _reference_name_runs(text, 3)
            if not label and not (start and len(words) == 1)
        ]
        assert [tuple(occurrence) for occurrence in mentions._name_runs(text, 3)] == expected, text


def test_a_lone_word_opening_a_sentence_never_holds_a_name() -> None:
    # Why _name_runs may leave such runs out: _clean_name finds no name in them, whatever is known
    # or common (a label it always refused at once).
    for text in _texts():
        for words, chunk, start, previous, next_word, label, apposition in _reference_name_runs(text, 0):
            if start and len(words) == 1:
                occurrence = names._Occurrence(words, chunk, start, previous, next_word, apposition)
                common = frozenset(retrieval.stem(word.lower()) for word in words)
                assert names._clean_name(occurrence, common, frozenset({" ".join(words)})) is None
                assert names._clean_name(occurrence, frozenset(), frozenset()) is None


def test_gap_and_word_pairs_are_the_words_and_what_lies_between_them() -> None:
    for text in _texts():
        matches = list(mentions._TOKEN.finditer(text))
        gaps = [text[(matches[i - 1].end() if i else 0) : match.start()] for i, match in enumerate(matches)]
        expected = list(zip(gaps, (match.group() for match in matches)))
        assert mentions._GAP_AND_TOKEN.findall(text) == expected
        if text.isascii():
            assert mentions._GAP_AND_ASCII_TOKEN.findall(text) == expected
            assert mentions._ASCII_TOKEN.findall(text) == mentions._TOKEN.findall(text)


def test_ascii_words_of_tokenize_are_the_unicode_ones_on_every_ascii_character() -> None:
    ascii_alphabet = "".join(map(chr, range(128)))
    for text in _random_texts(2, 2000, ascii_alphabet) + _random_texts(3, 500, "ab'Z9_ -\n"):
        lowered = text.lower()
        assert retrieval._ascii_words(lowered) == retrieval._WORD.findall(lowered)


def test_bm25_postings_are_those_of_a_plain_loop() -> None:
    rng = random.Random(5)
    vocabulary = "harbor museum opened trust opening designs designed logo the of 1998 ferry ferries".split()
    chunks = [
        Chunk(id=f"c{i}", source=f"f{i % 3}", index=i // 3, text=" ".join(rng.choice(vocabulary) for _ in range(rng.randint(0, 12))), tokens=1)
        for i in range(60)
    ]
    index = retrieval.BM25Index(chunks)
    term_id: dict[str, int] = {}
    postings: list[tuple[array, array]] = []
    for position, chunk in enumerate(chunks):
        for term, frequency in Counter(retrieval.tokenize(chunk.text)).items():
            if term not in term_id:
                term_id[term] = len(postings)
                postings.append((array("l"), array("l")))
            postings[term_id[term]][0].append(position)
            postings[term_id[term]][1].append(frequency)
    assert index._term_id == term_id and type(index._term_id) is dict
    assert index._positions == [p for p, _ in postings] and index._frequencies == [f for _, f in postings]
    assert list(index._lengths) == [len(retrieval.tokenize(chunk.text)) for chunk in chunks]


def test_ascii_words_by_split_are_those_of_the_regex() -> None:
    ascii_alphabet = "".join(map(chr, range(128)))
    texts = _random_texts(4, 3000, ascii_alphabet) + _random_texts(5, 3000, "ab'Z9_ -\n\x0b\x1c''") + ["", "'", "''a''", "a'b'c", "'x' y''z"]
    for text in texts:
        lowered = text.lower()
        assert retrieval._ascii_words(lowered) == retrieval._WORD.findall(lowered), repr(lowered)


def test_lower_case_words_are_those_the_word_regex_finds() -> None:
    texts = _texts() + _random_texts(6, 3000, "aZb'-’&x\n .é") + ["", "-", "'a-b'", "a--b c''d e-F g's-h"]
    for start in range(0, len(texts), 7):
        chunks = [Chunk(id=str(i), source="s", index=i, text=text, tokens=1) for i, text in enumerate(texts[start : start + 7])]
        expected = {word for chunk in chunks for word in mentions._TOKEN.findall(chunk.text) if word.islower()}
        assert mentions._lower_case_words(chunks) == expected, [chunk.text for chunk in chunks]


def test_name_runs_of_ascii_text_are_those_of_the_plain_version() -> None:
    # _name_runs reads an ASCII passage from its capitalised words only: every odd joint of words.
    texts = _random_texts(8, 3000, "aZbY'-&.:;,!? \n\t1_") + _random_texts(9, 1000, "AB ab's-'&.\n") + [
        "AT&T and O'Brien's well-Known x--Known a'-Bc Dr. Ab Founders' Day Bank of the river",
        "Abc", "Ab's", "&Ab", "ab Cd's", "Ab Cd'", "Ab Cd's Ef", "Ab of", "Ab of the Cd", "Ab , a ship", "Ab: x",
    ]
    for text in texts:
        assert text.isascii()
        expected = [
            (words, chunk, start, previous, next_word, apposition)
            for words, chunk, start, previous, next_word, label, apposition in _reference_name_runs(text, 2)
            if not label and not (start and len(words) == 1)
        ]
        assert [tuple(occurrence) for occurrence in mentions._name_runs(text, 2)] == expected, repr(text)


def test_name_runs_of_unicode_text_are_those_of_the_plain_version() -> None:
    # _name_runs finds runs with a regex whose capitals are the letters str.isupper() calls upper case.
    words = (
        "Émile Zoë İstanbul ǅemal Şule d’Arc O’Brien’s Founders’ Founders' Dr. DR. Mrs. MRS. Mıss Sır ſir Sir. Lady’s "
        "ÖL ölçü Ⅷ ⅷ Ⓐ ß ẞ Σίσυφος ΣΟΦΙΑ 日本 x’s de del DE Del Of oF of’s van’s & Ab1 2Cd _Ef ɐB a’-Bc X-’Y 12 ."
    ).split()
    rng = random.Random(12)
    joints = [" ", "  ", "\n", ". ", ": ", ", ", "’", "'", "\t", " - ", "|", "", "’ ", " . ", "\u00a0", "\u2019s "]
    texts = ["".join(rng.choice(words) + rng.choice(joints) for _ in range(rng.randint(0, 30))) for _ in range(2000)]
    texts += _random_texts(13, 2000, "AÉİǅa’é' .s\n") + ["", "’", "É", "Éa’s", "İİ İ", "Dr.É", "ÉÉ: x", "Sir’ Ab"]
    for text in texts:
        expected = [
            (words, chunk, start, previous, next_word, apposition)
            for words, chunk, start, previous, next_word, label, apposition in _reference_name_runs(text, 4)
            if not label and not (start and len(words) == 1)
        ]
        assert [tuple(occurrence) for occurrence in mentions._name_runs(text, 4)] == expected, repr(text)


def test_upper_case_lines_are_those_of_the_plain_version() -> None:
    words = "ABC DEF of OF the THE del DEL Van von der den & abcd ABCd Ab É É-É the's NOTES x 12".split()
    rng = random.Random(10)
    lines = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 5))) for _ in range(3000)] + _random_texts(11, 500, "ABab &-'")
    for line in lines:
        assert mentions._is_upper_case_line(line) == _reference_is_upper_case_line(line), line
