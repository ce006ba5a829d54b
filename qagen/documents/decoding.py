"""Bytes of one file to text: which encoding, whether it is text at all, and what to warn about.

Order of the guesses: a byte order mark; a file signature that says binary (PDF, ZIP, ...);
UTF-16 without a BOM, told by where its NUL bytes sit; UTF-8, with the few bytes that are
not UTF-8 replaced when the rest of the file is; and only for a file that is not mostly
UTF-8, the legacy code pages cp1252 and latin-1. Every guess other than a clean one comes
with a warning the run shows and reports.
"""

from __future__ import annotations

import codecs
import re

from qagen.errors import CorpusError

# How much of a file the binary checks look at: enough to see a header and a fair
# sample of the content without scanning gigabytes.
SNIFF_BYTES = 8 * 1024
# Real text has almost no control characters besides tab and newlines (ANSI colour codes
# in a log stay well below this); binary data decoded as latin-1 has about a quarter.
CONTROL_SHARE_LIMIT = 0.10
ALLOWED_CONTROLS = frozenset("\t\n\r\f\v")
# UTF-16 text in a Latin script has a NUL in the high byte of most characters and almost
# never in the low one; a binary file's NULs fall on both sides.
UTF16_HIGH_NUL_SHARE = 0.30
UTF16_LOW_NUL_SHARE = 0.05

# Longest BOM first: the UTF-32 LE BOM begins with the UTF-16 LE one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "PDF"),
    (b"PK\x03\x04", "ZIP"),
    (b"PK\x05\x06", "ZIP"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"\x1f\x8b", "GZIP"),
    (b"7z\xbc\xaf\x27\x1c", "7Z"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "old Office document"),
    (b"\x7fELF", "program"),
)

_REPLACEMENT = "\ufffd"
_REPLACEMENT_UTF8 = _REPLACEMENT.encode("utf-8")


class BinaryFileError(CorpusError):
    """The bytes are not text; the message is the skip reason shown to the user."""

    def __init__(self, kind: str | None = None) -> None:
        self.kind = kind  # "PDF", "ZIP", ... when a file signature says what it is
        if kind is None:
            super().__init__("binary file")
        else:
            super().__init__(f"binary file ({kind}): convert it to text first")


def decode_text(data: bytes) -> tuple[str, str, str | None]:
    """Decode file bytes to text: (text, encoding used, warning or None).

    Line endings become ``\\n``. Raises BinaryFileError when the bytes are not text.
    """
    decoded: tuple[str, str, str | None] | None = _decode_with_bom(data)
    if decoded is None:
        body = data[len(codecs.BOM_UTF8) :] if data.startswith(codecs.BOM_UTF8) else data
        _reject_by_signature(body)
        decoded = _decode_utf16_without_bom(body)
        if decoded is None:
            if b"\x00" in body[:SNIFF_BYTES]:
                raise BinaryFileError()
            decoded = _decode_utf8_or_legacy(body)
    text, encoding, warning = decoded
    if _control_share(text[:SNIFF_BYTES]) > CONTROL_SHARE_LIMIT:
        raise BinaryFileError()
    return _normalise_newlines(text), encoding, warning


def _decode_with_bom(data: bytes) -> tuple[str, str, None] | None:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding), encoding, None
            except UnicodeDecodeError:
                # UTF-8 with a BOM but bad bytes is judged like any UTF-8; bytes after a
                # UTF-16/32 BOM that do not decode are more likely binary data that happens
                # to start like a BOM: the binary checks judge.
                return None
    return None


def _reject_by_signature(data: bytes) -> None:
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            raise BinaryFileError(kind)


def _decode_utf16_without_bom(data: bytes) -> tuple[str, str, None] | None:
    """UTF-16 LE or BE told by its NUL bytes, when the whole file then decodes cleanly; else None."""
    head = data[: SNIFF_BYTES - SNIFF_BYTES % 2]
    pairs = len(head) // 2
    if not pairs or len(data) % 2:
        return None
    even, odd = head[0::2].count(0), head[1::2].count(0)
    if odd >= pairs * UTF16_HIGH_NUL_SHARE and even <= pairs * UTF16_LOW_NUL_SHARE:
        encoding = "utf-16-le"  # the high byte, mostly NUL, comes second
    elif even >= pairs * UTF16_HIGH_NUL_SHARE and odd <= pairs * UTF16_LOW_NUL_SHARE:
        encoding = "utf-16-be"
    else:
        return None
    try:
        return data.decode(encoding), encoding, None
    except UnicodeDecodeError:
        return None


def _decode_utf8_or_legacy(data: bytes) -> tuple[str, str, str | None]:
    try:
        return data.decode("utf-8"), "utf-8", None
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    text = data.decode("utf-8", "replace")
    bad = text.count(_REPLACEMENT) - data.count(_REPLACEMENT_UTF8)  # one per invalid sequence
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))
    well_formed = non_ascii - bad  # characters from valid multi-byte sequences
    # A UTF-8 file with a stray byte has many well-formed sequences; a cp1252 file has
    # none, or a few by chance ("Ã©" is valid UTF-8). Reading a UTF-8 file as cp1252
    # would garble every non-ASCII character, so the majority decides.
    if well_formed and well_formed >= bad:
        line = data.count(b"\n", 0, first_bad) + 1
        places = "1 place" if bad == 1 else f"{bad} places"
        where = f"first at line {line}, byte offset {first_bad}"
        their = "its" if bad == 1 else "their"
        return text, "utf-8", f"not valid UTF-8 in {places} ({where}); read as UTF-8 with U+FFFD in {their} place"
    try:
        return data.decode("cp1252"), "cp1252", "not valid UTF-8; read as cp1252"
    except UnicodeDecodeError:
        # cp1252 leaves five bytes undefined; latin-1 maps every byte.
        return data.decode("latin-1"), "latin-1", "not valid UTF-8 or cp1252; read as latin-1"


# Unicode's control characters (category Cc: U+0000-U+001F and U+007F-U+009F) but ALLOWED_CONTROLS
# (U+0009-U+000D). One regex over the sample instead of a category look-up per character: on the
# 331 files of a 10 MB corpus 0.006 s instead of 0.1 s.
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")


def _control_share(sample: str) -> float:
    if not sample:
        return 0.0
    return len(_CONTROLS.findall(sample)) / len(sample)


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")
