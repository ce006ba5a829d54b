"""Reading the corpus: stray bytes, UTF-16 without BOM, earlier out folders, the size limit, file names on the terminal."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helpers import CORPUS, read_jsonl
from qagen.cli import main
from qagen.documents.decoding import decode_text
from qagen.documents.loading import load_corpus
from qagen.errors import CorpusError

MB = 1024 * 1024


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def small_corpus(where: Path) -> Path:
    """One real document of the sample corpus: enough for a quick offline run."""
    where.mkdir(parents=True, exist_ok=True)
    shutil.copy(CORPUS / "fleet.txt", where / "fleet.txt")
    return where


# Every line holds a £ or an é; the third line holds one cp1252 apostrophe (0x92), which is not UTF-8.
FARES = (
    "The Kellimore café opened in 1998 and sells tea for £1.80 a cup.\n"
    "A return ticket from Port Essary to Kellimore costs £9.40 for adults.\n"
    "The cooperative\x92s winter timetable starts on 3 November each year.\n"
    "Children under five travel free, and the crème brûlée at the café costs £4.50.\n"
    "Season tickets cost £310 and are sold at the Port Essary office from 1 March.\n"
)
STRAY_UTF8 = FARES.replace("\x92", "\0").encode("utf-8").replace(b"\0", b"\x92")


# -- 2: one stray byte in a UTF-8 file ---------------------------------------------------------


def test_a_stray_byte_in_a_utf8_file_is_replaced_instead_of_reading_the_file_as_cp1252(tmp_path: Path) -> None:
    write(tmp_path / "fares.txt", STRAY_UTF8)

    document = load_corpus(tmp_path).documents[0]

    assert document.encoding == "utf-8"
    assert "£9.40" in document.text and "crème brûlée" in document.text
    assert "Â" not in document.text and "Ã" not in document.text
    assert document.text.count("\ufffd") == 1
    assert "cooperative\ufffds winter" in document.text
    # The count and the first position, so the user can find and fix the byte.
    first = STRAY_UTF8.index(b"\x92")
    assert document.warning == (
        f"not valid UTF-8 in 1 place (first at line 3, byte offset {first}); read as UTF-8 with U+FFFD in its place"
    )


def test_several_stray_bytes_are_counted_and_the_first_is_located() -> None:
    data = "Price £9.40\n".encode("utf-8") * 5 + b"bad \xff here\n" + b"and \xfe\xfd here\n"

    text, encoding, warning = decode_text(data)

    assert encoding == "utf-8"
    assert text.count("£") == 5 and text.count("\ufffd") == 3
    assert warning is not None
    first = data.index(b"\xff")
    assert warning.startswith(f"not valid UTF-8 in 3 places (first at line 6, byte offset {first})")


def test_a_file_that_is_not_mostly_utf8_still_falls_back_to_cp1252() -> None:
    # cp1252 throughout; "Ã©" is two cp1252 characters whose bytes happen to be valid UTF-8.
    data = ("Café crème, déjà vu, résumé, naïve. " * 5 + "Logo: Ã©.").encode("cp1252")

    text, encoding, warning = decode_text(data)

    assert encoding == "cp1252"
    assert text.startswith("Café crème, déjà vu")
    assert text.endswith("Logo: Ã©.")
    assert warning == "not valid UTF-8; read as cp1252"


def test_a_genuine_replacement_character_is_not_counted_as_a_stray_byte() -> None:
    data = "Unknown glyph: \ufffd, price £2.\n".encode("utf-8") + b"stray \x81\n"

    _, encoding, warning = decode_text(data)

    assert encoding == "utf-8"
    assert warning is not None and "in 1 place" in warning


def test_the_stray_byte_warning_reaches_the_terminal_the_summary_and_the_report(tmp_path: Path, capsys) -> None:
    write(tmp_path / "docs" / "fares.txt", STRAY_UTF8)
    out = tmp_path / "out"

    assert main([str(tmp_path / "docs"), "-o", str(out)]) == 0

    captured = capsys.readouterr()
    expected = "fares.txt: not valid UTF-8 in 1 place (first at line 3"
    assert f"warning: {expected}" in captured.err  # the notice as the run starts
    assert f"warning   {expected}" in captured.out  # the summary at the end
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert any(w.startswith(expected) for w in report["warnings"])
    answers = " ".join(p["answer"] for p in read_jsonl(out / "pairs.jsonl"))
    assert "£9.40" in answers
    assert "Â£" not in answers and "Ã©" not in answers


def test_the_stray_byte_warning_is_in_the_summary_with_quiet(tmp_path: Path, capsys) -> None:
    write(tmp_path / "docs" / "fares.txt", STRAY_UTF8)

    assert main([str(tmp_path / "docs"), "-o", str(tmp_path / "out"), "-q"]) == 0

    captured = capsys.readouterr()
    assert "warning   fares.txt: not valid UTF-8 in 1 place" in captured.out


def chat_line(question: str, answer: str) -> str:
    messages = [
        {"role": "system", "content": "You answer questions about the ferry."},
        {"role": "user", "content": question},
        {"role": "assistant", "content": answer},
    ]
    return json.dumps({"messages": messages}) + "\n"


def test_validate_warns_about_text_that_looks_wrongly_decoded(tmp_path: Path, capsys) -> None:
    lines = [chat_line(f"What does ticket {n} cost?", f"Ticket {n} costs {n} pounds.") for n in range(10)]
    lines[3] = chat_line("What does the café sell?", "The cafÃ© sells tea for Â£1.80.")  # UTF-8 read as cp1252
    lines[6] = chat_line("When does it open?", "The cooperative\ufffds office opens at 9.")  # a replaced byte
    path = write(tmp_path / "train.jsonl", "".join(lines))

    assert main(["validate", str(path)]) == 0  # a warning: the service would accept the file

    out = capsys.readouterr().out
    assert "garbled_text" in out
    assert "lines 4, 7" in out
    assert "verdict: OK, ready to upload (10 examples, no errors, 2 warnings)." in out


def test_validate_does_not_call_ordinary_accented_text_garbled(tmp_path: Path, capsys) -> None:
    answers = ["Crème brûlée costs £4.50.", "Ça coûte 5 €.", "Größe: 46,2 m.", "Ãgua é Água in old spelling?", "Â la carte."]
    lines = [chat_line(f"Question {n}?", answers[n % len(answers)]) for n in range(10)]
    path = write(tmp_path / "train.jsonl", "".join(lines))

    assert main(["validate", str(path)]) == 0

    assert "garbled_text" not in capsys.readouterr().out


# -- 2: UTF-16 without a BOM -------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_bom_is_read_as_utf16_not_skipped_as_binary(tmp_path: Path, codec: str) -> None:
    text = "The Harbour Board meets on the first Monday of each month in Calder Hall.\r\nFare: £9.40 — ☂\r\n"
    write(tmp_path / "minutes.txt", text.encode(codec))

    result = load_corpus(tmp_path)

    assert result.skipped == ()
    assert result.documents[0].encoding == codec
    assert result.documents[0].text == text.replace("\r\n", "\n")


def test_binary_data_with_nul_bytes_in_every_other_position_is_still_binary(tmp_path: Path) -> None:
    # 16-bit little-endian numbers below 256: the NUL pattern of UTF-16, but mostly control characters.
    write(tmp_path / "samples.dat", b"".join(bytes([n, 0]) for n in range(256)) * 8)
    write(tmp_path / "odd.dat", "Calder Hall".encode("utf-16-le") + b"\x00")  # odd length: not UTF-16
    write(tmp_path / "doc.txt", "text")

    result = load_corpus(tmp_path)

    assert {s.source: s.reason for s in result.skipped} == {"odd.dat": "binary file", "samples.dat": "binary file"}


# -- 5: earlier out folders inside the corpus ---------------------------------------------------


def test_an_earlier_out_folder_inside_the_corpus_is_skipped_with_its_reason(tmp_path: Path, capsys) -> None:
    corpus = small_corpus(tmp_path / "corpus")
    assert main([str(corpus), "-o", str(corpus / "first-run"), "-q"]) == 0
    first = json.loads((corpus / "first-run" / "report.json").read_text(encoding="utf-8"))
    capsys.readouterr()

    assert main([str(corpus), "-o", str(tmp_path / "second-run")]) == 0

    report = json.loads((tmp_path / "second-run" / "report.json").read_text(encoding="utf-8"))
    assert report["files_read"] == first["files_read"] == 1
    assert report["chunks"] == first["chunks"]
    assert report["files_skipped"] == [
        {"source": "first-run/", "reason": "an earlier qagen out folder (it holds .qagen/manifest.json)"}
    ]
    assert "skipped first-run/: an earlier qagen out folder" in capsys.readouterr().out


def test_a_qagen_out_folder_given_as_the_corpus_is_refused(tmp_path: Path, capsys) -> None:
    corpus = small_corpus(tmp_path / "corpus")
    assert main([str(corpus), "-o", str(tmp_path / "run"), "-q"]) == 0
    capsys.readouterr()

    assert main([str(tmp_path / "run"), "-o", str(tmp_path / "again")]) == 1

    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: {tmp_path / 'run'} is a qagen out folder (it holds .qagen/manifest.json), not a folder of "
        "documents; give the folder your documents are in."
    ]


@pytest.mark.parametrize("spelling", ["same", "trailing dot", "relative"])
def test_the_corpus_folder_as_out_folder_is_refused(tmp_path: Path, capsys, monkeypatch, spelling: str) -> None:
    corpus = small_corpus(tmp_path / "corpus")
    monkeypatch.chdir(tmp_path)
    out = {"same": str(corpus), "trailing dot": f"{corpus}/.", "relative": "corpus"}[spelling]

    assert main([str(corpus), "-o", out]) == 2

    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"error: the out folder {Path(out)} is the corpus folder itself; choose another folder with -o")
    assert sorted(p.name for p in corpus.iterdir()) == ["fleet.txt"]  # nothing written into the corpus


def test_the_library_refuses_the_corpus_folder_as_out_folder(tmp_path: Path) -> None:
    import qagen

    corpus = small_corpus(tmp_path / "corpus")
    with pytest.raises(qagen.QagenError, match="is the corpus folder itself"):
        qagen.generate(corpus, out=corpus)


# -- 17: the current out folder is never read ---------------------------------------------------


def test_the_out_folder_inside_the_corpus_is_not_read_on_a_rerun(tmp_path: Path) -> None:
    corpus = small_corpus(tmp_path / "corpus")
    out = corpus / "out"
    assert main([str(corpus), "-o", str(out), "-q"]) == 0
    first = json.loads((out / "report.json").read_text(encoding="utf-8"))

    assert main([str(corpus), "-o", str(out), "-q"]) == 0  # out/ now holds pairs.jsonl, report.json, ...

    again = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert again["files_read"] == first["files_read"] == 1
    assert again["files_skipped"] == []  # excluded, not even listed as an earlier out folder
    assert again["chunks_resumed"] == again["chunks"] == first["chunks"]
    assert {p["source"] for p in read_jsonl(out / "pairs.jsonl") if p["kind"] == "grounded"} == {"fleet.txt"}


# -- 16: the file-size limit --------------------------------------------------------------------


def sparse(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:  # no bytes written to disk
        handle.truncate(size)
    return path


def test_max_file_size_lowers_and_raises_the_limit(tmp_path: Path) -> None:
    corpus = small_corpus(tmp_path / "corpus")
    write(corpus / "log.txt", "Sailing 07:00 left Port Essary on time.\n" * (3 * MB // 40))  # about 3 MB

    assert main([str(corpus), "-o", str(tmp_path / "low"), "-q", "--max-file-size", "2"]) == 0
    low = json.loads((tmp_path / "low" / "report.json").read_text(encoding="utf-8"))
    assert low["files_read"] == 1
    assert low["files_skipped"] == [
        {"source": "log.txt", "reason": "too large (3.0 MB, over the 2 MB limit; --max-file-size raises it)"}
    ]
    assert low["settings"]["max_file_size"] == 2.0

    assert load_corpus(corpus, max_file_bytes=4 * MB).skipped == ()


def test_max_file_size_is_read_from_the_environment_and_checked(tmp_path: Path, capsys, monkeypatch) -> None:
    corpus = small_corpus(tmp_path / "corpus")
    monkeypatch.setenv("QAGEN_MAX_FILE_SIZE", "0.001")  # about 1 KB: fleet.txt is larger

    assert main([str(corpus), "-o", str(tmp_path / "o")]) == 1
    assert "over the 0.001 MB limit; --max-file-size raises it" in capsys.readouterr().err

    assert main([str(corpus), "-o", str(tmp_path / "o"), "--max-file-size", "0"]) == 2
    assert "error: --max-file-size must be above 0 (got '0')." in capsys.readouterr().err


def test_a_folder_holding_only_a_too_large_file_names_the_limit_and_the_flag(tmp_path: Path, capsys) -> None:
    sparse(tmp_path / "corpus" / "dump.txt", 51 * MB)

    assert main([str(tmp_path / "corpus"), "-o", str(tmp_path / "o")]) == 1

    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: no usable text files in {tmp_path / 'corpus'}/; skipped: "
        "1 too large (over the 50 MB limit; --max-file-size raises it)."
    ]


def test_the_nothing_usable_message_says_why_each_kind_was_skipped(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    write(corpus / "a.pdf.bak", b"%PDF-1.4\n")
    write(corpus / "b.bin", b"\x00\x01\x02")
    write(corpus / "c.txt", "   \n")
    write(corpus / ".env", "KEY=1\n")
    write(corpus / "d.txt", "x" * 2048)
    (corpus / "gone.txt").symlink_to(tmp_path / "nowhere.txt")

    with pytest.raises(CorpusError) as info:
        load_corpus(corpus, max_file_bytes=1024)

    assert str(info.value) == (
        f"no usable text files in {corpus}/; skipped: "
        "2 binary (not text: convert them to text first), "
        "1 broken link (its target is missing), "
        "1 empty (nothing but whitespace), "
        "1 hidden (the name starts with a dot), "
        "1 too large (over the 0.001 MB limit; --max-file-size raises it)."
    )


def test_a_single_too_large_file_names_the_limit_and_the_flag(tmp_path: Path) -> None:
    big = sparse(tmp_path / "dump.txt", 51 * MB)

    with pytest.raises(CorpusError) as info:
        load_corpus(big)

    assert str(info.value) == f"cannot use {big}: too large (51.0 MB, over the 50 MB limit; --max-file-size raises it)."


# -- 26: file names on the terminal --------------------------------------------------------------


def test_terminal_safe_shows_control_characters_as_escapes() -> None:
    from qagen.progress import terminal_safe

    assert terminal_safe("\x1b[31mred\x1b[0m.txt") == "\\x1b[31mred\\x1b[0m.txt"
    assert terminal_safe("\x1b]0;title\x07.txt") == "\\x1b]0;title\\x07.txt"
    assert terminal_safe("a\nb\rc\td\x7f\x9b") == "a\\nb\\rc\\td\\x7f\\x9b"
    assert terminal_safe("evil\u202etxt.exe") == "evil\\u202etxt.exe"
    assert terminal_safe("café £9.40 — ☂ 東京.txt") == "café £9.40 — ☂ 東京.txt"
    assert terminal_safe("one\ntwo\x1b", keep_newlines=True) == "one\ntwo\\x1b"


def test_control_characters_in_file_names_are_escaped_in_every_line_printed(tmp_path: Path, capsys) -> None:
    corpus = small_corpus(tmp_path / "corpus")
    titled = "\x1b]0;owned\x07notes.txt"
    red = "\x1b[31mred.bin"
    write(corpus / titled, STRAY_UTF8)  # read, with a warning naming it
    write(corpus / red, b"\x00\x01\x02" * 10)  # skipped, and listed in the summary
    write(corpus / "line\nbreak.bin", b"\x00\x01\x02" * 10)

    assert main([str(corpus), "-o", str(tmp_path / "out")]) == 0

    captured = capsys.readouterr()
    printed = captured.out + captured.err
    assert "\x1b" not in printed and "\x07" not in printed
    assert "warning: \\x1b]0;owned\\x07notes.txt: not valid UTF-8" in captured.err
    assert "warning   \\x1b]0;owned\\x07notes.txt: not valid UTF-8" in captured.out
    assert "skipped \\x1b[31mred.bin: binary file" in captured.out
    assert "skipped line\\nbreak.bin: binary file" in captured.out
    # The files qagen writes keep the real names.
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert {s["source"] for s in report["files_skipped"]} == {red, "line\nbreak.bin"}
    assert any(w.startswith(titled) for w in report["warnings"])


def test_control_characters_in_the_path_of_an_error_are_escaped(tmp_path: Path, capsys) -> None:
    blob = write(tmp_path / "\x1b[2Jwipe.bin", b"\x00\x01\x02" * 10)

    assert main([str(blob), "-o", str(tmp_path / "out")]) == 1

    err = capsys.readouterr().err
    assert "\x1b" not in err
    assert err == f"error: cannot use {tmp_path}/\\x1b[2Jwipe.bin: binary file.\n"
