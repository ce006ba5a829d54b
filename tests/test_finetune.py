"""Launching and following fine-tuning jobs, against the fake OpenAI server with the real SDK."""

from __future__ import annotations

import hashlib
import json
import shlex
import shutil
from pathlib import Path

import pytest

import qagen.finetune.jobs as finetune
from fake_openai import FakeOpenAI, RecordedRequest, Reply, error_reply
from helpers import CORPUS
from qagen import __version__
from qagen.cli import main
from qagen.errors import ConfigError, ModelError, QagenError
from qagen.finetune.errors import FinetuneError, FinetuneRefused
from qagen.finetune.jobs import JobOutcome, cancel, follow, launch
from qagen.finetune.preflight import describe_plan, preflight
from qagen.finetune.state import saved_job_id, state_path
from qagen.settings import FinetuneSettings, resolve
from qagen.documents.tokens import counter_for
from qagen.dataset.validate import validate_file

FILES = "/v1/files"
JOBS = "/v1/fine_tuning/jobs"


@pytest.fixture(scope="module")
def built_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("built") / "handbook-out"
    assert main([str(CORPUS), "-o", str(out), "-q", "--model", "offline"]) == 0
    return out


@pytest.fixture
def out(built_dataset: Path, tmp_path: Path) -> Path:
    """A fresh copy of a qagen run's out folder for each test."""
    copy = tmp_path / built_dataset.name
    shutil.copytree(built_dataset, copy)
    return copy


class Said:
    """Collects what the library says; ``stop_at`` simulates Ctrl-C when a line contains it."""

    def __init__(self, stop_at: str | None = None) -> None:
        self.lines: list[str] = []
        self.stop_at = stop_at

    def __call__(self, line: str) -> None:
        self.lines.append(line)
        if self.stop_at is not None and self.stop_at in line:
            raise KeyboardInterrupt

    def containing(self, text: str) -> list[str]:
        return [line for line in self.lines if text in line]


def options_for(server: FakeOpenAI, out: Path, **overrides: object) -> FinetuneSettings:
    values: dict = {"out_dir": out, "base_url": server.url, "api_key": "test-key", "poll_interval": 0.02, "timeout": 5.0}
    values.update(overrides)
    return FinetuneSettings(**values)


def requests_to(server: FakeOpenAI, method: str, path: str) -> list[RecordedRequest]:
    return [r for r in server.requests if r.method == method and r.path == path]


def job_events(server: FakeOpenAI, job_id: str) -> list[dict]:
    return list(server.jobs[job_id].events)  # oldest first


def test_launch_uploads_both_files_creates_the_job_and_follows_it_to_success(fake_openai: FakeOpenAI, out: Path) -> None:
    said = Said()
    options = options_for(
        fake_openai, out, n_epochs=2, batch_size=4, learning_rate_multiplier=0.5, suffix="handbook", seed=7
    )

    outcome = launch(options, said)

    train_bytes, valid_bytes = (out / "train.jsonl").read_bytes(), (out / "valid.jsonl").read_bytes()
    train_upload, valid_upload = fake_openai.uploads
    assert (train_upload.content, valid_upload.content) == (train_bytes, valid_bytes)
    assert train_upload.filename.endswith("train.jsonl") and valid_upload.filename.endswith("valid.jsonl")
    assert {train_upload.purpose, valid_upload.purpose} == {"fine-tune"}
    (created,) = fake_openai.job_creates
    assert created["model"] == "gpt-4o-mini-2024-07-18"
    assert (created["training_file"], created["validation_file"]) == (train_upload.id, valid_upload.id)
    assert created["method"] == {
        "type": "supervised",
        "supervised": {"hyperparameters": {"n_epochs": 2, "batch_size": 4, "learning_rate_multiplier": 0.5}},
    }
    assert (created["suffix"], created["seed"]) == ("handbook", 7)
    assert created["metadata"]["qagen_out"] == "handbook-out"
    assert created["metadata"]["qagen_version"] == __version__

    (job,) = fake_openai.jobs.values()
    assert outcome == JobOutcome(
        job_id=job.id, status="succeeded", fine_tuned_model=job.fine_tuned_model, error=None,
        trained_tokens=job.trained_tokens, train_loss=outcome.train_loss, valid_loss=outcome.valid_loss,
    )
    assert job.fine_tuned_model and "handbook" in job.fine_tuned_model

    # Every event is said once, oldest first; metrics events as their losses.
    events = job_events(fake_openai, job.id)
    metrics = [e["data"] for e in events if e["type"] == "metrics"]
    assert len(metrics) == 2
    expected = [
        f"step {d['step']}/{d['total_steps']}: training loss {d['train_loss']:.4f}, validation loss {d['valid_loss']:.4f}"
        if e["type"] == "metrics" else e["message"]
        for e, d in ((e, e["data"]) for e in events)
    ]
    positions = [said.lines.index(line) for line in expected]
    assert positions == sorted(positions)
    assert all(said.lines.count(line) == 1 for line in expected)
    assert (outcome.train_loss, outcome.valid_loss) == (metrics[-1]["train_loss"], metrics[-1]["valid_loss"])

    statuses = [line.split(": ", 1)[1] for line in said.lines if line.startswith(f"job {job.id}: ")]
    assert statuses == ["validating files", "queued", "running", "succeeded"]

    # The model's name, and a command that asks it the first validation question.
    (summary,) = said.containing(f"job {job.id} succeeded")
    assert job.fine_tuned_model in summary
    (try_it,) = said.containing("try it: ")
    words = shlex.split(try_it.removeprefix("try it: "))
    assert words[0] == "curl" and words[1] == fake_openai.url + "/chat/completions"
    body = json.loads(words[words.index("-d") + 1])
    first_valid = json.loads(valid_bytes.decode("utf-8").splitlines()[0])
    assert body["model"] == job.fine_tuned_model
    assert body["messages"] == [m for m in first_valid["messages"] if m["role"] != "assistant"]

    state = json.loads(state_path(out).read_text(encoding="utf-8"))
    assert state["job_id"] == job.id and state["status"] == "succeeded"
    assert state["files"]["train.jsonl"] == {
        "file_id": train_upload.id, "sha256": hashlib.sha256(train_bytes).hexdigest(), "endpoint": fake_openai.url,
    }
    assert "test-key" not in state_path(out).read_text(encoding="utf-8")


def test_a_failed_job_returns_and_says_the_services_error(fake_openai: FakeOpenAI, out: Path) -> None:
    fake_openai.job_statuses = ["validating_files", "running", "failed"]
    fake_openai.job_error = {"code": "invalid_n_examples", "message": "Training file has 12 examples after filtering.", "param": None}
    said = Said()

    outcome = launch(options_for(fake_openai, out), said)

    assert outcome is not None and outcome.status == "failed" and outcome.fine_tuned_model is None
    assert outcome.error == "invalid_n_examples: Training file has 12 examples after filtering."
    (line,) = said.containing(f"job {outcome.job_id} failed")
    assert outcome.error in line and str(state_path(out)) in line  # how to launch a new job
    assert said.containing("Training file has 12 examples after filtering.")[0].startswith("error: ")  # the error event


@pytest.mark.parametrize(
    "refusal",
    [
        error_reply(403, "You do not have access to fine-tuning (key sk-proj-abcdefghijklmnop1234)."),
        error_reply(400, "Fine-tuning is not available for your organization."),
    ],
)
def test_a_refused_job_creation_is_one_sentence_naming_the_alternatives(fake_openai: FakeOpenAI, out: Path, refusal: Reply) -> None:
    fake_openai.finetune_refusal = refusal

    with pytest.raises(FinetuneRefused) as caught:
        launch(options_for(fake_openai, out), Said())

    message = str(caught.value)
    assert isinstance(caught.value, QagenError)
    assert "refused to create the fine-tuning job" in message
    assert refusal.json["error"]["message"].split(" (key")[0].rstrip(".") in message  # type: ignore[index]
    assert "sk-proj-abcdefghijklmnop1234" not in message
    assert "Azure OpenAI" in message and "--base-url https://<resource>.openai.azure.com/openai/v1" in message
    assert f"qagen finetune {out} --trainer trl --base-model" in message
    assert len(fake_openai.job_creates) == 1  # a refusal is not retried


def test_after_ctrl_c_a_second_launch_follows_the_same_job_without_uploading_or_creating(
    fake_openai: FakeOpenAI, out: Path
) -> None:
    options = options_for(fake_openai, out)
    assert saved_job_id(out) is None
    with pytest.raises(KeyboardInterrupt):
        launch(options, Said(stop_at=": running"))
    (job_id,) = fake_openai.jobs
    assert saved_job_id(out) == job_id  # what the CLI names in "follow it with: qagen follow JOB_ID"
    assert fake_openai.jobs[job_id].status == "running"

    said = Said()
    outcome = launch(options, said)

    assert outcome is not None and (outcome.job_id, outcome.status) == (job_id, "succeeded")
    assert len(fake_openai.uploads) == 2 and len(fake_openai.job_creates) == 1
    assert said.containing(f"resuming: job {job_id}")
    assert len(requests_to(fake_openai, "POST", FILES)) == 2


def test_a_dataset_changed_after_upload_is_uploaded_again(fake_openai: FakeOpenAI, out: Path) -> None:
    fake_openai.finetune_refusal = error_reply(503, "The engine is currently overloaded.")
    with pytest.raises(FinetuneError, match="kept failing while creating the fine-tuning job"):
        launch(options_for(fake_openai, out, max_attempts=1), Said())
    first_train, first_valid = fake_openai.uploads
    train = out / "train.jsonl"
    train.write_text("".join(train.read_text(encoding="utf-8").splitlines(keepends=True)[1:]), encoding="utf-8")
    fake_openai.finetune_refusal = None
    said = Said()

    outcome = launch(options_for(fake_openai, out), said)

    assert outcome is not None and outcome.status == "succeeded"
    assert len(fake_openai.uploads) == 3  # train.jsonl again, valid.jsonl reused
    new_train = fake_openai.uploads[2]
    assert new_train.content == train.read_bytes()
    assert said.containing(f"train.jsonl changed since it was uploaded as {first_train.id}")
    assert said.containing(f"reusing valid.jsonl, uploaded earlier as {first_valid.id}")
    created = fake_openai.job_creates[-1]
    assert (created["training_file"], created["validation_file"]) == (new_train.id, first_valid.id)


def test_a_dataset_changed_after_its_job_was_created_is_refused(fake_openai: FakeOpenAI, out: Path) -> None:
    launch(options_for(fake_openai, out), Said())
    with open(out / "valid.jsonl", "a", encoding="utf-8") as handle:
        handle.write((out / "valid.jsonl").read_text(encoding="utf-8").splitlines()[0] + "\n")
    requests_before = len(fake_openai.requests)

    with pytest.raises(FinetuneError) as caught:
        launch(options_for(fake_openai, out), Said())

    message = str(caught.value)
    assert "earlier version of valid.jsonl" in message and str(state_path(out)) in message and "new out folder" in message
    assert len(fake_openai.requests) == requests_before  # nothing sent
    assert len(fake_openai.uploads) == 2 and len(fake_openai.job_creates) == 1


def test_a_paused_job_stops_following_and_is_followed_again_once_resumed(fake_openai: FakeOpenAI, out: Path) -> None:
    fake_openai.job_statuses = ["validating_files", "running", "paused", "running", "succeeded"]
    said = Said()

    outcome = launch(options_for(fake_openai, out), said)

    assert outcome is not None and outcome.status == "paused" and not outcome.ended
    statuses = [line.split(": ", 1)[1] for line in said.lines if line.startswith(f"job {outcome.job_id}: ")]
    assert statuses == ["validating files", "running", "paused"]
    assert said.containing(f"resume it at the service, then follow it again with: qagen follow {outcome.job_id}")

    resumed = follow(outcome.job_id, options_for(fake_openai, out), Said())  # the fake moves on at the next look

    assert (resumed.status, resumed.ended) == ("succeeded", True)


def test_events_are_paged_through_and_said_once_in_order(fake_openai: FakeOpenAI, out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(finetune, "EVENTS_PER_PAGE", 2)
    fake_openai.job_statuses = ["validating_files", "queued", "running", "running", "running", "running", "succeeded"]
    said = Said()

    outcome = launch(options_for(fake_openai, out), said)

    assert outcome is not None
    messages = [e["message"] for e in job_events(fake_openai, outcome.job_id) if e["type"] == "message"]
    positions = [said.lines.index(m) for m in messages]
    assert positions == sorted(positions) and all(said.lines.count(m) == 1 for m in messages)
    steps = [line.split(":")[0] for line in said.lines if line.startswith("step ")]
    assert steps == [f"step {n}/40" for n in (10, 20, 30, 40)]
    assert any(r.query.get("after") for r in requests_to(fake_openai, "GET", f"{JOBS}/{outcome.job_id}/events"))


def test_losses_are_read_from_messages_when_events_carry_no_data(fake_openai: FakeOpenAI, out: Path) -> None:
    real_events = next(r.handle for r in fake_openai.routes if r.pattern.match(f"{JOBS}/x/events"))

    def events_without_data(server: FakeOpenAI, request: RecordedRequest, params: dict[str, str]) -> Reply:
        reply = real_events(server, request, params)
        page = dict(reply.json)  # type: ignore[arg-type]
        page["data"] = [{k: v for k, v in event.items() if k not in ("data", "type")} for event in page["data"]]
        return Reply(json=page)

    fake_openai.add_route("GET", JOBS + "/{job_id}/events", events_without_data)
    said = Said()

    outcome = launch(options_for(fake_openai, out), said)

    assert outcome is not None
    metrics = [e["data"] for e in job_events(fake_openai, outcome.job_id) if e["type"] == "metrics"]
    # The messages carry two decimals, as the service's do.
    assert said.containing(f"step 10/20: training loss {metrics[0]['train_loss']:.2f}")
    assert (outcome.train_loss, outcome.valid_loss) == (round(metrics[-1]["train_loss"], 2), round(metrics[-1]["valid_loss"], 2))


def test_a_dry_run_sends_nothing_and_reports_tokens_and_epochs(fake_openai: FakeOpenAI, out: Path) -> None:
    said = Said()

    assert launch(options_for(fake_openai, out, dry_run=True, api_key=None), said) is None

    assert fake_openai.requests == []
    report = validate_file(out / "train.jsonl", count_tokens=counter_for("gpt-4o-mini"))
    estimate = report.estimate
    assert estimate is not None
    plan = "\n".join(said.lines)
    assert f"{report.examples:,} examples, {report.tokens.total:,} tokens" in plan  # type: ignore[union-attr]
    assert f"about {estimate.billed_tokens:,} ({estimate.n_epochs} epochs x {estimate.tokens_per_epoch:,}" in plan
    assert "gpt-4o-mini-2024-07-18" in plan

    chosen = describe_plan(preflight(options_for(fake_openai, out, n_epochs=5)), options_for(fake_openai, out, n_epochs=5))
    assert f"about {5 * estimate.tokens_per_epoch:,} (5 epochs" in chosen and "5 (--epochs)" in chosen
    assert fake_openai.requests == []


def test_preflight_refuses_too_few_examples(fake_openai: FakeOpenAI, out: Path) -> None:
    train = out / "train.jsonl"
    train.write_text("".join(train.read_text(encoding="utf-8").splitlines(keepends=True)[:5]), encoding="utf-8")

    with pytest.raises(FinetuneError, match=r"only 5 examples and fine-tuning needs at least 10"):
        launch(options_for(fake_openai, out), Said())
    assert fake_openai.requests == []


def test_preflight_names_the_line_of_a_broken_example(fake_openai: FakeOpenAI, out: Path) -> None:
    valid = out / "valid.jsonl"
    lines = valid.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[3] = '{"messages": [{"role": "user", "content": "Half a line\n'
    valid.write_text("".join(lines), encoding="utf-8")

    with pytest.raises(FinetuneError) as caught:
        launch(options_for(fake_openai, out), Said())

    message = str(caught.value)
    assert str(valid) in message and "line 4: the line is not valid JSON" in message
    assert f"qagen validate {valid}" in message
    assert fake_openai.requests == []


@pytest.mark.parametrize("missing", ["folder", "train.jsonl"])
def test_an_out_folder_without_a_dataset_says_to_run_qagen_first(tmp_path: Path, out: Path, missing: str) -> None:
    folder = tmp_path / "nowhere" if missing == "folder" else out
    if missing == "train.jsonl":
        (out / "train.jsonl").unlink()

    with pytest.raises(FinetuneError, match=rf"run qagen FOLDER -o {folder} first"):
        preflight(FinetuneSettings(out_dir=folder))


def test_a_429_during_upload_is_retried_after_retry_after(fake_openai: FakeOpenAI, out: Path) -> None:
    # Shorter than qagen's own first backoff (0.5 to 1 s), so the gap shows which one was used.
    fake_openai.inject("POST", FILES, error_reply(429, "Rate limit reached for files.", headers={"retry-after": "0.2"}))
    said = Said()

    outcome = launch(options_for(fake_openai, out), said)

    assert outcome is not None and outcome.status == "succeeded"
    posts = requests_to(fake_openai, "POST", FILES)
    assert len(posts) == 3 and len(fake_openai.uploads) == 2
    # The wait announced is the server's, not qagen's own backoff; and it was waited (load only lengthens it).
    assert said.containing("HTTP 429") and said.containing("retrying in 0.2 s")
    assert posts[1].time - posts[0].time >= 0.19


def test_files_still_processing_are_waited_for(fake_openai: FakeOpenAI, out: Path) -> None:
    fake_openai.file_statuses = ["uploaded", "uploaded", "processed"]

    outcome = launch(options_for(fake_openai, out), Said())

    assert outcome is not None and outcome.status == "succeeded"  # the fake refuses jobs on unprocessed files
    assert len(requests_to(fake_openai, "GET", f"{FILES}/{fake_openai.uploads[0].id}")) == 2


def test_a_lost_reply_to_job_creation_does_not_create_a_second_job(fake_openai: FakeOpenAI, out: Path) -> None:
    real_create = next(route.handle for route in fake_openai.routes if route.method == "POST" and route.pattern.match(JOBS))
    lost: list[Reply] = []

    def create_then_hang_up(server: FakeOpenAI, request: RecordedRequest, params: dict[str, str]) -> Reply:
        reply = real_create(server, request, params)
        if not lost:
            lost.append(reply)
            return Reply(drop=True)  # the job exists, but the client never hears of it
        return reply

    fake_openai.add_route("POST", JOBS, create_then_hang_up)

    outcome = launch(options_for(fake_openai, out), Said())

    assert outcome is not None and outcome.status == "succeeded"
    assert len(fake_openai.jobs) == 1 and outcome.job_id in fake_openai.jobs


def test_service_errors_are_one_sentence(fake_openai: FakeOpenAI, out: Path) -> None:
    with pytest.raises(ConfigError, match="needs OPENAI_API_KEY"):
        launch(FinetuneSettings(out_dir=out, poll_interval=0.02), Said())

    fake_openai.api_key = "right-key"
    with pytest.raises(ModelError, match=r"rejected the API key \(401\): check OPENAI_API_KEY"):
        launch(options_for(fake_openai, out, api_key="sk-wrong-abcdefghijklmnop"), Said())

    fake_openai.api_key = None
    fake_openai.finetune_models = ["gpt-4o-mini-2024-07-18"]
    with pytest.raises(ModelError, match=r"base model gpt-9-nano is not available for fine-tuning .*check --base-model"):
        launch(options_for(fake_openai, out, base_model="gpt-9-nano"), Said())

    with pytest.raises(FinetuneError, match="there is no fine-tuning job ftjob-nope"):
        follow("ftjob-nope", options_for(fake_openai, out), Said())


def test_follow_a_job_by_id(fake_openai: FakeOpenAI, out: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        launch(options_for(fake_openai, out), Said(stop_at="Created fine-tuning job"))
    (job_id,) = fake_openai.jobs
    said = Said()

    outcome = follow(job_id, options_for(fake_openai, out), said)

    assert outcome.status == "succeeded" and outcome.fine_tuned_model == fake_openai.jobs[job_id].fine_tuned_model
    assert said.lines.count(f"Created fine-tuning job: {job_id}") == 1
    assert said.containing("try it: ")


def test_cancel_a_job_then_follow_it_to_the_end(fake_openai: FakeOpenAI, out: Path) -> None:
    options = options_for(fake_openai, out)
    with pytest.raises(KeyboardInterrupt):
        launch(options, Said(stop_at=": queued"))
    (job_id,) = fake_openai.jobs

    cancelled = cancel(job_id, options, Said())
    said = Said()
    followed = launch(options, said)

    assert cancelled.status == "cancelled" and requests_to(fake_openai, "POST", f"{JOBS}/{job_id}/cancel")
    assert followed is not None and (followed.job_id, followed.status, followed.fine_tuned_model) == (job_id, "cancelled", None)
    assert said.containing(f"job {job_id} was cancelled; to launch a new job, delete {state_path(out)}")
    assert json.loads(state_path(out).read_text(encoding="utf-8"))["status"] == "cancelled"


def test_an_upload_that_disappeared_is_uploaded_again(fake_openai: FakeOpenAI, out: Path) -> None:
    fake_openai.finetune_refusal = error_reply(403, "Fine-tuning is not available for your organization.")
    with pytest.raises(FinetuneRefused):
        launch(options_for(fake_openai, out), Said())
    gone = fake_openai.uploads[0].id
    del fake_openai.files[gone]  # expired on the service
    fake_openai.finetune_refusal = None
    said = Said()

    outcome = launch(options_for(fake_openai, out), said)

    assert outcome is not None and outcome.status == "succeeded"
    assert said.containing(f"{gone} is gone from {fake_openai.url}; uploading train.jsonl again")
    assert [u.filename.rsplit("-", 1)[-1] for u in fake_openai.uploads] == ["train.jsonl", "valid.jsonl", "train.jsonl"]


def test_flags_and_environment_make_the_settings() -> None:
    env = {"OPENAI_API_KEY": "sk-env", "OPENAI_BASE_URL": "https://env.example/v1"}

    settings = resolve(FinetuneSettings, {"epochs": "4", "suffix": "hb", "poll_interval": "2"}, env=env, out_dir=Path("out"))

    assert settings.out_dir == Path("out") and settings.n_epochs == 4 and settings.suffix == "hb"
    assert settings.poll_interval == 2.0 and settings.api_key == "sk-env" and settings.base_url == "https://env.example/v1"
    assert settings.base_model == "gpt-4o-mini-2024-07-18" and "sk-env" not in repr(settings)
    flagged = resolve(FinetuneSettings, {"base_url": "https://flag.example/v1"}, env=env, out_dir=Path("out"))
    assert flagged.base_url == "https://flag.example/v1"
    with pytest.raises(ConfigError, match="--suffix must be 1 to 64 characters"):
        resolve(FinetuneSettings, {"suffix": "x" * 65}, env=env, out_dir=Path("out"))
    with pytest.raises(ConfigError, match="--epochs must be at least 1"):
        resolve(FinetuneSettings, {"epochs": "0"}, env=env, out_dir=Path("out"))
    with pytest.raises(ConfigError, match="poll_interval"):
        FinetuneSettings(out_dir=Path("out"), poll_interval=0)  # built directly, checked all the same
