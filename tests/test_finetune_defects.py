"""Defects of fine-tuning and evaluation, each pinned against the fake server with the real SDK.

9: ``qagen eval`` reused answers of a model retrained in place or re-served under the same name.
15: ``--finetune`` without a key was refused only after the whole generation had run.
21: two launches at once, a lost create reply, or a timed-out upload made two jobs or many files.
26: a job in a status qagen does not know (``expired``, ``paused``) was followed forever.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import pytest

from fake_openai import FakeOpenAI, RecordedRequest, Reply, chat_reply
from helpers import CORPUS, read_jsonl
import qagen.finetune.service as service
from qagen.cli import main
from qagen.finetune.errors import FinetuneError
from qagen.finetune.jobs import launch
from qagen.finetune.state import state_path
from qagen.outfolder.lock import FolderInUse, FolderLock
from qagen.options import DEFAULT_REFUSALS
from qagen.settings import FinetuneSettings

FILES = "/v1/files"
JOBS = "/v1/fine_tuning/jobs"


@pytest.fixture(scope="module")
def built_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("built") / "defects-out"
    assert main([str(CORPUS), "-o", str(out), "-q", "--model", "offline", "--valid-fraction", "0.3"]) == 0
    return out


@pytest.fixture
def out(built_dataset: Path, tmp_path: Path) -> Path:
    copy = tmp_path / built_dataset.name
    shutil.copytree(built_dataset, copy)
    return copy


def options_for(server: FakeOpenAI, out: Path, **overrides: object) -> FinetuneSettings:
    values: dict = {"out_dir": out, "base_url": server.url, "api_key": "test-key", "poll_interval": 0.01, "timeout": 5.0}
    values.update(overrides)
    return FinetuneSettings(**values)


def route(server: FakeOpenAI, method: str, path: str):
    """The fake's own handler of ``method path``, for a test route to wrap."""
    return next(r.handle for r in server.routes if r.method == method and r.pattern.match(path))


def ours(server: FakeOpenAI) -> list:
    """Jobs qagen created (a test creates others, with no metadata, as another user of the same files would)."""
    return [job for job in server.jobs.values() if (job.request.get("metadata") or {}).get("qagen_launch")]


# --------------------------------------------------------------------------- 21: one launch, one upload per file, one job


def test_two_launches_at_once_make_one_job_and_the_second_names_the_first(fake_openai: FakeOpenAI, out: Path) -> None:
    uploading, go_on = threading.Event(), threading.Event()
    upload = route(fake_openai, "POST", FILES)

    def held_upload(server: FakeOpenAI, request: RecordedRequest, params: dict[str, str]) -> Reply:
        uploading.set()
        go_on.wait(10)
        return upload(server, request, params)

    fake_openai.add_route("POST", FILES, held_upload)
    first: dict = {}
    thread = threading.Thread(target=lambda: first.update(outcome=launch(options_for(fake_openai, out), lambda line: None)))
    thread.start()
    try:
        assert uploading.wait(10)
        with pytest.raises(FolderInUse) as caught:
            launch(options_for(fake_openai, out), lambda line: None)
    finally:
        go_on.set()
        thread.join(10)

    message = str(caught.value)
    assert f"process {os.getpid()}" in message and str(out) in message
    assert first["outcome"].status == "succeeded"
    assert len(fake_openai.uploads) == 2 and len(fake_openai.job_creates) == 1


def test_the_lock_is_free_again_after_a_launch(fake_openai: FakeOpenAI, out: Path) -> None:
    launch(options_for(fake_openai, out), lambda line: None)
    FolderLock(out).acquire().release()  # would raise FolderInUse if the launch had kept it


def lose_the_first_create_reply(server: FakeOpenAI, *, others: int = 0) -> None:
    """The job is created but the client never hears of it; meanwhile ``others`` jobs are created by someone else."""
    create = route(server, "POST", JOBS)
    lost: list[Reply] = []

    def create_then_hang_up(fake: FakeOpenAI, request: RecordedRequest, params: dict[str, str]) -> Reply:
        reply = create(fake, request, params)
        if lost:
            return reply
        lost.append(reply)
        body = dict(request.json)  # type: ignore[arg-type]
        for n in range(others):
            someone = {k: v for k, v in body.items() if k != "metadata"} | {"suffix": f"other{n}"}
            create(fake, RecordedRequest("POST", JOBS, {}, someone, 0.0), {})
        return Reply(drop=True)

    server.add_route("POST", JOBS, create_then_hang_up)


def test_a_lost_create_reply_finds_the_job_when_more_than_20_were_created_meanwhile(
    fake_openai: FakeOpenAI, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "LIST_PAGE_SIZE", 10)  # the job is on the third page of the listing
    lose_the_first_create_reply(fake_openai, others=25)

    outcome = launch(options_for(fake_openai, out), lambda line: None)

    (job,) = ours(fake_openai)
    assert job.request.get("suffix") is None  # ours, not one of the 25
    assert outcome is not None and outcome.job_id == job.id and outcome.status == "succeeded"
    assert len(fake_openai.jobs) == 26
    listed = [r for r in fake_openai.requests if (r.method, r.path) == ("GET", JOBS)]
    assert len(listed) == 3 and listed[-1].query.get("after")


def test_a_lost_create_reply_on_a_service_that_lists_jobs_without_metadata(fake_openai: FakeOpenAI, out: Path) -> None:
    lose_the_first_create_reply(fake_openai, others=3)
    listing = route(fake_openai, "GET", JOBS)

    def without_metadata(server: FakeOpenAI, request: RecordedRequest, params: dict[str, str]) -> Reply:
        page = dict(listing(server, request, params).json)  # type: ignore[arg-type]
        page["data"] = [{k: v for k, v in job.items() if k != "metadata"} for job in page["data"]]
        return Reply(json=page)

    fake_openai.add_route("GET", JOBS, without_metadata)

    outcome = launch(options_for(fake_openai, out, suffix="mine"), lambda line: None)

    (job,) = ours(fake_openai)
    assert job.request["suffix"] == "mine"
    assert outcome is not None and outcome.job_id == job.id
    assert len(fake_openai.jobs) == 4


def test_a_rerun_after_a_crash_during_creation_searches_instead_of_creating(fake_openai: FakeOpenAI, out: Path) -> None:
    lose_the_first_create_reply(fake_openai, others=21)
    with pytest.raises(FinetuneError, match="kept failing while creating"):
        launch(options_for(fake_openai, out, max_attempts=1), lambda line: None)
    assert "job_id" not in json.loads(state_path(out).read_text(encoding="utf-8"))

    outcome = launch(options_for(fake_openai, out), lambda line: None)

    (job,) = ours(fake_openai)
    assert outcome is not None and outcome.job_id == job.id
    assert len(fake_openai.job_creates) == 22


def store_then_time_out(server: FakeOpenAI, *, times: int = 1) -> list[str]:
    """The first ``times`` uploads are stored, but their replies come after the client gave up."""
    upload = route(server, "POST", FILES)
    timed_out: list[str] = []

    def slow_reply(fake: FakeOpenAI, request: RecordedRequest, params: dict[str, str]) -> Reply:
        reply = upload(fake, request, params)
        if len(timed_out) < times:
            timed_out.append(reply.json["id"])  # type: ignore[index]
            return Reply(json=reply.json, delay=60)  # answered when the server stops
        return reply

    server.add_route("POST", FILES, slow_reply)
    return timed_out


def test_a_timed_out_upload_that_was_stored_is_not_uploaded_again(fake_openai: FakeOpenAI, out: Path) -> None:
    timed_out = store_then_time_out(fake_openai)
    lines: list[str] = []

    outcome = launch(options_for(fake_openai, out, timeout=0.5), lines.append)

    assert outcome is not None and outcome.status == "succeeded"
    train, valid = fake_openai.uploads
    assert train.content == (out / "train.jsonl").read_bytes() and valid.content == (out / "valid.jsonl").read_bytes()
    (job,) = fake_openai.jobs.values()
    assert job.request["training_file"] == timed_out[0] == train.id
    assert any(timed_out[0] in line and "found" in line for line in lines)


def test_a_rerun_after_a_crash_during_upload_finds_the_stored_file(fake_openai: FakeOpenAI, out: Path) -> None:
    store_then_time_out(fake_openai)
    with pytest.raises(FinetuneError, match="kept failing while uploading train.jsonl"):
        launch(options_for(fake_openai, out, timeout=0.5, max_attempts=1), lambda line: None)
    assert len(fake_openai.uploads) == 1

    outcome = launch(options_for(fake_openai, out), lambda line: None)

    assert outcome is not None and outcome.status == "succeeded"
    assert len(fake_openai.uploads) == 2 and len(fake_openai.jobs) == 1


def test_an_upload_of_other_bytes_under_the_same_name_is_not_taken_for_ours(fake_openai: FakeOpenAI, out: Path) -> None:
    store_then_time_out(fake_openai)
    with pytest.raises(FinetuneError):
        launch(options_for(fake_openai, out, timeout=0.5, max_attempts=1), lambda line: None)
    fake_openai.uploads[0].content += b"\n"  # the stored copy is not what train.jsonl holds

    launch(options_for(fake_openai, out), lambda line: None)

    (job,) = fake_openai.jobs.values()
    assert job.training_file.content == (out / "train.jsonl").read_bytes()
    assert len(fake_openai.uploads) == 3


# --------------------------------------------------------------------------- 26: statuses qagen cannot wait out


@pytest.mark.parametrize("status", ["expired", "paused"])
def test_a_job_in_a_status_qagen_cannot_wait_out_stops_following(
    fake_openai: FakeOpenAI, out: Path, capsys, monkeypatch: pytest.MonkeyPatch, status: str
) -> None:
    # Before the fix the job was followed until it moved on (here, after twenty more looks).
    fake_openai.job_statuses = ["validating_files", "running", status, *[status] * 20, "succeeded"]
    settings = ["--base-url", fake_openai.url, "--poll-interval", "0.01"]
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")

    code = main(["finetune", str(out), *settings])
    (job_id,) = fake_openai.jobs
    err = capsys.readouterr().err
    again = main(["follow", job_id, *settings])

    assert code == again == 6
    assert fake_openai.jobs[job_id].status == status
    assert f"job {job_id} is {status}" in err and "stopped following" in err and f"qagen follow {job_id}" in err
    assert json.loads(state_path(out).read_text(encoding="utf-8"))["status"] == status


# --------------------------------------------------------------------------- 15: --finetune checks before spending


def test_finetune_without_a_key_is_refused_before_any_generation(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"

    code = main([str(CORPUS), "-o", str(out), "-q", "--finetune"])

    err = capsys.readouterr().err
    assert code == 2 and err.count("error: ") == 1 and "OPENAI_API_KEY" in err
    assert not (out / "pairs.jsonl").exists()


def test_finetune_with_no_key_for_the_fake_service_makes_no_chat_request(fake_openai: FakeOpenAI, tmp_path: Path, capsys) -> None:
    fake_openai.api_key = "the-right-key"

    code = main([str(CORPUS), "-o", str(tmp_path / "out"), "-q", "--base-url", fake_openai.url, "--model", "m", "--finetune"])

    err = capsys.readouterr().err
    assert code == 1 and "requires an API key (401): set OPENAI_API_KEY" in err and "Traceback" not in err
    assert fake_openai.chat_requests() == []


def test_finetune_at_an_endpoint_without_a_jobs_api_is_refused_before_generation(fake_openai: FakeOpenAI, tmp_path: Path, capsys) -> None:
    fake_openai.routes = [r for r in fake_openai.routes if "fine_tuning" not in r.pattern.pattern]

    code = main([str(CORPUS), "-o", str(tmp_path / "out"), "-q", "--base-url", fake_openai.url, "--model", "m", "--finetune"])

    err = capsys.readouterr().err
    assert code == 1 and "fine-tuning" in err and "404" in err
    assert fake_openai.chat_requests() == []


def test_finetune_of_a_chat_model_on_completion_data_is_refused_before_generation(fake_openai: FakeOpenAI, tmp_path: Path, capsys) -> None:
    code = main([str(CORPUS), "-o", str(tmp_path / "out"), "-q", "--base-url", fake_openai.url, "--model", "m",
                 "--format", "completion", "--finetune"])

    assert code == 1 and "davinci-002" in capsys.readouterr().err
    assert fake_openai.chat_requests() == []


def test_finetune_with_everything_in_place_checks_first_then_generates_and_launches(
    fake_openai: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    fake_openai.job_statuses = ["succeeded"]  # done at the first look: the main command polls every 10 s

    code = main([str(CORPUS), "-o", str(tmp_path / "out"), "-q", "--base-url", fake_openai.url, "--model", "m", "--finetune"])

    assert code == 0 and len(fake_openai.jobs) == 1
    first = fake_openai.requests[0]
    assert (first.method, first.path, first.query.get("limit")) == ("GET", JOBS, ["1"])
    assert fake_openai.chat_requests()


# --------------------------------------------------------------------------- 9: eval answers belong to one model identity


def eval_args(server: FakeOpenAI, out: Path, *extra: str) -> list[str]:
    return ["eval", str(out), "--model", "house-model", "--base-url", server.url, *extra]


def answers_of(out: Path) -> dict[str, str]:
    return {p["question"]: p["answer"] for p in read_jsonl(out / "pairs.jsonl")}


def summary(out: Path) -> dict:
    return json.loads((out / "eval" / "house-model.json").read_text(encoding="utf-8"))


def test_a_model_re_served_under_the_same_name_is_asked_again(fake_openai: FakeOpenAI, out: Path, capsys) -> None:
    fake_openai.handler = lambda request: chat_reply("Blue, probably.")
    assert main(eval_args(fake_openai, out)) == 0
    assert summary(out)["accuracy"] == 0.0
    asked = len(fake_openai.chat_requests())

    # Retrained and served again under the same name: the endpoint says it was made later.
    def retrained(server: FakeOpenAI, request: RecordedRequest, params: dict[str, str]) -> Reply:
        return Reply(json={"id": params["model"], "object": "model", "created": 1700009999, "owned_by": "me"})

    fake_openai.add_route("GET", "/v1/models/{model}", retrained)
    answers = answers_of(out)
    fake_openai.handler = lambda request: chat_reply(answers[request.last_user_text])
    capsys.readouterr()

    assert main(eval_args(fake_openai, out)) == 0

    assert summary(out)["accuracy"] == 1.0
    assert len(fake_openai.chat_requests()) == 2 * asked
    changed = [line for line in capsys.readouterr().err.splitlines() if "not reused" in line]
    assert len(changed) == 1 and "house-model" in changed[0]


def test_the_same_model_reuses_its_answers_and_fresh_asks_again(fake_openai: FakeOpenAI, out: Path, capsys) -> None:
    answers = answers_of(out)
    fake_openai.handler = lambda request: chat_reply(answers[request.last_user_text])
    assert main(eval_args(fake_openai, out)) == 0
    asked = len(fake_openai.chat_requests())

    assert main(eval_args(fake_openai, out)) == 0
    assert len(fake_openai.chat_requests()) == asked  # nothing changed: every answer reused

    fake_openai.handler = lambda request: chat_reply(DEFAULT_REFUSALS[0])
    capsys.readouterr()
    assert main(eval_args(fake_openai, out, "--fresh")) == 0
    assert len(fake_openai.chat_requests()) == 2 * asked
    assert summary(out)["accuracy"] == 0.0
    assert "--fresh" in capsys.readouterr().err


def test_a_listing_time_is_not_taken_for_the_models_identity(fake_openai: FakeOpenAI, out: Path) -> None:
    # Some servers (vLLM, llama.cpp) stamp a model with the time of the request: that is no identity.
    # Each listing here is a second later than the one before, as two runs a while apart would see.
    import time

    listings = iter(range(100))

    def stamped_now(server: FakeOpenAI, request: RecordedRequest, params: dict[str, str]) -> Reply:
        created = int(time.time()) + next(listings)
        return Reply(json={"id": params["model"], "object": "model", "created": created, "owned_by": "vllm"})

    fake_openai.add_route("GET", "/v1/models/{model}", stamped_now)
    fake_openai.handler = lambda request: chat_reply("Blue.")
    assert main(eval_args(fake_openai, out)) == 0
    asked = len(fake_openai.chat_requests())
    assert main(eval_args(fake_openai, out)) == 0
    assert len(fake_openai.chat_requests()) == asked


def test_an_adapter_retrained_in_place_is_asked_again(out: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    adapter = out / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text('{"r": 8}', encoding="utf-8")
    (adapter / "adapter_model.safetensors").write_bytes(b"first weights")
    answers = answers_of(out)
    asked: list[str] = []

    class Adapter:
        """Stands in for the trained LoRA (loading one needs the train extra): it answers as its weights say."""

        def __init__(self, adapter_dir: Path, base_model: str | None = None) -> None:
            self.name, self.base_model, self.dir = f"lora:{adapter_dir}", base_model or "tiny", Path(adapter_dir)

        async def complete(self, request):
            from qagen.records import Completion

            question = request.messages[-1].content
            asked.append(question)
            good = (self.dir / "adapter_model.safetensors").read_bytes() == b"better weights"
            return Completion(answers[question] if good else "Blue.", "stop", 10, 2)

        async def aclose(self) -> None:
            pass

    import qagen.finetune.trainer as trainer

    monkeypatch.setattr(trainer, "LocalModel", Adapter)
    assert main(["eval", str(out), "--adapter", str(adapter)]) == 0
    first = len(asked)
    (adapter / "training_log.jsonl").write_text("{}\n", encoding="utf-8")  # a log is not the model
    assert main(["eval", str(out), "--adapter", str(adapter)]) == 0
    assert len(asked) == first

    (adapter / "adapter_model.safetensors").write_bytes(b"better weights")  # retrained in place
    capsys.readouterr()
    assert main(["eval", str(out), "--adapter", str(adapter)]) == 0

    assert len(asked) == 2 * first
    report = json.loads(next((out / "eval").glob("lora_*.json")).read_text(encoding="utf-8"))
    assert report["accuracy"] == 1.0
    assert "not reused" in capsys.readouterr().err



def test_a_server_that_tells_nothing_of_its_models_matches_by_name_and_says_so(fake_openai: FakeOpenAI, out: Path, capsys) -> None:
    fake_openai.routes = [r for r in fake_openai.routes if "models" not in r.pattern.pattern]  # no /models at all
    fake_openai.handler = lambda request: chat_reply("Blue.")
    assert main(eval_args(fake_openai, out)) == 0
    asked = len(fake_openai.chat_requests())
    capsys.readouterr()

    assert main(eval_args(fake_openai, out)) == 0

    assert len(fake_openai.chat_requests()) == asked
    (reused,) = [line for line in capsys.readouterr().err.splitlines() if "answers reused" in line]
    assert "matched by the name alone" in reused and "--fresh" in reused
    assert set(summary(out)["model_identity"]) == {"digest"}


def test_answers_saved_before_identities_were_noted_are_asked_again(fake_openai: FakeOpenAI, out: Path, capsys) -> None:
    from qagen.evaluate.runner import answer_request, load_eval_items
    from qagen.outfolder import OutFolder
    from qagen.outfolder.journal import JournalEntry
    from qagen.records import Completion

    folder = OutFolder(out / "eval")
    folder.state.mkdir(parents=True)
    with folder.open_journal() as journal:  # as an earlier qagen wrote them: keyed by the name alone
        for item in load_eval_items(out):
            journal.append(JournalEntry(answer_request(item, "house-model").key, Completion("Blue.", "stop", 10, 1)))
    answers = answers_of(out)
    fake_openai.handler = lambda request: chat_reply(answers[request.last_user_text])

    assert main(eval_args(fake_openai, out)) == 0

    assert summary(out)["accuracy"] == 1.0 and len(fake_openai.chat_requests()) == len(load_eval_items(out))
    assert "were saved before qagen noted which model gave them: not reused" in capsys.readouterr().err
