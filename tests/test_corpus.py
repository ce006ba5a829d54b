"""Tests for qagen.corpus: walking a folder, decoding, and explaining every skipped file."""

from __future__ import annotations

import codecs
import json
import os
import shutil
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from qagen.documents.decoding import BinaryFileError, decode_text
from qagen.documents.loading import MAX_FILE_BYTES, LoadResult, load_corpus
from qagen.errors import CorpusError, QagenError

REPO_CORPUS = Path(__file__).resolve().parents[1] / "corpus"


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


def reasons(result: LoadResult) -> dict[str, str]:
    return {s.source: s.reason for s in result.skipped}


def doc(result: LoadResult, source: str):
    matches = [d for d in result.documents if d.source == source]
    loaded = [d.source for d in result.documents]
    assert len(matches) == 1, f"{source} not loaded exactly once: {loaded}"
    return matches[0]


# -- walking and order -----------------------------------------------------------------


def test_nested_folders_are_walked_and_sorted_by_relative_posix_path(tmp_path: Path) -> None:
    for name in ["b.txt", "a/z.md", "a/b/c.txt", "A.txt", "a.txt", "a-b.txt", "zz/deep/er/x.md"]:
        write(tmp_path / name, f"content of {name}\n")

    result = load_corpus(tmp_path)

    # Code-point order of the POSIX path string: "-" < "." < "/" < uppercase < lowercase.
    assert [d.source for d in result.documents] == [
        "A.txt",
        "a-b.txt",
        "a.txt",
        "a/b/c.txt",
        "a/z.md",
        "b.txt",
        "zz/deep/er/x.md",
    ]
    assert doc(result, "a/b/c.txt").text == "content of a/b/c.txt\n"
    assert result.skipped == ()


def test_order_does_not_depend_on_creation_order(tmp_path: Path) -> None:
    names = ["m.txt", "c/one.txt", "a.txt", "c/two.txt", "b/x.txt"]
    write(tmp_path / "first" / names[0], "x")
    for name in names:
        write(tmp_path / "first" / name, name)
    for name in reversed(names):
        write(tmp_path / "second" / name, name)

    first = load_corpus(tmp_path / "first")
    second = load_corpus(tmp_path / "second")

    assert [d.source for d in first.documents] == [d.source for d in second.documents]
    expected = ["a.txt", "b/x.txt", "c/one.txt", "c/two.txt", "m.txt"]
    assert [d.source for d in first.documents] == expected


def test_single_file_root_uses_the_file_name_as_source(tmp_path: Path) -> None:
    path = write(tmp_path / "deep" / "notes.md", "# Notes\nOne line.\n")

    result = load_corpus(path)

    assert [d.source for d in result.documents] == ["notes.md"]
    assert result.documents[0].text == "# Notes\nOne line.\n"


def test_single_file_root_accepts_a_str(tmp_path: Path) -> None:
    path = write(tmp_path / "notes.txt", "hello")
    assert load_corpus(str(path)).documents[0].source == "notes.txt"


def test_single_binary_file_root_is_an_error_naming_the_reason(tmp_path: Path) -> None:
    # A PDF under another name is not converted (only .pdf is), but its signature is still named.
    path = write(tmp_path / "scan.dat", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")

    with pytest.raises(CorpusError) as info:
        load_corpus(path)

    assert str(info.value) == f"cannot use {path}: binary file (PDF): convert it to text first."


# -- decoding --------------------------------------------------------------------------


def test_utf8_without_bom(tmp_path: Path) -> None:
    write(tmp_path / "plain.txt", "Café — Zürich ✓\n".encode("utf-8"))

    document = load_corpus(tmp_path).documents[0]

    assert document.text == "Café — Zürich ✓\n"
    assert (document.encoding, document.warning) == ("utf-8", None)


def test_utf8_with_bom_strips_the_bom(tmp_path: Path) -> None:
    write(tmp_path / "bom.txt", codecs.BOM_UTF8 + "Fare £9.40\n".encode("utf-8"))

    document = load_corpus(tmp_path).documents[0]

    assert document.text == "Fare £9.40\n"
    assert document.encoding == "utf-8-sig"
    assert document.warning is None


@pytest.mark.parametrize(
    ("bom", "codec"),
    [
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
        (codecs.BOM_UTF32_LE, "utf-32-le"),
        (codecs.BOM_UTF32_BE, "utf-32-be"),
    ],
)
def test_utf16_and_utf32_with_bom(tmp_path: Path, bom: bytes, codec: str) -> None:
    text = "Ferry to Kellimore\r\nPrice: £9.40 — ☂\r\n"
    write(tmp_path / "wide.txt", bom + text.encode(codec))

    document = load_corpus(tmp_path).documents[0]

    assert document.text == "Ferry to Kellimore\nPrice: £9.40 — ☂\n"
    assert document.encoding == codec
    assert document.warning is None


def test_latin1_bytes_fall_back_to_cp1252_with_a_warning(tmp_path: Path) -> None:
    write(tmp_path / "old.txt", "café au lait\n".encode("latin-1"))

    document = load_corpus(tmp_path).documents[0]

    assert document.text == "café au lait\n"
    assert document.encoding == "cp1252"
    assert document.warning == "not valid UTF-8; read as cp1252"


def test_cp1252_only_characters_are_decoded_as_cp1252() -> None:
    text, encoding, warning = decode_text(b"\x93quoted\x94 \x80 5")

    assert (text, encoding) == ("\u201cquoted\u201d \u20ac 5", "cp1252")
    assert warning is not None and "cp1252" in warning


def test_bytes_undefined_in_cp1252_fall_back_to_latin1() -> None:
    # 0x81 has no character in cp1252, so only latin-1 can read it.
    text, encoding, warning = decode_text(b"na\xefve \x81 r\xe9sum\xe9")

    assert text == "na\u00efve \x81 r\u00e9sum\u00e9"
    assert encoding == "latin-1"
    assert warning is not None and "latin-1" in warning


def test_utf8_bom_with_invalid_bytes_strips_the_bom_and_falls_back() -> None:
    text, encoding, warning = decode_text(codecs.BOM_UTF8 + b"caf\xe9")

    assert (text, encoding) == ("café", "cp1252")
    assert warning is not None


def test_line_endings_are_normalised() -> None:
    text, _, _ = decode_text(b"one\r\ntwo\rthree\nfour\r\n")
    assert text == "one\ntwo\nthree\nfour\n"


def test_ansi_coloured_log_is_still_text() -> None:
    line = "\x1b[32mINFO\x1b[0m sailing 07:00 left Port Essary on time\n"
    text, encoding, _ = decode_text((line * 50).encode("utf-8"))
    assert encoding == "utf-8"
    assert text.startswith("\x1b[32mINFO")


# -- binary files ----------------------------------------------------------------------


def make_zip(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
    return path


def test_binary_files_are_skipped_with_the_format_named(tmp_path: Path) -> None:
    write(tmp_path / "good.txt", "text")
    write(tmp_path / "nul.dat", b"abc\x00def" * 10)
    write(tmp_path / "paper.pdf.bak", b"%PDF-1.4\n%\xc7\xec\x8f\xa2\n")
    write(tmp_path / "logo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    write(tmp_path / "photo.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF")
    write(tmp_path / "notes.txt.gz", b"\x1f\x8b\x08\x00\x00\x00\x00\x00")
    make_zip(tmp_path / "report.odt")  # .docx, .pptx and .epub are converted (tests/test_convert.py)
    make_zip(tmp_path / "bundle.zip")
    write(tmp_path / "controls.bin", bytes(range(1, 32)) * 20)

    result = load_corpus(tmp_path)

    assert [d.source for d in result.documents] == ["good.txt"]
    assert reasons(result) == {
        "bundle.zip": "binary file (ZIP): convert it to text first",
        "controls.bin": "binary file",
        "logo.png": "binary file (PNG): convert it to text first",
        "notes.txt.gz": "binary file (GZIP): convert it to text first",
        "nul.dat": "binary file",
        "paper.pdf.bak": "binary file (PDF): convert it to text first",
        "photo.jpg": "binary file (JPEG): convert it to text first",
        "report.odt": "binary file (ODT, a ZIP archive): convert it to text first",
    }


def test_a_single_nul_byte_in_the_head_makes_a_file_binary() -> None:
    with pytest.raises(BinaryFileError):
        decode_text(b"mostly text " * 100 + b"\x00" + b"more text " * 100)


def test_nul_bytes_after_the_first_8_kib_do_not_make_a_file_binary() -> None:
    # Only the head is sniffed; a stray NUL deep inside is kept (it is not a control-heavy file).
    data = b"a" * (8 * 1024) + b"\x00" + b"b" * 100
    text, _, _ = decode_text(data)
    assert text.count("\x00") == 1


def test_decode_text_raises_a_corpus_error_on_binary() -> None:
    with pytest.raises(BinaryFileError) as info:
        decode_text(b"%PDF-1.5\n")
    assert isinstance(info.value, QagenError)
    assert info.value.kind == "PDF"
    assert str(info.value) == "binary file (PDF): convert it to text first"


def test_bytes_after_a_utf16_bom_that_do_not_decode_are_judged_as_binary() -> None:
    # An odd number of bytes after the BOM cannot be UTF-16; the NUL byte marks it binary.
    with pytest.raises(BinaryFileError):
        decode_text(codecs.BOM_UTF16_LE + b"a\x00b")


# -- empty, large and special files ---------------------------------------------------


def test_empty_and_whitespace_only_files_are_skipped(tmp_path: Path) -> None:
    write(tmp_path / "real.md", "# Title\n")
    write(tmp_path / "empty.txt", b"")
    write(tmp_path / "blank.txt", " \n\t\r\n  \n")
    write(tmp_path / "bom-only.txt", codecs.BOM_UTF8)
    write(tmp_path / "wide-blank.txt", codecs.BOM_UTF16_LE + "  \r\n".encode("utf-16-le"))

    result = load_corpus(tmp_path)

    assert [d.source for d in result.documents] == ["real.md"]
    assert reasons(result) == {
        "blank.txt": "empty file",
        "bom-only.txt": "empty file",
        "empty.txt": "empty file",
        "wide-blank.txt": "empty file",
    }


def test_file_over_the_size_limit_is_skipped_without_reading_it(tmp_path: Path) -> None:
    write(tmp_path / "small.txt", "fine")
    big = tmp_path / "dump.txt"
    with big.open("wb") as handle:  # sparse: no 51 MB written to disk
        handle.truncate(MAX_FILE_BYTES + 1024 * 1024)

    result = load_corpus(tmp_path)

    assert [d.source for d in result.documents] == ["small.txt"]
    assert reasons(result) == {"dump.txt": "too large (51.0 MB, over the 50 MB limit; --max-file-size raises it)"}


def test_file_at_the_size_limit_is_read(tmp_path: Path) -> None:
    write(tmp_path / "edge.txt", b"x" * MAX_FILE_BYTES)
    result = load_corpus(tmp_path)
    assert len(result.documents[0].text) == MAX_FILE_BYTES


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_named_pipe_is_skipped_not_read(tmp_path: Path) -> None:
    write(tmp_path / "real.txt", "text")
    pipe = tmp_path / "pipe.txt"
    os.mkfifo(pipe)
    # A writer that opens (and at once closes) the pipe as soon as anyone reads it, so a
    # loader that wrongly reads the pipe gets end-of-file and fails the test instead of hanging.
    writer = threading.Thread(target=lambda: open(pipe, "wb").close(), daemon=True)
    writer.start()

    result = load_corpus(tmp_path)

    release = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK)  # lets the writer finish
    writer.join(timeout=10)
    os.close(release)
    assert reasons(result) == {"pipe.txt": "not a regular file"}


# -- unreadable files ------------------------------------------------------------------

_SKIPS_SCRIPT = """
import json, sys
from qagen.documents.loading import load_corpus
try:
    open(sys.argv[2], "rb").close()
    probe_readable = True
except PermissionError:
    probe_readable = False
result = load_corpus(sys.argv[1])
print(json.dumps({
    "probe_readable": probe_readable,
    "documents": [d.source for d in result.documents],
    "skipped": {s.source: s.reason for s in result.skipped},
}))
"""


def load_without_permission_override(root: Path, probe: Path) -> dict:
    """Load ``root`` in a process that cannot bypass file permissions.

    As a normal user that is this process. As root, file permissions are ignored, so
    the load runs in a child whose capability bounding set lacks the override (setpriv),
    which makes chmod 000 really refuse the read, as it does for users.
    """
    if os.geteuid() != 0:
        result = load_corpus(root)
        return {
            "probe_readable": os.access(probe, os.R_OK),
            "documents": [d.source for d in result.documents],
            "skipped": reasons(result),
        }
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot make a file unreadable")
    command = [setpriv, "--bounding-set", "-dac_override,-dac_read_search"]
    command += [sys.executable, "-c", _SKIPS_SCRIPT, str(root), str(probe)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    if completed.returncode != 0 and "qagen" not in completed.stderr:
        pytest.skip(f"cannot drop root's file permission override here: {completed.stderr.strip()}")
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_unreadable_file_and_folder_are_skipped_with_the_os_reason(tmp_path: Path) -> None:
    write(tmp_path / "ok.txt", "readable")
    locked = write(tmp_path / "locked.txt", "secret")
    locked_dir = tmp_path / "private"
    write(locked_dir / "inside.txt", "not listed")
    locked.chmod(0o000)
    locked_dir.chmod(0o000)
    try:
        outcome = load_without_permission_override(tmp_path, locked)
    finally:
        locked.chmod(0o644)
        locked_dir.chmod(0o755)

    if outcome["probe_readable"]:
        pytest.skip("file permissions are not enforced for this user")
    assert outcome["documents"] == ["ok.txt"]
    assert outcome["skipped"] == {
        "locked.txt": "unreadable: Permission denied",
        "private/": "unreadable: Permission denied",
    }


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs Linux /proc")
def test_read_error_other_than_permission_is_skipped(tmp_path: Path) -> None:
    # /proc/self/mem is a regular file whose read at offset 0 fails with EIO, even for root.
    write(tmp_path / "ok.txt", "readable")
    (tmp_path / "failing.txt").symlink_to("/proc/self/mem")

    result = load_corpus(tmp_path)

    assert [d.source for d in result.documents] == ["ok.txt"]
    assert reasons(result) == {"failing.txt": "unreadable: Input/output error"}


# -- links -----------------------------------------------------------------------------


def test_links_broken_to_folder_and_to_file(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    write(corpus / "real.txt", "the real file")
    outside = write(tmp_path / "elsewhere" / "shared.md", "shared text")
    (corpus / "shared.md").symlink_to(outside)
    (corpus / "gone.txt").symlink_to(tmp_path / "missing.txt")
    (corpus / "more").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (corpus / "loop.txt").symlink_to(corpus / "loop.txt")

    result = load_corpus(corpus)

    assert [d.source for d in result.documents] == ["real.txt", "shared.md"]
    assert doc(result, "shared.md").text == "shared text"
    assert reasons(result) == {
        "gone.txt": "broken link",
        "loop.txt": "unreadable: Too many levels of symbolic links",
        "more": "link to a folder (not followed)",
    }


def test_root_given_as_a_link_to_a_folder_is_followed(tmp_path: Path) -> None:
    write(tmp_path / "real" / "a.txt", "a")
    (tmp_path / "alias").symlink_to(tmp_path / "real", target_is_directory=True)
    assert [d.source for d in load_corpus(tmp_path / "alias").documents] == ["a.txt"]


# -- hidden files and exclusions -------------------------------------------------------


def test_hidden_files_are_listed_and_hidden_folders_are_not_entered(tmp_path: Path) -> None:
    write(tmp_path / "visible.txt", "yes")
    write(tmp_path / ".notes.txt", "hidden file")
    write(tmp_path / "sub" / ".draft.md", "hidden in a subfolder")
    write(tmp_path / "sub" / "kept.md", "kept")
    write(tmp_path / ".git" / "config", "[core]\n")
    write(tmp_path / ".git" / "objects" / "ab" / "cdef", b"\x78\x9c\x00\x01")
    write(tmp_path / "sub" / ".cache" / "entry.txt", "cached")

    result = load_corpus(tmp_path)

    assert [d.source for d in result.documents] == ["sub/kept.md", "visible.txt"]
    assert reasons(result) == {".notes.txt": "hidden", "sub/.draft.md": "hidden"}


def test_hidden_file_given_as_root_is_read(tmp_path: Path) -> None:
    path = write(tmp_path / ".env.example", "MODEL=small\n")
    assert load_corpus(path).documents[0].source == ".env.example"


def test_excluded_folder_inside_the_corpus_is_not_entered(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    write(corpus / "doc.txt", "document")
    write(corpus / "out" / "train.jsonl", '{"messages": []}\n')
    write(corpus / "out" / "nested" / "report.md", "# report")

    result = load_corpus(corpus, exclude=[corpus / "out"])

    assert [d.source for d in result.documents] == ["doc.txt"]
    assert result.skipped == ()


def test_exclude_given_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "corpus" / "doc.txt", "document")
    write(tmp_path / "corpus" / "out" / "x.txt", "generated")
    write(tmp_path / "corpus" / "outside.txt", "kept: only the folder named is excluded")
    monkeypatch.chdir(tmp_path)

    result = load_corpus(Path("corpus"), exclude=[Path("corpus/out"), Path("elsewhere")])

    assert [d.source for d in result.documents] == ["doc.txt", "outside.txt"]


def test_without_exclude_the_out_folder_is_read(tmp_path: Path) -> None:
    write(tmp_path / "doc.txt", "document")
    write(tmp_path / "out" / "x.txt", "generated")
    assert [d.source for d in load_corpus(tmp_path).documents] == ["doc.txt", "out/x.txt"]


# -- errors ----------------------------------------------------------------------------


def test_missing_path_is_a_corpus_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-corpus"

    with pytest.raises(CorpusError) as info:
        load_corpus(missing)

    message = str(info.value)
    assert str(missing) in message
    assert message.count(". ") == 0 and message.endswith(".")  # one sentence


def test_broken_link_as_root_is_a_corpus_error(tmp_path: Path) -> None:
    (tmp_path / "corpus").symlink_to(tmp_path / "gone", target_is_directory=True)
    with pytest.raises(CorpusError, match="broken link"):
        load_corpus(tmp_path / "corpus")


def test_folder_with_nothing_usable_summarises_the_skips(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus2"
    write(corpus / "a.pdf.bak", b"%PDF-1.4\n")
    write(corpus / "b.bin", b"\x00\x01\x02")
    write(corpus / "c.txt", "   \n")

    with pytest.raises(CorpusError) as info:
        load_corpus(corpus)

    assert str(info.value) == (
        f"no usable text files in {corpus}/; skipped: "
        "2 binary (not text: convert them to text first), 1 empty (nothing but whitespace)."
    )


def test_empty_folder_error_says_there_are_no_files(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    write(tmp_path / "empty" / ".git" / "HEAD", "ref: refs/heads/main\n")

    with pytest.raises(CorpusError, match=r"no text files found in .*empty/"):
        load_corpus(tmp_path / "empty")


# -- the shipped sample corpus ---------------------------------------------------------


def test_repository_corpus_loads_cleanly() -> None:
    result = load_corpus(REPO_CORPUS)

    assert result.skipped == ()
    assert len(result.documents) >= 6
    assert any("/" in d.source for d in result.documents), "expected a document in a subfolder"
    assert {d.source.rsplit(".", 1)[-1] for d in result.documents} >= {"md", "txt"}
    for document in result.documents:
        assert document.encoding == "utf-8", document.source
        assert document.warning is None, document.source
        assert "\r" not in document.text
    longest = max(len(d.text.split()) for d in result.documents)
    assert longest >= 1500
