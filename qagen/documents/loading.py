"""Finding and reading the corpus: a folder (or one file) in, decoded Documents out.

Every file the walk meets either becomes a ``Document`` or a ``SkippedFile`` with a
reason a user understands; nothing is dropped silently, except what the user asked
us not to look at (hidden folders such as ``.git`` and the ``exclude`` paths).
Turning bytes into text is ``qagen.documents.decoding``'s part; PDF, DOCX, PPTX, EPUB and
HTML files go to ``qagen.documents.convert`` instead.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from qagen.documents.convert import (
    DEFAULT_TIMEOUT,
    FORMATS,
    HTML_SUFFIXES,
    UNPACKED_LIMIT_FACTOR,
    Converter,
    Format,
    Unconvertible,
    convert_html,
    default_cache_folder,
    needs_docs_extra,
)
from qagen.documents.decoding import BinaryFileError, decode_text
from qagen.errors import CorpusError
from qagen.outfolder import MANIFEST, STATE_DIR
from qagen.progress import Reporter
from qagen.records import Document, SkippedFile
from qagen.options import MAX_FILE_MB

MEGABYTE = 1024 * 1024
MAX_FILE_BYTES = round(MAX_FILE_MB * MEGABYTE)
# Office and e-book formats are ZIP archives; naming the format helps more than "ZIP".
_ZIP_FORMATS = frozenset({"docx", "xlsx", "pptx", "odt", "ods", "odp", "epub"})
_MANIFEST = f"{STATE_DIR}/{MANIFEST}"
NEEDS_DOCS = "needs qagen[docs]"  # the skip kind of a PDF, DOCX ... met without the docs extra
_OUT_FOLDER_REASON = f"an earlier qagen out folder (it holds {_MANIFEST})"
# Why each kind of skip happens, for the error that says a folder has nothing usable;
# "too large" and "unreadable" are worded from the limit and the system's reasons.
_WHY = {
    "binary": "not text: convert them to text first",
    "empty": "nothing but whitespace",
    "hidden": "the name starts with a dot",
    "broken link": "its target is missing",
    "link to a folder": "links to folders are not followed",
    "not a regular file": "a pipe, socket or device",
    "qagen out folder": f"qagen's own output, holding {_MANIFEST}",
    NEEDS_DOCS: 'pip install "qagen[docs]" reads them',
}


@dataclass(frozen=True)
class LoadResult:
    documents: tuple[Document, ...]  # sorted by source
    skipped: tuple[SkippedFile, ...]  # sorted by source
    converted: int = 0  # PDF, DOCX ... files converted by this load
    converted_from_cache: int = 0  # ... and those whose conversion an earlier run had cached


@dataclass(frozen=True)
class _Skip:
    kind: str  # short word for the summary: "binary", "empty", ...
    file: SkippedFile


def load_corpus(
    root: Path | str, *, exclude: Iterable[Path | str] = (), max_file_bytes: int = MAX_FILE_BYTES,
    convert_timeout: float = DEFAULT_TIMEOUT, convert_cache: Path | str | None = None, reporter: Reporter | None = None,
) -> LoadResult:
    """Read every usable text file under ``root`` (a folder, walked recursively, or one file).

    ``exclude`` names folders (or files) not to read, e.g. the out folder when it sits
    inside the corpus; relative paths are taken from the current directory. A folder
    holding a qagen manifest is an earlier run's out folder and is skipped. Files over
    ``max_file_bytes`` are skipped unread. PDF, DOCX, PPTX and EPUB files are converted
    within ``convert_timeout`` seconds each, their text cached in ``convert_cache`` (default:
    the user's cache folder); ``reporter`` gets the progress line of a large file.
    Raises CorpusError when ``root`` is missing or holds no usable document.
    """
    root = Path(root)
    if not os.path.lexists(root):
        raise CorpusError(f"{root} does not exist; give a folder of text files or one text file.")
    if not root.exists():
        raise CorpusError(f"{root} is a broken link; point it at a folder or a text file.")

    excluded = _ExcludedPaths(exclude)
    reader = _Reader(
        max_file_bytes,
        Converter(
            timeout=convert_timeout, cache_folder=Path(convert_cache) if convert_cache else default_cache_folder(),
            max_unpacked=UNPACKED_LIMIT_FACTOR * max_file_bytes, reporter=reporter or Reporter(),
        ),
    )
    try:
        if root.is_dir():
            if _is_out_folder(str(root)):
                raise CorpusError(
                    f"{root} is a qagen out folder (it holds {_MANIFEST}), not a folder of documents; "
                    "give the folder your documents are in."
                )
            documents, skips = _load_folder(root, excluded, reader)
        else:
            documents, skips = _load_single(root, reader)
    finally:
        reader.converter.close()

    documents.sort(key=lambda d: d.source)
    skips.sort(key=lambda s: s.file.source)
    if not documents:
        raise CorpusError(_nothing_usable_message(root, skips, max_file_bytes))
    converter = reader.converter
    return LoadResult(tuple(documents), tuple(s.file for s in skips), converter.converted, converter.from_cache)


# -- walking ---------------------------------------------------------------------------


class _ExcludedPaths:
    """Paths not to enter, compared both as written and with links resolved."""

    def __init__(self, paths: Iterable[Path | str]) -> None:
        self._keys: set[str] = set()
        for path in paths:
            self._keys.add(os.path.abspath(path))
            self._keys.add(os.path.realpath(path))

    def __contains__(self, path: str) -> bool:
        if not self._keys:
            return False
        return os.path.abspath(path) in self._keys or os.path.realpath(path) in self._keys


def _load_folder(root: Path, excluded: _ExcludedPaths, reader: _Reader) -> tuple[list[Document], list[_Skip]]:
    if str(root) in excluded:
        return [], []
    documents: list[Document] = []
    skips: list[_Skip] = []
    try:
        entries = list(_walk(str(root), "", excluded, skips))
    except OSError as exc:
        raise CorpusError(f"cannot read the folder {root}: {_strerror(exc)}.") from exc
    for path, source in entries:
        outcome = reader.load(path, source)
        if isinstance(outcome, Document):
            documents.append(outcome)
        else:
            skips.append(outcome)
    return documents, skips


def _printable_name(name: str) -> str:
    # A file name that is not valid UTF-8 arrives with surrogate escapes, which cannot be
    # written to JSON output; U+FFFD keeps the name recognisable and the output valid.
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _walk(
    folder: str, prefix: str, excluded: _ExcludedPaths, skips: list[_Skip]
) -> Iterator[tuple[str, str]]:
    """Yield (path, relative source) of every file to read; record skipped links and folders.

    Only the root folder's own listing error propagates; a sub-folder that cannot be
    listed is recorded as skipped so one bad folder does not stop the run.
    """
    with os.scandir(folder) as scan:
        entries = list(scan)
    for entry in entries:
        source = prefix + _printable_name(entry.name)
        if entry.path in excluded:
            continue
        if entry.is_dir(follow_symlinks=False):
            if entry.name.startswith("."):
                continue  # .git and friends: not the user's documents
            if _is_out_folder(entry.path):
                # Its pairs, rejects and report would be chunked and asked about, at the user's cost.
                skips.append(_skip("qagen out folder", source + "/", _OUT_FOLDER_REASON))
                continue
            try:
                yield from _walk(entry.path, source + "/", excluded, skips)
            except OSError as exc:
                skips.append(_skip("unreadable", source + "/", f"unreadable: {_strerror(exc)}"))
            continue
        if entry.name.startswith("."):
            skips.append(_skip("hidden", source, "hidden"))
            continue
        if entry.is_symlink():
            problem = _link_problem(entry.path)
            if problem is not None:
                skips.append(_skip(problem[0], source, problem[1]))
                continue
        yield entry.path, source


def _is_out_folder(folder: str) -> bool:
    return os.path.isfile(os.path.join(folder, STATE_DIR, MANIFEST))


def _link_problem(path: str) -> tuple[str, str] | None:
    """Why a symbolic link is not read, or None for a link to a file (which is followed)."""
    try:
        target = os.stat(path)
    except FileNotFoundError:
        return "broken link", "broken link"
    except OSError as exc:  # e.g. a loop of links
        return "unreadable", f"unreadable: {_strerror(exc)}"
    if stat.S_ISDIR(target.st_mode):
        # Following folder links could loop or leave the corpus; the user can copy it in.
        return "link to a folder", "link to a folder (not followed)"
    return None


def _load_single(root: Path, reader: _Reader) -> tuple[list[Document], list[_Skip]]:
    outcome = reader.load(str(root), root.name)
    if isinstance(outcome, Document):
        return [outcome], []
    return [], [outcome]


# -- one file --------------------------------------------------------------------------


class _Reader:
    """Reads one file of the corpus: as text, or through its converter."""

    def __init__(self, limit: int, converter: Converter) -> None:
        self.limit = limit
        self.converter = converter

    def load(self, path: str, source: str) -> Document | _Skip:
        limit = self.limit
        try:
            info = os.stat(path)
        except OSError as exc:
            return _skip("unreadable", source, f"unreadable: {_strerror(exc)}")
        if not stat.S_ISREG(info.st_mode):
            # Reading a FIFO or a device could block forever or never end.
            return _skip("not a regular file", source, "not a regular file")
        if info.st_size > limit:
            return _skip("too large", source, _too_large_reason(info.st_size, limit))
        suffix = os.path.splitext(source)[1].lower()
        if suffix in FORMATS:
            return self._convert(path, source, FORMATS[suffix])
        try:
            with open(path, "rb") as handle:
                data = handle.read(limit + 1)
        except OSError as exc:
            return _skip("unreadable", source, f"unreadable: {_strerror(exc)}")
        if len(data) > limit:  # grew since stat
            return _skip("too large", source, _too_large_reason(len(data), limit))
        try:
            text, encoding, warning = decode_text(data)
        except BinaryFileError as exc:
            return _skip("binary", source, _binary_reason(exc, source))
        if suffix in HTML_SUFFIXES:
            # The standard library parses HTML: no extra to install, no process to start.
            page = convert_html(text)
            if not page.text.strip():
                return _skip("empty", source, "no text in the page")
            return Document(source=source, text=page.text, encoding="html", warning=warning, sections=page.sections)
        if not text.strip():
            return _skip("empty", source, "empty file")
        return Document(source=source, text=text, encoding=encoding, warning=warning)

    def _convert(self, path: str, source: str, fmt: Format) -> Document | _Skip:
        if needs_docs_extra(fmt):
            return _skip(NEEDS_DOCS, source, f"install qagen[docs] to read .{fmt.name} files")
        try:
            converted = self.converter.convert(path, source, fmt)
        except Unconvertible as exc:
            return _skip("not converted", source, str(exc))
        except OSError as exc:
            return _skip("unreadable", source, f"unreadable: {_strerror(exc)}")
        if not converted.text.strip():
            return _skip("empty", source, f"no text in the {fmt.label}")
        return Document(source=source, text=converted.text, encoding=fmt.name, sections=converted.sections)


def _skip(kind: str, source: str, reason: str) -> _Skip:
    return _Skip(kind, SkippedFile(source=source, reason=reason))


def _too_large_reason(size: int, limit: int) -> str:
    shown = f"{size / MEGABYTE:.1f} MB" if size >= MEGABYTE / 10 else f"{size / 1024:.1f} KB"
    return f"too large ({shown}, {_over_the_limit(limit)})"


def _over_the_limit(limit: int) -> str:
    megabytes = f"{limit / MEGABYTE:.3f}".rstrip("0").rstrip(".")
    return f"over the {megabytes} MB limit; --max-file-size raises it"


def _binary_reason(exc: BinaryFileError, source: str) -> str:
    # decode_text knows the bytes, only the caller knows the file name.
    suffix = source.rsplit(".", 1)[-1].lower() if "." in source else ""
    if exc.kind == "ZIP" and suffix in _ZIP_FORMATS:
        return f"binary file ({suffix.upper()}, a ZIP archive): convert it to text first"
    return str(exc)


def _strerror(exc: OSError) -> str:
    return exc.strerror or str(exc)


# -- the error when nothing is usable --------------------------------------------------


def _nothing_usable_message(root: Path, skips: list[_Skip], limit: int) -> str:
    if root.is_dir():
        where = str(root) if str(root).endswith(("/", os.sep)) else f"{root}/"
    else:
        where = str(root)
    if not skips:
        return f"no text files found in {where}; add .txt or .md files to it."
    if not root.is_dir():
        return f"cannot use {where}: {skips[0].file.reason}."
    counts = Counter(s.kind for s in skips)
    by_count = sorted(counts.items(), key=lambda kind_count: (-kind_count[1], kind_count[0]))
    parts = ", ".join(f"{n} {kind} ({_why(kind, skips, limit)})" for kind, n in by_count)
    return f"no usable text files in {where}; skipped: {parts}."


def _why(kind: str, skips: list[_Skip], limit: int) -> str:
    if kind == "too large":
        return _over_the_limit(limit)
    if kind in ("unreadable", "not converted"):
        reasons = {s.file.reason.removeprefix("unreadable: ") for s in skips if s.kind == kind}
        return ", ".join(sorted(reasons))
    return _WHY.get(kind, kind)
