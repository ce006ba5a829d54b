"""The call cache: an identical request is answered from the local store, across out folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helpers import CORPUS, output_files
from qagen.cli import main

KEY = "sk-cache-test-key-0123456789abcdef"


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("QAGEN_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    shutil.copytree(CORPUS, folder)
    return folder


def _generate(corpus: Path, out: Path, fake_openai, *extra: str) -> dict:
    code = main([str(corpus), "-o", str(out), "-q", "--base-url", fake_openai.url, "--model", "m", "--chunk-size", "300", *extra])
    assert code == 0
    return json.loads((out / "report.json").read_text(encoding="utf-8"))


def _sent(fake_openai) -> int:
    sent = len(fake_openai.chat_requests())
    fake_openai.requests.clear()
    return sent


def test_rerun_into_a_new_out_folder_sends_no_request(tmp_path: Path, corpus: Path, cache_dir: Path, fake_openai, capsys) -> None:
    first = _generate(corpus, tmp_path / "a", fake_openai)
    asked = _sent(fake_openai)
    assert asked > 0 and first["cache_hits"] == 0 and first["requests"] == asked

    second = _generate(corpus, tmp_path / "b", fake_openai)
    assert _sent(fake_openai) == 0
    assert second["requests"] == 0
    assert second["cache_hits"] == asked
    assert output_files(tmp_path / "a") == output_files(tmp_path / "b")
    assert f"{asked} answered from the cache" in capsys.readouterr().out


def test_restart_with_only_a_quality_setting_changed_sends_no_request(tmp_path: Path, corpus: Path, cache_dir: Path, fake_openai) -> None:
    _generate(corpus, tmp_path / "out", fake_openai)
    asked = _sent(fake_openai)
    report = _generate(corpus, tmp_path / "out", fake_openai, "--restart", "--dedupe-threshold", "0.5")
    assert _sent(fake_openai) == 0
    assert report["cache_hits"] == asked


def test_a_new_document_asks_only_about_its_chunks(tmp_path: Path, corpus: Path, cache_dir: Path, fake_openai) -> None:
    _generate(corpus, tmp_path / "a", fake_openai, "--idk-ratio", "0")
    _sent(fake_openai)
    (corpus / "lost-property.md").write_text(
        "# Lost property\n\nItems left on a tram are kept at the Central depot for thirty days. "
        "Owners collect them between nine and five on weekdays with a photo identity card.\n",
        encoding="utf-8",
    )
    report = _generate(corpus, tmp_path / "b", fake_openai, "--idk-ratio", "0")
    sent = fake_openai.chat_requests()
    assert len(sent) == 1
    assert "Lost property" in sent[0].last_user_text
    assert report["requests"] == 1 and report["cache_hits"] == report["chunks"] - 1


def test_no_cache_sends_every_request(tmp_path: Path, corpus: Path, cache_dir: Path, fake_openai) -> None:
    _generate(corpus, tmp_path / "a", fake_openai)
    asked = _sent(fake_openai)
    report = _generate(corpus, tmp_path / "b", fake_openai, "--no-cache")
    assert _sent(fake_openai) == asked
    assert report["cache_hits"] == 0 and report["requests"] == asked


def test_a_failed_request_is_not_cached(tmp_path: Path, corpus: Path, cache_dir: Path, fake_openai) -> None:
    from fake_openai import error_reply

    answer = fake_openai.handler
    fake_openai.handler = lambda request: error_reply(503, "overloaded")
    assert main([str(corpus), "-o", str(tmp_path / "a"), "-q", "--base-url", fake_openai.url, "--model", "m",
                 "--max-attempts", "1"]) == 1
    fake_openai.handler = answer
    _sent(fake_openai)
    report = _generate(corpus, tmp_path / "b", fake_openai)
    assert report["cache_hits"] == 0 and _sent(fake_openai) == report["requests"] > 0


def test_the_key_is_not_in_the_cache(tmp_path: Path, corpus: Path, cache_dir: Path, fake_openai, monkeypatch) -> None:
    fake_openai.api_key = KEY
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    _generate(corpus, tmp_path / "a", fake_openai)
    files = list(cache_dir.iterdir())
    assert files
    for file in files:
        data = file.read_bytes()
        assert KEY.encode() not in data and KEY[-8:].encode() not in data


def test_the_key_is_not_part_of_the_cache_key(tmp_path: Path, corpus: Path, cache_dir: Path, fake_openai, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    _generate(corpus, tmp_path / "a", fake_openai)
    asked = _sent(fake_openai)
    monkeypatch.setenv("OPENAI_API_KEY", KEY + "-rotated")
    assert _generate(corpus, tmp_path / "b", fake_openai)["cache_hits"] == asked


def test_cache_info_and_clear(tmp_path: Path, corpus: Path, cache_dir: Path, fake_openai, capsys) -> None:
    _generate(corpus, tmp_path / "a", fake_openai)
    asked = _sent(fake_openai)
    capsys.readouterr()
    assert main(["cache", "info"]) == 0
    info = capsys.readouterr().out
    assert str(cache_dir) in info and f"entries  {asked}" in info

    assert main(["cache", "clear"]) == 0
    assert f"{asked} cached" in capsys.readouterr().out
    assert main(["cache", "info"]) == 0
    assert "entries  0" in capsys.readouterr().out
    _generate(corpus, tmp_path / "b", fake_openai)
    assert _sent(fake_openai) == asked


def test_cache_info_with_no_cache_yet(cache_dir: Path, capsys) -> None:
    assert main(["cache", "info"]) == 0
    assert "entries  0" in capsys.readouterr().out
    assert not cache_dir.exists()  # looking does not create it


def test_a_corrupt_cache_file_warns_once_and_the_run_goes_on(tmp_path: Path, corpus: Path, cache_dir: Path, fake_openai, capsys) -> None:
    cache_dir.mkdir()
    (cache_dir / "calls.sqlite3").write_bytes(b"this is not a database" * 100)
    code = main([str(corpus), "-o", str(tmp_path / "a"), "--base-url", fake_openai.url, "--model", "m"])
    assert code == 0
    err = capsys.readouterr().err
    assert err.count("call cache") == 1 and "qagen cache clear" in err
    assert len(fake_openai.chat_requests()) > 0
    # clear repairs it
    assert main(["cache", "clear"]) == 0
    assert main(["cache", "info"]) == 0
    assert "entries  0" in capsys.readouterr().out


def test_the_cache_key_covers_what_is_sent_and_nothing_else() -> None:
    from dataclasses import replace

    from qagen.llm.cache import normalised_endpoint, request_key
    from qagen.records import Message, Request

    request = Request("chunk-1", (Message("user", "Ask about trams."),), {"temperature": 0.2, "max_tokens": 100})
    key = request_key(normalised_endpoint("http://Host:8000/v1/"), "m", request, True)
    assert key == request_key(normalised_endpoint("http://host:8000/v1"), "m", request, True)
    assert key == request_key(normalised_endpoint("http://host:8000/v1"), "m", replace(request, key="other", passage="x"), True)
    assert key == request_key("http://host:8000/v1", "m", replace(request, params={"max_tokens": 100, "temperature": 0.2}), True)
    different = [
        request_key("http://host:9000/v1", "m", request, True),
        request_key("http://host:8000/v1", "m2", request, True),
        request_key("http://host:8000/v1", "m", replace(request, messages=(Message("user", "Ask about buses."),)), True),
        request_key("http://host:8000/v1", "m", replace(request, params={"temperature": 0.3, "max_tokens": 100}), True),
        request_key("http://host:8000/v1", "m", request, False),
    ]
    assert len({key, *different}) == 6
    assert normalised_endpoint(None) == "https://api.openai.com/v1"
