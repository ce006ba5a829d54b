"""Token-aware splitting of documents into chunks with stable ids."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterable

from langchain_text_splitters import RecursiveCharacterTextSplitter

from qagen.records import Chunk, Document

# Paragraphs first, then lines, sentences, words: a chunk boundary falls at the
# largest natural break that keeps the chunk within its token budget.
_SEPARATORS = ["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""]


def chunk_id(source: str, text: str, occurrence: int) -> str:
    """Same file path and text give the same id; ``occurrence`` separates repeats of one text in one file."""
    digest = hashlib.sha256(f"{source}\x00{occurrence}\x00{text}".encode()).hexdigest()
    return digest[:16]


def split_documents(
    documents: Iterable[Document],
    count_tokens: Callable[[str], int],
    *,
    chunk_tokens: int,
    overlap_tokens: int,
) -> list[Chunk]:
    """Chunks of at most ``chunk_tokens`` tokens (sizes are checked by the settings)."""
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=chunk_tokens,
        chunk_overlap=overlap_tokens,
        length_function=count_tokens,
        separators=_SEPARATORS,
        keep_separator="end",
        strip_whitespace=True,
    )
    chunks: list[Chunk] = []
    for document in documents:
        seen: dict[str, int] = {}
        for index, text in enumerate(t for t in splitter.split_text(document.text) if t.strip()):
            occurrence = seen.get(text, 0)
            seen[text] = occurrence + 1
            chunks.append(
                Chunk(
                    id=chunk_id(document.source, text, occurrence),
                    source=document.source,
                    index=index,
                    text=text,
                    tokens=count_tokens(text),
                )
            )
    return chunks


def split_chunk(chunk: Chunk, count_tokens: Callable[[str], int], *, chunk_tokens: int, overlap_tokens: int) -> list[Chunk]:
    """``chunk`` cut again at ``chunk_tokens``, by the same rules; each piece's id derives from the chunk's.

    For a chunk whose prompt is over the model's context window: its pieces are asked instead.
    """
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=chunk_tokens,
        chunk_overlap=overlap_tokens,
        length_function=count_tokens,
        separators=_SEPARATORS,
        keep_separator="end",
        strip_whitespace=True,
    )
    texts = [t for t in splitter.split_text(chunk.text) if t.strip()]
    # Every other field (source, position, and whatever else a chunk records) is the chunk's own.
    return [
        dataclasses.replace(chunk, id=hashlib.sha256(f"{chunk.id}\x00{i}\x00{text}".encode()).hexdigest()[:16],
                            text=text, tokens=count_tokens(text))
        for i, text in enumerate(texts)
    ]
