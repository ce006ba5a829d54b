"""The commands after a run: ``qagen eval`` (and, with the train extra, the open trainer) through ``main(argv)``."""

from __future__ import annotations

import json
from pathlib import Path

from fake_openai import chat_reply
from helpers import CORPUS, read_jsonl
from qagen.cli import main
from qagen.options import DEFAULT_REFUSALS


def _dataset(tmp_path: Path) -> Path:
    out = tmp_path / "run"
    assert main([str(CORPUS), "-o", str(out), "-q", "--valid-fraction", "0.3"]) == 0
    return out


def test_eval_scores_a_model_that_knows_the_answers(tmp_path: Path, fake_openai, capsys) -> None:
    out = _dataset(tmp_path)
    answers = {p["question"]: p["answer"] for p in read_jsonl(out / "pairs.jsonl")}
    fake_openai.handler = lambda request: chat_reply(answers[request.last_user_text])
    capsys.readouterr()
    assert main(["eval", str(out), "--model", "ft:tiny", "--base-url", fake_openai.url, "--concurrency", "4"]) == 0
    printed = capsys.readouterr().out
    assert "100" in printed  # accuracy and correct refusals
    summary = json.loads(next((out / "eval").glob("*.json")).read_text())
    assert summary["accuracy"] == 1.0 and summary["correct_refusal_rate"] == 1.0 and summary["wrong_refusal_rate"] == 0.0
    valid = [p for p in read_jsonl(out / "pairs.jsonl") if p["split"] == "valid"]
    assert summary["items"] == len(valid) == len(fake_openai.chat_requests())
    assert fake_openai.max_in_flight <= 4


def test_eval_of_a_model_that_refuses_everything(tmp_path: Path, fake_openai, capsys) -> None:
    out = _dataset(tmp_path)
    fake_openai.handler = lambda request: chat_reply(DEFAULT_REFUSALS[0])
    assert main(["eval", str(out), "--model", "ft:shy", "--base-url", fake_openai.url]) == 0
    summary = json.loads(next((out / "eval").glob("*.json")).read_text())
    assert summary["accuracy"] == 0.0 and summary["wrong_refusal_rate"] == 1.0 and summary["correct_refusal_rate"] == 1.0


def test_eval_needs_a_model_and_a_run(tmp_path: Path, capsys) -> None:
    assert main(["eval", str(tmp_path / "nothing"), "--model", "m", "--base-url", "http://127.0.0.1:9/v1"]) != 0
    assert main(["eval", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("error: ") == 2 and "Traceback" not in err


def test_finetune_command_launches_follows_and_resumes(tmp_path: Path, fake_openai, capsys, monkeypatch) -> None:
    out = _dataset(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key-0000000000")
    args = ["finetune", str(out), "--base-url", fake_openai.url, "--poll-interval", "0.01", "--suffix", "ferry"]
    capsys.readouterr()
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "succeeded" in err and "qagen eval" in err and "sk-test-key" not in err
    assert len(fake_openai.uploads) == 2 and len(fake_openai.job_creates) == 1
    # Again: nothing uploaded or created twice; it just reports the finished job.
    assert main(args) == 0
    assert len(fake_openai.uploads) == 2 and len(fake_openai.job_creates) == 1


def test_finetune_refusal_is_one_sentence_with_alternatives(tmp_path: Path, fake_openai, capsys, monkeypatch) -> None:
    from fake_openai import error_reply

    out = _dataset(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key-0000000000")
    fake_openai.finetune_refusal = error_reply(403, "Fine-tuning is not available for your organization.")
    capsys.readouterr()
    assert main(["finetune", str(out), "--base-url", fake_openai.url, "--poll-interval", "0.01"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert not any(line.startswith("Traceback") for line in err)
    assert err[-1].startswith("error: ") and "--trainer trl" in err[-1] and "not available" in err[-1]


def test_finetune_dry_run_sends_nothing(tmp_path: Path, fake_openai, capsys) -> None:
    out = _dataset(tmp_path)
    capsys.readouterr()
    assert main(["finetune", str(out), "--dry-run", "--base-url", fake_openai.url]) == 0
    assert fake_openai.requests == []
    assert "epochs" in capsys.readouterr().err


def test_follow_command(tmp_path: Path, fake_openai, capsys, monkeypatch) -> None:
    out = _dataset(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key-0000000000")
    fake_openai.job_statuses = ["queued", "paused", "running", "succeeded"]
    assert main(["finetune", str(out), "--base-url", fake_openai.url, "--poll-interval", "0.01"]) == 6  # paused: stops
    (job_id,) = fake_openai.jobs
    capsys.readouterr()
    assert main(["follow", job_id, "--base-url", fake_openai.url, "--poll-interval", "0.01"]) == 0
    assert "succeeded" in capsys.readouterr().err
    assert main(["follow", "ftjob-nope", "--base-url", fake_openai.url, "--poll-interval", "0.01"]) == 1
    assert "ftjob-nope" in capsys.readouterr().err


def test_restart_names_the_fine_tuning_job_it_forgets(tmp_path: Path, fake_openai, capsys, monkeypatch) -> None:
    out = _dataset(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key-0000000000")
    assert main(["finetune", str(out), "--base-url", fake_openai.url, "--poll-interval", "0.01"]) == 0
    (job_id,) = fake_openai.jobs
    capsys.readouterr()
    monkeypatch.delenv("OPENAI_API_KEY")
    assert main([str(CORPUS), "-o", str(out), "--valid-fraction", "0.3", "--restart"]) == 0
    assert f"qagen follow {job_id}" in capsys.readouterr().err
