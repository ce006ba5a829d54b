"""The ZIP check made before a DOCX, PPTX or EPUB is opened: a zip bomb is refused unpacked.

A ZIP's central directory declares every member's unpacked size, so a file that would
expand to gigabytes is known from a few kilobytes read; the converters never see it.
"""

from __future__ import annotations

import zipfile

from qagen.documents.convert.builder import Unconvertible

# A real office file or e-book compresses text and XML some 5-20 times; far beyond that is a bomb.
MAX_RATIO = 200


def check_archive(path: str, label: str, max_unpacked: int) -> None:
    """Raise Unconvertible when ``path`` is no ZIP, or unpacks to over ``max_unpacked`` bytes."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise Unconvertible(f"corrupt {label}: not a readable ZIP archive ({exc})") from exc
    unpacked = sum(member.file_size for member in members)
    packed = sum(member.compress_size for member in members)
    if unpacked > max_unpacked or (unpacked > 10 * 2**20 and unpacked > MAX_RATIO * max(packed, 1)):
        raise Unconvertible(
            f"{label} unpacks to {unpacked / 2**20:,.0f} MB ({unpacked / max(packed, 1):,.0f} times its packed size), "
            f"over the {max_unpacked / 2**20:,.0f} MB limit (20 x --max-file-size); not opened"
        )
