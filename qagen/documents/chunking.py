"""Token-aware, structure-aware splitting of documents into chunks with stable ids.

A document with no known structure is split by the token-aware splitter alone. A document with
sections (Markdown headings, or what a converter found: headings, pages, tables) is split along
them:

- Sections are grouped by their top-level heading: the shallowest level at which the document's
  headings differ (a lone title above everything is not a top level; its second-level headings
  are). A chunk never holds text of two groups, except that a group smaller than a quarter of a
  chunk joins the group after it (the last one, the group before): a few words make a poor request.
- Within a group, whole sections are packed into a chunk while they fit; a section too large for
  one chunk is cut by the splitter, and a small lead (a bare heading) goes with it. A page break
  alone is no boundary: text runs on from one page to the next.
- A table that fits in a chunk is never cut.

A chunk's text is the document's own text, unchanged: its heading path travels beside it, as
``Chunk.section``, so no chunk holds words the file does not, and an id still names text.
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from qagen.documents.structure import heading_label, sections_of
from qagen.documents.tokens import LINE_CUT, TokenCounter, lines_that_add_up
from qagen.records import Chunk, Document, Section

# Paragraphs first, then lines, sentences, words: a chunk boundary falls at the
# largest natural break that keeps the chunk within its token budget.
_SEPARATORS = ["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""]
# A group of sections under this share of a chunk joins its neighbour rather than make a chunk alone.
TINY_SHARE = 4


def chunk_id(source: str, text: str, occurrence: int) -> str:
    """Same file path and text give the same id; ``occurrence`` separates repeats of one text in one file."""
    digest = hashlib.sha256(f"{source}\x00{occurrence}\x00{text}".encode()).hexdigest()
    return digest[:16]


@dataclass(frozen=True)
class _Block:
    """A stretch of text under one heading path: a section, or sections that differ only by page."""

    start: int
    end: int
    heading: tuple[str, ...]
    kind: str
    bare: bool  # holds nothing but its heading line


@dataclass(frozen=True)
class _Span:
    start: int
    end: int


class _Splitter:
    """Splits one document's text along its sections; spans are offsets into the text."""

    def __init__(self, text: str, tokens: Callable[[int, int], int], splitter: RecursiveCharacterTextSplitter, chunk_tokens: int) -> None:
        self.text, self.tokens, self.splitter = text, tokens, splitter  # tokens(start, end): of text[start:end]
        self.chunk_tokens = chunk_tokens
        self.tiny = chunk_tokens // TINY_SHARE

    def fits(self, start: int, end: int) -> bool:
        return self.tokens(start, end) <= self.chunk_tokens

    def spans(self, blocks: Sequence[_Block]) -> list[_Span]:
        spans: list[_Span] = []
        for group in self.groups(blocks):
            spans += self.pack(group)
        return spans

    def groups(self, blocks: Sequence[_Block]) -> list[list[_Block]]:
        depth = _top_level_depth([b.heading for b in blocks if b.heading])
        groups: list[list[_Block]] = []
        for block in blocks:
            if groups and groups[-1][-1].heading[:depth] == block.heading[:depth]:
                groups[-1].append(block)
            else:
                groups.append([block])
        # Tiny groups join the next (the last one, the one before), so a bare title or a
        # one-line section does not become a request of its own.
        merged: list[list[_Block]] = []
        carry: list[_Block] = []
        for group in groups:
            group = carry + group
            carry = []
            if self.tokens(group[0].start, group[-1].end) < self.tiny:
                carry = group
            else:
                merged.append(group)
        if carry:
            if merged:
                merged[-1] += carry
            else:
                merged.append(carry)
        return merged

    def pack(self, group: Sequence[_Block]) -> list[_Span]:
        spans: list[_Span] = []
        current: _Span | None = None
        for block in group:
            if current is not None and self.fits(current.start, block.end):
                current = _Span(current.start, block.end)
                continue
            if self.fits(block.start, block.end):
                if current is not None:
                    spans.append(current)
                current = _Span(block.start, block.end)
                continue
            # Too large for one chunk: the splitter cuts it, taking a small lead along.
            start = block.start
            if current is not None:
                if self.tokens(current.start, current.end) < self.tiny:
                    start = current.start
                else:
                    spans.append(current)
            spans += self.cut(start, block.end)
            current = None
        if current is not None:
            spans.append(current)
        return spans

    def cut(self, start: int, end: int) -> list[_Span]:
        spans: list[_Span] = []
        search = start
        for piece in self.splitter.split_text(self.text[start:end]):
            found = self.text.find(piece, search, end)
            at = found if found >= 0 else search  # the splitter returns pieces of the text; a miss keeps order
            spans.append(_Span(at, at + len(piece)))
            search = at + 1
        return spans


def _top_level_depth(headings: Sequence[tuple[str, ...]]) -> int:
    """The shallowest heading level at which the headings differ (1 when they never do)."""
    deepest = max((len(h) for h in headings), default=1)
    for depth in range(1, deepest + 1):
        if len({h[:depth] for h in headings}) > 1:
            return depth
    return 1


def _blocks(text: str, sections: Sequence[Section]) -> list[_Block]:
    """The document cut at every section start, neighbours that differ only by page joined."""
    starts = [min(max(s.start, 0), len(text)) for s in sections]  # a converter's offset past the end holds nothing
    bounds = ([0] if starts[0] > 0 else []) + starts + [len(text)]
    owners = ([Section(0)] if starts[0] > 0 else []) + list(sections)
    blocks: list[_Block] = []
    for section, start, end in zip(owners, bounds, bounds[1:]):
        if not text[start:end].strip():
            continue
        previous = blocks[-1] if blocks else None
        if previous and section.kind == "text" == previous.kind and section.heading == previous.heading:
            blocks[-1] = _Block(previous.start, end, previous.heading, "text", bare=False)
            continue
        blocks.append(_Block(start, end, section.heading, section.kind, _is_bare(text[start:end], section.heading)))
    return blocks


def _is_bare(text: str, heading: tuple[str, ...]) -> bool:
    """A block that holds its heading line and nothing else ("# Fares", or "Fares" over "=====")."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not heading or not lines or not (lines[0].startswith("#") or heading[-1] in lines[0]):
        return False
    return len(lines) == 1 or (len(lines) == 2 and set(lines[1]) <= {"=", "-"})


def _section_of(span: _Span, blocks: Sequence[_Block]) -> str | None:
    """The heading path shared by every block the span holds text of; bare headings name nothing."""
    inside = [b for b in blocks if b.start < span.end and b.end > span.start]
    named = [b for b in inside if not b.bare] or inside
    common: tuple[str, ...] = named[0].heading if named else ()
    for block in named[1:]:
        length = 0
        while length < min(len(common), len(block.heading)) and common[length] == block.heading[length]:
            length += 1
        common = common[:length]
    return heading_label(common)


def _page_at(offset: int, sections: Sequence[Section]) -> int | None:
    page = None
    for section in sections:
        if section.start > offset:
            break
        page = section.page
    return page


def _page_starts(span: _Span, sections: Sequence[Section]) -> tuple[tuple[int, int], ...]:
    """Where pages after the span's first begin inside it, as offsets into the span's text."""
    starts: list[tuple[int, int]] = []
    page = _page_at(span.start, sections)
    for section in sections:
        if span.start < section.start < span.end and section.page is not None and section.page != page:
            starts.append((section.start - span.start, section.page))
            page = section.page
    return tuple(starts)


_NUMBER = re.compile(r"\d+(?:[.,:/]\d+)*")
_NAME = re.compile(r"(?<!^)(?<![.!?] )\b[A-Z][\w'-]{2,}")


def page_of(chunk: Chunk, answer: str) -> int | None:
    """The page an answer comes from, for a chunk that runs over a page break.

    Where the answer's opening words, else its first number, else its first name (a capitalised
    word that does not start a sentence) first appears in the chunk; the chunk's first page when
    none does (a model's answer in other words).
    """
    if not chunk.page_starts:
        return chunk.page
    opening = " ".join(answer.split()[:6])
    flat = " ".join(chunk.text.split())
    at = flat.find(opening) if opening else -1
    if at >= 0:
        # Back from the whitespace-folded text to the chunk's own: count the words before the match.
        words_before = len(flat[:at].split())
        offsets = [m.start() for m in re.finditer(r"\S+", chunk.text)]
        return chunk.page_at(offsets[words_before] if words_before < len(offsets) else 0)
    for anchors in (_NUMBER.findall(answer), _NAME.findall(answer)):
        for anchor in anchors:
            found = re.search(rf"(?<!\w){re.escape(anchor)}(?!\w)", chunk.text)
            if found:
                return chunk.page_at(found.start())
    return chunk.page


class _RememberedCounts:
    """A token counter that counts each line of a document once while the document is split.

    The splitter measures every piece when it splits and again when it merges (and once more
    when a merged chunk drops its first piece for the overlap), the sections are packed by
    measuring spans, and every chunk is measured: at 10 MB, 27.9 million characters to count,
    2.7 times the corpus. A TokenCounter's count of a text is the sum of its lines' (the cuts of
    ``tokens.lines_that_add_up``), and every text measured is a piece of the document: so the
    document's lines are counted once, in one batch, and a text's count is its first and last
    line's (which may be parts of lines) plus running sums of the document's lines between. The
    figures are those of counting the text's lines one by one; at 50 MB the split took 7.8 s
    instead of 9.2 s (the least of four runs each, taken in turn on a busy machine).

    A counter other than a TokenCounter is not known to add up by lines: it is asked about whole
    texts, each once per document. ``begin`` starts a document and forgets the last one's counts.
    """

    def __init__(self, count_tokens: Callable[[str], int]) -> None:
        self._count = count_tokens
        self._known: dict[str, int] = {}
        self._by_lines = isinstance(count_tokens, TokenCounter)
        self._text = ""
        self._cuts: list[int] = []  # where the document's lines start, after its first
        self._needs: list[int] = []  # the printable character each of those cuts needs before a text's end
        self._sums: list[int] = []  # tokens of the document's lines before each cut's line (from the first cut)
        self._at = 0  # where the last text asked about was found: the splitter asks in the document's order

    def begin(self, text: str) -> None:
        self._known.clear()
        self._text, self._at = text, 0
        self._cuts, self._needs, self._sums = [], [], []
        if not isinstance(self._count, TokenCounter):
            return
        matches = list(LINE_CUT.finditer(text))
        self._cuts = [match.end() for match in matches]
        self._needs = [match.start(1) for match in matches]
        lines = list(map(text.__getitem__, map(slice, self._cuts, [*self._cuts[1:], len(text)])))
        counts = self._count.count_each(lines)
        self._known.update(zip(lines, counts))
        self._sums = [0, *itertools.accumulate(counts)]

    def __call__(self, text: str) -> int:
        known = self._known.get(text)
        if known is not None:
            return known
        start = self._text.find(text, self._at) if self._cuts else -1
        if start < 0 and self._cuts:  # asked again for an earlier piece: the nearest before the last one found
            start = self._text.rfind(text, 0, self._at + len(text))
        if start >= 0:
            self._at = start
            known = self.between(start, start + len(text))
        else:
            known = self._line(text) if not self._by_lines or len(text) > _COUNTED_AT_ONCE else sum(map(self._line, lines_that_add_up(text)))
        self._known[text] = known
        return known

    def between(self, start: int, end: int) -> int:
        """Tokens of the document's text from ``start`` to ``end``."""
        if not self._by_lines or end - start > _COUNTED_AT_ONCE:
            return self._line(self._text[start:end])
        # The text's own cuts: the document's after its start whose printable character lies before its end.
        first, last = bisect.bisect_right(self._cuts, start), bisect.bisect_left(self._needs, end) - 1
        if first > last:
            return self._line(self._text[start:end])
        cuts, text = self._cuts, self._text
        return self._line(text[start:cuts[first]]) + self._sums[last] - self._sums[first] + self._line(text[cuts[last]:end])

    def _line(self, text: str) -> int:
        count = self._known.get(text)
        if count is None:
            count = self._known[text] = self._count(text)
        return count


# A longer text is counted as TokenCounter counts it, in its own pieces (tokens._pieces), so that its
# count stays what it was even for a run of 100,000 characters with no space to cut at.
_COUNTED_AT_ONCE = 100_000


def _text_splitter(count_tokens: Callable[[str], int], chunk_tokens: int, overlap_tokens: int) -> RecursiveCharacterTextSplitter:
    return RecursiveCharacterTextSplitter(
        chunk_size=chunk_tokens,
        chunk_overlap=overlap_tokens,
        length_function=count_tokens,
        separators=_SEPARATORS,
        keep_separator="end",
        strip_whitespace=True,
    )


def split_documents(
    documents: Iterable[Document],
    count_tokens: Callable[[str], int],
    *,
    chunk_tokens: int,
    overlap_tokens: int,
) -> list[Chunk]:
    """Chunks of at most ``chunk_tokens`` tokens (sizes are checked by the settings)."""
    remembered = _RememberedCounts(count_tokens)
    count_tokens = remembered
    splitter = _text_splitter(count_tokens, chunk_tokens, overlap_tokens)
    chunks: list[Chunk] = []
    for document in documents:
        text, sections = document.text, sections_of(document)
        remembered.begin(text)
        if sections:
            blocks = _blocks(text, sections)
            spans = _Splitter(text, remembered.between, splitter, chunk_tokens).spans(blocks)
            # Whitespace at a span's edges is not part of the chunk, nor of its offsets.
            spans = [_Span(s.start + len(t) - len(t.lstrip()), s.start + len(t.rstrip())) for s in spans for t in [text[s.start:s.end]]]
            places = [(text[s.start:s.end], _page_at(s.start, sections), _section_of(s, blocks), _page_starts(s, sections))
                      for s in spans]
        else:
            places = [(piece, None, None, ()) for piece in splitter.split_text(text)]
        seen: dict[str, int] = {}
        for index, (piece, page, section, page_starts) in enumerate(p for p in places if p[0].strip()):
            occurrence = seen.get(piece, 0)
            seen[piece] = occurrence + 1
            chunks.append(
                Chunk(
                    id=chunk_id(document.source, piece, occurrence),
                    source=document.source,
                    index=index,
                    text=piece,
                    tokens=count_tokens(piece),
                    page=page,
                    section=section,
                    page_starts=page_starts,
                )
            )
    return chunks


def split_chunk(chunk: Chunk, count_tokens: Callable[[str], int], *, chunk_tokens: int, overlap_tokens: int) -> list[Chunk]:
    """``chunk`` cut again at ``chunk_tokens``, by the same rules; each piece's id derives from the chunk's.

    For a chunk whose prompt is over the model's context window: its pieces are asked instead.
    """
    splitter = _text_splitter(count_tokens, chunk_tokens, overlap_tokens)
    texts = [t for t in splitter.split_text(chunk.text) if t.strip()]
    pieces = []
    searched_from = 0
    for i, text in enumerate(texts):
        # Pieces come in order and may overlap; where each starts gives its pages.
        start = chunk.text.find(text, searched_from)
        start = start if start >= 0 else searched_from
        searched_from = start + 1
        later = tuple((offset - start, page) for offset, page in chunk.page_starts if start < offset < start + len(text))
        # Every other field (source, position, and whatever else a chunk records) is the chunk's own.
        pieces.append(dataclasses.replace(
            chunk, id=hashlib.sha256(f"{chunk.id}\x00{i}\x00{text}".encode()).hexdigest()[:16],
            text=text, tokens=count_tokens(text), page=chunk.page_at(start), page_starts=later,
        ))
    return pieces
