"""qagen counts with bpe-openai's Rust tokenizer directly: every count must equal the package's own encoder's."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest

from qagen.documents.tokens import LINE_CUT, counter_for

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


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-4"])
def test_counting_many_texts_at_once_gives_each_ones_count(model: str) -> None:
    count = counter_for(model)
    plain = [text for text in TRICKY if "\ud800" not in text]
    assert count.count_each(plain) == [count(text) for text in plain]
    # A lone surrogate, or a text longer than one call takes, sends every text the one-by-one way.
    assert count.count_each(TRICKY) == [count(text) for text in TRICKY]
    long = ["word " * 30_000, "x"]
    assert count.count_each(long) == [count(text) for text in long]
    assert count.count_each([]) == []


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


# The characters that decide where pre-tokens end: newlines, other whitespace, "/", punctuation, letters and
# digits inside and outside ASCII, marks, apostrophes.
ATOMS = ["\n", "\n\n", "\r\n", "\r", " ", "  ", "\t", "\x0b", "\x0c", "\x85", "\u2028", "\u00a0", "\u3000", ".", "/", "//", "#",
         "-", "=", "*", "(", ")", ":", ",", "!", "_", "`", "$", "'s", "'", "a", "B", "foo", "Bar", "é", "\u0301", "東", "1",
         "123456", "🚢"]



def _random_text(rng, shortest: int, longest: int) -> str:
    return "".join(rng.choice(ATOMS) for _ in range(rng.randint(shortest, longest)))

@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-4"])
def test_the_counts_of_the_lines_add_up_to_the_count_of_the_text(model: str) -> None:
    import random

    from qagen.documents.tokens import lines_that_add_up

    count = counter_for(model)
    rng = random.Random(7)
    cut = 0
    for _ in range(20_000):
        text = _random_text(rng, 1, 30)
        lines = lines_that_add_up(text)
        assert "".join(lines) == text
        assert sum(count(line) for line in lines) == count(text), repr(text)
        cut += len(lines) > 1
    assert cut > 2_000  # the rule was put to the test, not only texts without a cut


def test_lines_that_add_up_cut_only_where_the_rule_says() -> None:
    from qagen.documents.tokens import lines_that_add_up

    assert lines_that_add_up("") == [""]
    assert lines_that_add_up("one\ntwo\n\n  three\n\tfour\n") == ["one\n", "two\n\n", "  three\n", "\tfour\n"]
    # Not before a "/", a line of spaces to the end, a character outside ASCII, or another kind of space.
    assert lines_that_add_up("a.\n/b\n  \né\n\u00a0x") == ["a.\n/b\n  \né\n\u00a0x"]


def test_chunks_counted_by_lines_equal_chunks_counted_whole() -> None:
    import random

    from qagen.documents.chunking import split_documents
    from qagen.records import Document

    rng = random.Random(3)
    words = ["ferry", "Harbour", "ticket.", "£4.50", "(route", "2)", "don't", "é", "/usr/bin", "1987", "x=1;"]
    lines = []
    for _ in range(3_000):
        indent = rng.choice(["", "", "  ", "\t", "    ", "/", "é "])
        lines.append(indent + " ".join(rng.choice(words) for _ in range(rng.randint(0, 14))) + rng.choice(["\n", "\n", "\n\n", " \n"]))
    text = "".join(lines)
    documents = [Document("notes.txt", text, "utf-8"), Document("guide.md", "# Guide\n\n" + text.replace("\n\n", "\n\n## Part\n\n", 40), "utf-8")]
    count = counter_for("gpt-4o-mini")
    by_lines = split_documents(documents, count, chunk_tokens=300, overlap_tokens=30)
    whole = split_documents(documents, lambda piece: count(piece), chunk_tokens=300, overlap_tokens=30)  # not a TokenCounter
    assert len(by_lines) > 20
    assert by_lines == whole
    assert all(chunk.tokens == count(chunk.text) for chunk in by_lines)


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-4"])
def test_any_stretch_of_a_document_counted_from_its_lines_equals_its_whole_count(model: str) -> None:
    import random

    from qagen.documents.chunking import _RememberedCounts

    count = counter_for(model)
    rng = random.Random(5)
    inner = 0
    for _ in range(300):
        document = _random_text(rng, 0, 400)
        remembered = _RememberedCounts(count)
        remembered.begin(document)
        for _ in range(20):
            start = rng.randint(0, len(document))
            end = rng.randint(start, len(document))
            stretch = document[start:end]
            assert remembered.between(start, end) == count(stretch), (document, start, end)
            assert remembered(stretch) == count(stretch), (document, start, end)
            inner += len(LINE_CUT.findall(stretch)) > 2
    assert remembered("not in the document\n at all") == count("not in the document\n at all")
    assert inner > 1_000  # stretches whose middle lines came from the running sums, not only single lines


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-4"])
def test_a_text_counted_around_a_counted_part_equals_its_whole_count(model: str) -> None:
    import random

    count = counter_for(model)
    rng = random.Random(11)
    shortcut = 0
    for _ in range(5_000):
        part = _random_text(rng, 1, 40)
        before, after = _random_text(rng, 0, 8), _random_text(rng, 0, 8)
        text = before + part + after
        assert count.count_containing(text, part, count(part)) == count(text), (before, part, after)
        shortcut += bool(LINE_CUT.search(part)) and not part[-1].isspace()
    assert shortcut > 1_000  # the edges-only count was put to the test, not only the whole count
    # A prompt as the templates make one: words, the chunk, more words.
    chunk = "# Fares\n\nA single ticket costs £4.50.\n  - Children travel free.\n/usr/bin is no heading.\nLast line."
    prompt = f"Write 3 pairs about this text:\n\n{chunk}\n\nAnswer in JSON."
    assert count.count_containing(prompt, chunk, count(chunk)) == count(prompt)
    assert count.count_containing(prompt, "not in it", 99) == count(prompt)
