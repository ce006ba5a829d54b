"""qagen end to end against a real model: llama.cpp's server (llama-cpp-python) running SmolLM2-135M.

The model is tiny and weak, so these tests assert behaviour, not quality: the run finishes (exit 0,
or 4 with its reason when no training example survived), every reply that gave no pair is in
``rejects.jsonl`` with a reason, the report's counts add up, a run whose server was stopped midway
resumes without asking an answered chunk again, and a chunk over the server's context window is
cut into pieces (or rejected as ``context_too_long``) while the run goes on.

Marked ``realmodel``; skipped with the reason when llama-cpp-python's server or the GGUF model is
not available (``tests/llama_server.py`` says where they come from). Each test prints its figures
(parse rejects per reply, pairs kept); ``pytest -rP -m realmodel`` shows them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from helpers import CORPUS, REPO, read_jsonl
from llama_server import MODEL_NAME, LlamaServer, find_gguf, server_missing
from qagen.llm.templates import builtin_template_path
from qagen.settings import GENERATE_OPTIONS

pytestmark = pytest.mark.realmodel

# Replies a 135M model writes can run to max_tokens; shorter ones keep each request to seconds.
SHORT_REPLIES = {"qa": 300, "idk": 250, "idk_check": 80, "judge": 250}
TEMPLATE_FLAGS = {"qa": "--template", "idk": "--idk-template", "idk_check": "--idk-check-template", "judge": "--judge-template"}


@pytest.fixture(scope="module")
def gguf() -> Path:
    if why := server_missing():
        pytest.skip(why)
    path, why = find_gguf()
    if path is None:
        pytest.skip(why)
    return path


@pytest.fixture(scope="module")
def llama(gguf: Path, tmp_path_factory: pytest.TempPathFactory):
    server = LlamaServer(gguf, tmp_path_factory.mktemp("llama-logs")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Flags naming copies of the built-in templates that ask for shorter replies, nothing else changed."""
    folder = tmp_path_factory.mktemp("templates")
    flags: list[str] = []
    for name, max_tokens in SHORT_REPLIES.items():
        template = json.loads(builtin_template_path(name).read_text(encoding="utf-8"))
        template.setdefault("params", {})["max_tokens"] = max_tokens
        path = folder / f"{name}.json"
        path.write_text(json.dumps(template), encoding="utf-8")
        flags += [TEMPLATE_FLAGS[name], str(path)]
    return flags


def corpus_of(folder: Path, *names: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text((CORPUS / name).read_text(encoding="utf-8"), encoding="utf-8")
    return folder


def qagen(server: LlamaServer, corpus: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "qagen", str(corpus), "--base-url", server.url, "--model", MODEL_NAME,
               "-o", str(out), "--concurrency", "1", "--seed", "0", "-q", *extra]
    return subprocess.run(command, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)


def figures(out: Path) -> dict:
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    rejects = read_jsonl(out / "rejects.jsonl")
    replies = sum(1 for c in report["coverage"] if c["status"] in ("answered", "resumed"))
    parse_rejects = sum(1 for r in rejects if r["stage"] == "parse")
    return {
        "replies": replies,
        "parse_rejects": parse_rejects,
        "parse_rejects_per_reply": round(parse_rejects / replies, 2) if replies else None,
        "pairs_generated": report["pairs_generated"],
        "pairs_kept": report["pairs_kept"],
        "idk_kept": report["idk_kept"],
        "dropped": report["dropped"],
    }


def assert_accounted_for(done: subprocess.CompletedProcess, out: Path) -> dict:
    """The run finished, and everything it was given is either kept or in the rejects with a reason."""
    assert done.returncode in (0, 4), done.stderr
    if done.returncode == 4:
        assert done.stderr.strip().splitlines()[-1].startswith("error: no training examples were written because ")
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    rejects = read_jsonl(out / "rejects.jsonl")
    pairs = read_jsonl(out / "pairs.jsonl")
    assert all(r["reason"] and r["detail"] for r in rejects)
    # Every reply that gave no pair says why; a chunk that got no reply says why too.
    for chunk in report["coverage"]:
        mine = [r for r in rejects if r["chunk_id"] == chunk["chunk_id"] and r["stage"] in ("parse", "generate")]
        if chunk["status"] in ("answered", "resumed") and chunk["generated"] == 0:
            assert mine, f"chunk {chunk['chunk_id']} gave no pair and has no reject"
        if chunk["status"] == "context_too_long":
            assert [r["reason"] for r in mine] == ["context_too_long"]
    # The counts add up, from the replies to the files.
    stages = report["stages"]
    assert sum(c["generated"] for c in report["coverage"]) == report["pairs_generated"] == stages["generate"]["out"]
    assert stages["generate"]["in"] == report["chunks"] == len(report["coverage"])
    assert Counter(r["reason"] for r in rejects) == Counter(report["dropped"])
    previous = stages["generate"]["out"]
    for name in ("check", "judge", "dedupe"):
        if name in stages:
            assert stages[name]["in"] == previous
            assert stages[name]["in"] - stages[name]["out"] == sum(stages[name]["dropped"].values())
            previous = stages[name]["out"]
    assert stages["dedupe_idk"]["in"] == previous + stages["idk"]["out"]
    assert stages["validate"]["in"] == stages["dedupe_idk"]["out"]
    assert stages["split"]["in"] == stages["validate"]["out"] == report["pairs_kept"] == len(pairs)
    assert stages["split"]["train"] + stages["split"]["valid"] == len(pairs)
    assert len(read_jsonl(out / "train.jsonl")) == report["train_examples"] == stages["split"]["train"]
    assert len(read_jsonl(out / "valid.jsonl")) == report["valid_examples"] == stages["split"]["valid"]
    assert report["requests_failed"] == 0 and not report["chunks_failed"]
    return report


def structured_output_flags(on: bool) -> list[str]:
    if on:
        return []
    if "structured_output" not in GENERATE_OPTIONS:
        pytest.skip("this qagen has no structured_output setting (--no-structured-output) yet")
    return ["--no-structured-output"]


@pytest.mark.parametrize("structured", [True, False], ids=["structured-output-on", "structured-output-off"])
def test_a_run_with_the_judge_and_idk_stages_finishes_and_accounts_for_every_reply(
    llama: LlamaServer, templates: list[str], tmp_path: Path, structured: bool
) -> None:
    flags = structured_output_flags(structured)
    corpus = corpus_of(tmp_path / "corpus", "history.md")
    out = tmp_path / "out"
    before = len(llama.chat_statuses())
    done = qagen(llama, corpus, out, "--chunk-size", "300", "-n", "2", "--judge", "--idk-ratio", "1", *templates, *flags)
    report = assert_accounted_for(done, out)
    # The judge rated (or left unrated, with the reason) every pair that passed the checks, and the idk stage ran.
    assert report["stages"]["judge"]["in"] == report["stages"]["check"]["out"]
    assert report["stages"]["idk"]["target"] == round(report["stages"]["dedupe"]["out"] * 1)
    statuses = llama.chat_statuses()[before:]
    assert len(statuses) == report["requests"]  # the server saw exactly the requests the report counts
    print(f"figures (structured output {'on' if structured else 'off'}):", json.dumps(figures(out)))


def test_a_run_whose_server_stops_midway_resumes_without_asking_an_answered_chunk_again(
    llama: LlamaServer, templates: list[str], tmp_path: Path
) -> None:
    corpus = corpus_of(tmp_path / "corpus", "history.md")
    out = tmp_path / "out"
    journal = out / ".qagen" / "journal.jsonl"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "qagen", str(corpus), "--base-url", llama.url, "--model", MODEL_NAME, "-o", str(out),
               "--concurrency", "1", "-q", "--chunk-size", "150", "--chunk-overlap", "0", "-n", "1", "--idk-ratio", "0",
               "--max-attempts", "2", *templates]
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, stdin=subprocess.DEVNULL)
    try:
        # Stop the server once two chunks are answered (the journal is synced before the run moves on).
        while run.poll() is None and not (journal.exists() and len(journal.read_text(encoding="utf-8").splitlines()) >= 2):
            time.sleep(0.2)
        llama.stop()
        stdout, stderr = run.communicate(timeout=600)
    finally:
        if run.poll() is None:
            run.kill()
        if llama._process is None:
            llama.start()
    assert run.returncode == 3, stderr  # finished, some requests failed after every retry: a rerun asks them
    answered = {json.loads(line)["key"] for line in journal.read_text(encoding="utf-8").splitlines()}
    first = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert 2 <= len(answered) < first["chunks"]
    assert "run the same command again" in stderr

    before = len(llama.chat_statuses())
    done = subprocess.run(command, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    report = assert_accounted_for(done, out)
    asked_again = llama.chat_statuses()[before:]
    # Only the chunks the first run did not get answers for were asked, plus, in a new process, the one
    # request this server refuses (500) when the run learns again that it takes no json_schema.
    answered_again = [status for status in asked_again if status != 500]
    assert len(answered_again) == report["chunks"] - len(answered)
    assert len(asked_again) == report["requests"] and len(asked_again) - len(answered_again) <= 1
    assert report["chunks_resumed"] == len(answered)
    keys = [json.loads(line)["key"] for line in journal.read_text(encoding="utf-8").splitlines()]
    assert len(keys) == len(set(keys)) == report["chunks"]
    print("figures (resumed):", json.dumps(figures(out)))


def test_a_chunk_over_the_server_context_window_is_cut_into_pieces_and_the_run_goes_on(
    llama: LlamaServer, templates: list[str], tmp_path: Path
) -> None:
    # One long file (about 3,000 words): its first chunk is far over the server's 2,048 tokens.
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    long_text = "\n\n".join((CORPUS / name).read_text(encoding="utf-8")
                            for name in ("fares-and-tickets.md", "fleet.txt", "history.md", "routes-and-timetables.md"))
    (corpus / "handbook.md").write_text(long_text, encoding="utf-8")
    out = tmp_path / "out"
    before = len(llama.chat_statuses())
    done = qagen(llama, corpus, out, "--chunk-size", "3000", "--chunk-overlap", "0", "-n", "2", "--idk-ratio", "1", *templates)
    report = assert_accounted_for(done, out)
    statuses = llama.chat_statuses()[before:]
    assert 400 in statuses  # the server did refuse a prompt over its window
    assert report["stages"]["generate"]["split"] >= 1
    assert report["chunks"] >= 2 and all(c["tokens"] < 3000 for c in report["coverage"])
    assert any("context window" in w for w in report["warnings"])
    rejects = read_jsonl(out / "rejects.jsonl")
    assert all("context window" in r["detail"] for r in rejects if r["reason"] == "context_too_long")
    print("figures (over the window):", json.dumps(figures(out)), "server statuses:", dict(Counter(statuses)))

    # Told the window, qagen cuts the chunk before sending (its token counts are an estimate for this model,
    # so the server may still refuse a piece, which is then cut again).
    out2 = tmp_path / "out2"
    before = len(llama.chat_statuses())
    done = qagen(llama, corpus, out2, "--chunk-size", "3000", "--chunk-overlap", "0", "-n", "2", "--idk-ratio", "0",
                 "--max-context", str(llama.n_ctx), *templates)
    report = assert_accounted_for(done, out2)
    assert report["stages"]["generate"]["split"] >= 1
    print("figures (--max-context):", json.dumps(figures(out2)), "server statuses:", dict(Counter(llama.chat_statuses()[before:])))
