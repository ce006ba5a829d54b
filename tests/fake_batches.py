"""The Batch API on the fake OpenAI server: batch files, batches that advance, output and error files.

``serve_batches(server)`` adds the routes to a running ``FakeOpenAI`` and returns the ``FakeBatches``
that scripts and records them:

- ``POST /v1/files`` with purpose ``batch`` refuses a file over ``max_lines`` lines or ``max_bytes``
  bytes (400), else stores it as any upload; ``GET /v1/files/{id}/content`` serves any file's bytes.
- ``POST /v1/batches`` records the body (``creates``) and starts a batch at ``validating``; each
  ``GET /v1/batches/{id}`` moves it one status along ``statuses`` (default in_progress, finalizing,
  completed; end it with expired, failed or cancelled instead). ``POST /v1/batches/{id}/cancel``
  moves it to cancelling, then cancelled.
- When a batch reaches finalizing or an end, each line is answered by the server's own chat logic
  (scripted replies, ``server.queue`` and ``server.handler``, the model list, refusals), so a test
  scripts a batch's lines as it scripts online requests. 200 replies go to the output file as
  ``{"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error": null}``; other
  statuses to the error file in the same shape; a reply that never came (dropped, truncated, not
  JSON) and the lines an expired batch did not reach to the error file with ``"response": null`` and
  ``"error": {"code", "message"}``. An expired or cancelled batch answers its first ``answered_before_end``
  lines (default: half); a failed one answers none and has ``errors``.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field

from fake_openai import (
    CHAT_PATH,
    FILES_PATH,
    FakeFile,
    FakeOpenAI,
    RecordedRequest,
    Reply,
    _file_not_found,
    _multipart_fields,
    _upload_file,
    error_reply,
)

BATCHES_PATH = "/v1/batches"
DEFAULT_STATUSES = ("in_progress", "finalizing", "completed")
ENDS = frozenset({"completed", "expired", "failed", "cancelled"})


@dataclass
class FakeBatch:
    id: str
    request: dict
    input_file: FakeFile
    created_at: int
    status: str = "validating"
    statuses_to_come: list[str] = field(default_factory=list)
    output_file_id: str | None = None
    error_file_id: str | None = None
    counts: dict = field(default_factory=lambda: {"total": 0, "completed": 0, "failed": 0})
    errors: dict | None = None
    answered: bool = False
    lines: list[dict] = field(default_factory=list)  # every input line, as sent

    def as_json(self) -> dict:
        return {
            "id": self.id, "object": "batch", "endpoint": self.request.get("endpoint"), "errors": self.errors,
            "input_file_id": self.input_file.id, "completion_window": self.request.get("completion_window"),
            "status": self.status, "output_file_id": self.output_file_id, "error_file_id": self.error_file_id,
            "created_at": self.created_at, "in_progress_at": None, "expires_at": self.created_at + 86400,
            "finalizing_at": None, "completed_at": None, "failed_at": None, "expired_at": None, "cancelling_at": None,
            "cancelled_at": None, "request_counts": dict(self.counts), "metadata": self.request.get("metadata"),
        }


class FakeBatches:
    def __init__(self, server: FakeOpenAI) -> None:
        self.server = server
        self.statuses: list[str] = list(DEFAULT_STATUSES)  # read when a batch is created
        self.max_lines = 50_000
        self.max_bytes = 200 * 1024 * 1024
        self.answered_before_end: int | None = None  # lines an expired or cancelled batch answers; None: half
        self.batches: dict[str, FakeBatch] = {}
        self.creates: list[dict] = []  # every creation body
        self.refused_uploads = 0
        self._ids = itertools.count(1)
        self._line_ids = itertools.count(1)

    @property
    def batch_uploads(self) -> list[FakeFile]:
        return [f for f in self.server.uploads if f.purpose == "batch"]

    # ----- routes (handler threads)

    def upload(self, server: FakeOpenAI, request: RecordedRequest, params: dict[str, str]) -> Reply:
        fields = _multipart_fields(request)
        if fields.get("purpose", (None, b""))[1] == b"batch":
            content = fields.get("file", (None, b""))[1]
            lines = [line for line in content.split(b"\n") if line.strip()]
            if len(lines) > self.max_lines or len(content) > self.max_bytes:
                self.refused_uploads += 1
                return error_reply(400, f"A batch file may hold {self.max_lines} requests and {self.max_bytes} bytes; "
                                        f"this one has {len(lines)} and {len(content)}.", param="file")
        return _upload_file(server, request, params)

    def content(self, server: FakeOpenAI, request: RecordedRequest, params: dict[str, str]) -> Reply:
        with server._lock:
            upload = server.files.get(params["file_id"])
        if upload is None:
            return _file_not_found(params["file_id"])
        return Reply(body=upload.content, headers={"Content-Type": "application/octet-stream"})

    def create(self, server: FakeOpenAI, request: RecordedRequest, params: dict[str, str]) -> Reply:
        body = request.json if isinstance(request.json, dict) else {}
        with server._lock:
            self.creates.append(body)
            upload = server.files.get(body.get("input_file_id"))
        if upload is None or upload.purpose != "batch":
            return error_reply(400, f"invalid input_file_id: {body.get('input_file_id')}", param="input_file_id")
        if body.get("endpoint") != CHAT_PATH or body.get("completion_window") != "24h":
            return error_reply(400, "endpoint must be /v1/chat/completions and completion_window 24h", param="endpoint")
        lines = [json.loads(line) for line in upload.content.decode("utf-8").split("\n") if line.strip()]
        batch = FakeBatch(id=f"batch_fake{next(self._ids)}", request=body, input_file=upload, created_at=int(time.time()),
                          statuses_to_come=list(self.statuses), lines=lines)
        batch.counts["total"] = len(lines)
        with server._lock:
            self.batches[batch.id] = batch
        return Reply(json=batch.as_json())

    def retrieve(self, server: FakeOpenAI, request: RecordedRequest, params: dict[str, str]) -> Reply:
        batch = self.batches.get(params["batch_id"])
        if batch is None:
            return error_reply(404, f"No batch found with id '{params['batch_id']}'.", param="batch_id")
        if batch.status not in ENDS and batch.statuses_to_come:
            batch.status = batch.statuses_to_come.pop(0)
        if batch.status in ENDS | {"finalizing"} and not batch.answered:
            self._answer(batch)
        return Reply(json=batch.as_json())

    def cancel(self, server: FakeOpenAI, request: RecordedRequest, params: dict[str, str]) -> Reply:
        batch = self.batches.get(params["batch_id"])
        if batch is None:
            return error_reply(404, f"No batch found with id '{params['batch_id']}'.", param="batch_id")
        if batch.status not in ENDS:
            batch.status, batch.statuses_to_come = "cancelling", ["cancelled"]
        return Reply(json=batch.as_json())

    # ----- answering

    def _answer(self, batch: FakeBatch) -> None:
        batch.answered = True
        if batch.status == "failed":
            batch.errors = {"object": "list", "data": [{"code": "invalid_request", "message": "The batch could not be run.",
                                                         "param": None, "line": None}]}
            return
        reached = len(batch.lines)
        if batch.status in ("expired", "cancelled"):
            reached = len(batch.lines) // 2 if self.answered_before_end is None else self.answered_before_end
        output, errors = [], []
        for number, line in enumerate(batch.lines):
            line_id = f"batch_req_fake{next(self._line_ids)}"
            if number >= reached:
                if batch.status == "expired":
                    errors.append({"id": line_id, "custom_id": line["custom_id"], "response": None,
                                   "error": {"code": "batch_expired", "message": "This request could not be executed before the completion window expired."}})
                continue
            reply = self.server._serve_chat(RecordedRequest(method="POST", path=CHAT_PATH, headers={}, json=line["body"],
                                                            time=time.monotonic(), body=json.dumps(line["body"]).encode()))
            parsed = None
            if not (reply.drop or reply.truncate):
                try:
                    parsed = json.loads(reply.encoded_body())
                except ValueError:
                    parsed = None
            if parsed is None:
                errors.append({"id": line_id, "custom_id": line["custom_id"], "response": None,
                               "error": {"code": "server_error", "message": "The server had an error while processing the request."}})
                continue
            entry = {"id": line_id, "custom_id": line["custom_id"],
                     "response": {"status_code": reply.status, "request_id": f"req_fake{line_id}", "body": parsed}, "error": None}
            (output if reply.status == 200 else errors).append(entry)
        batch.counts.update(completed=len(output), failed=len(errors))
        batch.output_file_id = self._file(output, "batch_output") if output else None
        batch.error_file_id = self._file(errors, "batch_output") if errors else None

    def _file(self, lines: list[dict], purpose: str) -> str:
        server = self.server
        with server._lock:
            made = FakeFile(id=f"file-fake{next(server._file_ids)}", filename="batch_output.jsonl", purpose=purpose,
                            content="".join(json.dumps(line) + "\n" for line in lines).encode("utf-8"),
                            created_at=int(time.time()), status="processed")
            server.files[made.id] = made
        return made.id


def serve_batches(server: FakeOpenAI) -> FakeBatches:
    batches = FakeBatches(server)
    server.add_route("POST", FILES_PATH, batches.upload)
    server.add_route("GET", FILES_PATH + "/{file_id}/content", batches.content)
    server.add_route("POST", BATCHES_PATH, batches.create)
    server.add_route("GET", BATCHES_PATH + "/{batch_id}", batches.retrieve)
    server.add_route("POST", BATCHES_PATH + "/{batch_id}/cancel", batches.cancel)
    return batches
