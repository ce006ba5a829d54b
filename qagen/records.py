"""The plain typed records that flow between qagen's stages.

Every record is frozen. Provenance travels with the data: a Pair knows the file
(relative path) and chunk it came from, so any output line can be traced back.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

PairKind = Literal["grounded", "idk"]


@dataclass(frozen=True)
class Section:
    """Where a stretch of a document's text sits: under which headings, on which page.

    A section runs from ``start`` to the next section's ``start`` (or the end of the text).
    """

    start: int  # character offset into Document.text
    heading: tuple[str, ...] = ()  # the heading path, outermost first, e.g. ("Fares", "Concessions")
    page: int | None = None  # 1-based page (PDF) or slide (PPTX), where the format has pages
    kind: Literal["text", "table"] = "text"  # a table is kept whole in one chunk when it fits


@dataclass(frozen=True)
class Document:
    """One file of the corpus, decoded (or converted) to text."""

    source: str  # path relative to the corpus folder, with forward slashes
    text: str
    encoding: str  # codec the bytes were decoded with, or the converter that read them ("pdf", "docx", ...)
    warning: str | None = None  # set when the bytes needed a fallback decoding
    # Headings, pages and tables, in order of ``start``; empty for text with no known structure.
    sections: tuple[Section, ...] = ()


@dataclass(frozen=True)
class SkippedFile:
    """A file of the corpus folder that was not used, and why."""

    source: str
    reason: str


@dataclass(frozen=True)
class Chunk:
    """A token-bounded piece of one document."""

    id: str  # stable: same file path and text give the same id
    source: str
    index: int  # position within its document, from 0
    text: str
    tokens: int
    page: int | None = None  # the page (or slide) the chunk starts on, where the format has pages
    section: str | None = None  # heading path shared by all the chunk holds, "Fares > Concessions"
    # Where later pages begin in ``text``: (character offset, page), for a chunk that runs over a page break.
    page_starts: tuple[tuple[int, int], ...] = ()

    def page_at(self, offset: int) -> int | None:
        """The page of the character at ``offset`` of ``text``."""
        page = self.page
        for start, later in self.page_starts:
            if start > offset:
                break
            page = later
        return page


@dataclass(frozen=True)
class Message:
    role: str
    content: str

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class Request:
    """One chat request: the rendered template plus what the model needs to know."""

    key: str  # unique per run: the chunk id for generation, a content hash for idk and judge requests
    messages: tuple[Message, ...]
    params: dict = field(default_factory=dict, hash=False)  # temperature, max_tokens, ...
    n: int = 5  # pairs asked for
    passage: str = ""  # the chunk text; used by the offline model, never sent separately
    passage_tokens: int = 0  # its token count (the chunk's), so the offline model counts its prompt around it


@dataclass(frozen=True)
class Completion:
    """A model's reply to one Request."""

    text: str
    finish_reason: str  # "stop", "length", ...
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0  # of the prompt tokens, those the endpoint billed at its cached-input price (usage says so)
    billed: bool = True  # False for an answer that cost nothing: from the call cache, or the offline generator

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


@dataclass(frozen=True)
class Pair:
    """One question/answer pair with its provenance."""

    id: str
    question: str
    answer: str
    source: str
    chunk_id: str
    kind: PairKind = "grounded"
    page: int | None = None  # where its answer is in its chunk; None where the format has no pages, and for "I don't know" pairs
    section: str | None = None  # of its chunk, the heading path; None where the document has no headings


@dataclass(frozen=True)
class Rejection:
    """Something a stage did not keep, with the reason; nothing is dropped silently."""

    stage: str  # "load", "generate", "parse", "check", "dedupe", ...
    reason: str  # short machine-friendly name, e.g. "malformed_json"
    detail: str = ""  # one human sentence
    raw: str = ""  # the text that was not kept
    source: str = ""
    chunk_id: str = ""
    pair_id: str = ""
    page: int | None = None  # of the chunk, as for a Pair
    section: str | None = None


def as_fields(record: Pair | Rejection | Completion) -> dict[str, Any]:
    """The fields of a record whose fields are plain values, by name: what ``dataclasses.asdict`` gives.

    Written for every pair, rejection and answer of a run; asdict's recursive copy of each value
    took 0.5 s for 25,000 pairs, ten times this.
    """
    kind = type(record)
    names = _FIELD_NAMES.get(kind)
    if names is None:
        names = _FIELD_NAMES[kind] = tuple(f.name for f in fields(record))
    return {name: getattr(record, name) for name in names}


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
