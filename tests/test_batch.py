"""--batch: each step's requests as Batch API jobs on the test server, resumable, matched back into the journal."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fake_batches import FakeBatches, serve_batches
from fake_openai import Reply, chat_reply, error_reply
from helpers import CORPUS, output_files, read_jsonl
from qagen.cli import main


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    shutil.copytree(CORPUS, folder)
    return folder


@pytest.fixture
def batches(fake_openai) -> FakeBatches:
    return serve_batches(fake_openai)


def _run(corpus: Path, out: Path, fake_openai, *extra: str) -> int:
    return main([str(corpus), "-o", str(out), "-q", "--base-url", fake_openai.url, "--model", "m", "--chunk-size", "300",
                 "--batch-poll-interval", "0.001", *extra])


def _report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text(encoding="utf-8"))


def test_a_batch_run_writes_the_same_dataset_as_an_online_run(tmp_path: Path, corpus: Path, fake_openai, batches) -> None:
    assert _run(corpus, tmp_path / "online", fake_openai, "--no-cache") == 0
    online_bodies = sorted(json.dumps(r.json, sort_keys=True) for r in fake_openai.chat_requests())
    online_requests = len(online_bodies)
    fake_openai.requests.clear()

    assert _run(corpus, tmp_path / "batch", fake_openai, "--no-cache", "--batch") == 0
    assert fake_openai.chat_requests() == []  # nothing went online
    assert output_files(tmp_path / "online") == output_files(tmp_path / "batch")
    assert (tmp_path / "online" / "train.jsonl").read_bytes() == (tmp_path / "batch" / "train.jsonl").read_bytes()
    lines = [line for batch in batches.batches.values() for line in batch.lines]
    assert len(lines) == online_requests
    assert sorted(json.dumps(line["body"], sort_keys=True) for line in lines) == online_bodies  # asked exactly the same
    assert all(line["method"] == "POST" and line["url"] == "/v1/chat/completions" and line["body"]["model"] == "m" for line in lines)
    report = _report(tmp_path / "batch")
    assert report["batch"]["batched"] == online_requests
    assert report["batch"]["answered"] == online_requests
    assert report["batch"]["failed"] == 0 and report["batch"]["retried"] == 0
