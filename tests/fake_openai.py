"""A scripted OpenAI-compatible HTTP server for qagen's tests and benchmarks.

It is a real server on 127.0.0.1 (stdlib ``http.server``, one thread per
connection, HTTP/1.1 keep-alive), so the official ``openai`` SDK talks to it
exactly as it would talk to a live endpoint: same sockets, same headers, same
error mapping, same retries. Tests script it per request and inject faults
(error statuses with headers, slow, trickled, malformed, truncated or dropped replies).
Like the real service, it refuses ``max_tokens``, ``top_p`` and a temperature other than 1
for OpenAI's reasoning models (o1, o3, o4-mini, gpt-5...). ``response_formats`` says which
``response_format`` types it takes (others get a 400 naming the parameter, as LM Studio answers
``json_object``), and ``honour_response_format`` makes the default reply one JSON object
``{"pairs": [...]}`` when a request asks for JSON, as a server enforcing the schema would.

Deliberately free of pytest: ``benchmarks/`` imports it by adding ``tests/``
to ``sys.path``.

Adding an endpoint (files, fine-tuning jobs, batches) means writing one
function ``(server, request, params) -> Reply`` and adding one line to
``ROUTES``; a single test can also call ``server.add_route(...)``, and
``server.inject(method, path, *replies)`` puts faults in front of any route.

Files and fine-tuning jobs are a small in-memory service: uploads are kept
(``server.uploads``), every job creation is recorded (``server.job_creates``),
and a job advances one scripted status per retrieve (``server.job_statuses``),
adding events as the real service does (newest first when listed).
The Batch API (batch files, batches that advance, output and error files) is in
``fake_batches.serve_batches(server)``.
"""

from __future__ import annotations

import collections
import dataclasses
import email.parser
import email.policy
import itertools
import json as jsonlib
import re
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Union
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "FakeFile",
    "FakeJob",
    "FakeOpenAI",
    "RecordedRequest",
    "Reply",
    "Route",
    "ROUTES",
    "chat_reply",
    "error_reply",
    "grounded_pairs_reply",
]

CHAT_PATH = "/v1/chat/completions"


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Reply:
    """What the server answers to one request, faults included."""

    status: int = 200
    json: object | None = None  # serialised as the JSON body
    body: bytes | None = None  # raw body instead of json (e.g. malformed JSON)
    headers: dict[str, str] = field(default_factory=dict, hash=False)
    delay: float = 0.0  # seconds to wait before answering (added to the server latency for chat)
    truncate: bool = False  # announce the full Content-Length, send half the body, close the socket
    drop: bool = False  # close the connection without sending anything
    trickle: float = 0.0  # seconds over which the body is sent in small pieces (each read is quick, the reply is not)

    def encoded_body(self) -> bytes:
        if self.body is not None:
            return self.body
        if self.json is None:
            return b""
        return jsonlib.dumps(self.json).encode("utf-8")


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str  # without the query string
    headers: dict[str, str]  # lower-case names
    json: object | None  # the parsed body, None when the body is empty or not JSON
    time: float  # time.monotonic() when the body had been read
    body: bytes = b""  # the raw body (multipart uploads, malformed JSON, ...)
    query: dict[str, list[str]] = field(default_factory=dict)

    @property
    def model(self) -> str | None:
        if isinstance(self.json, dict):
            model = self.json.get("model")
            return model if isinstance(model, str) else None
        return None

    @property
    def messages(self) -> list[dict]:
        if isinstance(self.json, dict) and isinstance(self.json.get("messages"), list):
            return [m for m in self.json["messages"] if isinstance(m, dict)]
        return []

    @property
    def last_user_text(self) -> str:
        """Text of the last user message ("" when there is none)."""
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return _content_text(message.get("content"))
        return ""


ReplySource = Union[Reply, Callable[[RecordedRequest], Reply]]
RouteHandler = Callable[["FakeOpenAI", RecordedRequest, "dict[str, str]"], Reply]


def _content_text(content: object) -> str:
    # Content is either a string or a list of typed parts; only text parts carry text.
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


# --------------------------------------------------------------------------- reply builders

_completion_ids = itertools.count(1)


def rough_tokens(text: str) -> int:
    """About four characters per token: enough for usage numbers, not a tokenizer."""
    return max(1, len(text) // 4) if text else 0


def chat_reply(
    content: str,
    *,
    finish_reason: str = "stop",
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
    model: str | None = None,
    headers: dict[str, str] | None = None,
    delay: float = 0.0,
) -> Reply:
    """A valid ``chat.completion`` reply.

    ``model=None`` and ``prompt_tokens=None`` are filled in from the request when the chat
    route serves the reply (the requested model is echoed, prompt tokens are estimated).
    ``completion_tokens=None`` is estimated from ``content``.
    """
    if completion_tokens is None:
        completion_tokens = rough_tokens(content)
    body = {
        "id": f"chatcmpl-fake{next(_completion_ids)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": None,
        },
    }
    return Reply(json=body, headers=dict(headers or {}), delay=delay)


def _default_error_type(status: int) -> str:
    if status == 429:
        return "requests"
    if status >= 500:
        return "server_error"
    return "invalid_request_error"


def error_reply(
    status: int,
    message: str,
    *,
    type: str | None = None,  # noqa: A002 - the field is called "type" in OpenAI's error body
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
    delay: float = 0.0,
) -> Reply:
    """An error in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``."""
    body = {
        "error": {
            "message": message,
            "type": type if type is not None else _default_error_type(status),
            "param": param,
            "code": code,
        }
    }
    return Reply(status=status, json=body, headers=dict(headers or {}), delay=delay)


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
# A passage set apart inside a prompt: a fenced block, triple double quotes, or <tag>...</tag>.
_DELIMITED = re.compile(r"```[^\n]*\n(.*?)```|\"\"\"(.*?)\"\"\"|<([A-Za-z_][\w-]*)>(.*?)</\3>", re.S)


def passage_sentences(prompt: str) -> list[str]:
    """Sentences of the passage inside a prompt, verbatim (so each is a substring of it).

    When the prompt sets a passage apart (fenced block, triple quotes, <tag>...</tag>),
    only the longest such block is used, so the instructions around it are not quoted.
    """
    blocks = [
        next(g for g in (m.group(1), m.group(2), m.group(4)) if g is not None)
        for m in _DELIMITED.finditer(prompt)
    ]
    passage = max(blocks, key=len) if blocks else prompt
    sentences = [s.strip() for s in _SENTENCE_END.split(passage)]
    return [s for s in sentences if len(s.split()) >= 3]


def grounded_pairs_reply(request: RecordedRequest, pairs: int) -> Reply:
    """Up to ``pairs`` JSON lines ``{"question", "answer"}``, each answer a sentence of the prompt."""
    lines = []
    for sentence in passage_sentences(request.last_user_text)[:pairs]:
        topic = " ".join(sentence.split()[:6]).rstrip(".,;:!?")
        question = f"What does the passage say about {topic}?"
        lines.append(jsonlib.dumps({"question": question, "answer": sentence}, ensure_ascii=False))
    return chat_reply("\n".join(lines))


def judge_reply(request: RecordedRequest, rate: Callable[[dict], dict]) -> Reply | None:
    """The judge's reply, a line from ``rate(item)`` (``{"id", "score", "reason", ...}``) per pair it was shown; None for other requests."""
    if not request.messages[0]["content"].startswith("You check question and answer pairs"):
        return None
    items = [jsonlib.loads(line) for line in request.last_user_text.splitlines() if line.startswith('{"id"')]
    return chat_reply("\n".join(jsonlib.dumps(rate(item)) for item in items))


# --------------------------------------------------------------------------- routes


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handle: RouteHandler

    @classmethod
    def of(cls, method: str, template: str, handle: RouteHandler) -> Route:
        """``template`` is a path such as ``/v1/models/{model}``; each ``{name}`` matches one segment."""
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
        return cls(method.upper(), re.compile(f"^{regex}$"), handle)


def _chat_completions(server: FakeOpenAI, request: RecordedRequest, params: dict[str, str]) -> Reply:
    return server._serve_chat(request)


def _model_object(model_id: str) -> dict:
    return {"id": model_id, "object": "model", "created": 1700000000, "owned_by": "qagen-fake"}


def _model_not_found(model_id: str) -> Reply:
    return error_reply(
        404,
        f"The model `{model_id}` does not exist or you do not have access to it.",
        code="model_not_found",
    )


def _list_models(server: FakeOpenAI, request: RecordedRequest, params: dict[str, str]) -> Reply:
    return Reply(json={"object": "list", "data": [_model_object(m) for m in server.models]})


def _retrieve_model(server: FakeOpenAI, request: RecordedRequest, params: dict[str, str]) -> Reply:
    model_id = params["model"]
    # With no model list configured every model exists, as for chat requests.
    if server.models and model_id not in server.models:
        return _model_not_found(model_id)
    return Reply(json=_model_object(model_id))


# --------------------------------------------------------------------------- files and fine-tuning jobs

FILES_PATH = "/v1/files"
JOBS_PATH = "/v1/fine_tuning/jobs"
JOB_TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
DEFAULT_JOB_STATUSES = ("validating_files", "queued", "running", "running", "succeeded")
DEFAULT_JOB_ERROR = {
    "code": "invalid_training_file",
    "message": "The job failed due to an invalid training file.",
    "param": "training_file",
}
STEPS_PER_RUNNING_RETRIEVE = 10  # training steps a job makes between two retrieves while running


@dataclass
class FakeFile:
    """An uploaded file; each retrieve moves it to the next of ``statuses_to_come``."""

    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int
    status: str
    statuses_to_come: list[str] = field(default_factory=list)
    status_details: str | None = None

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.content),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": self.status,
            "status_details": self.status_details if self.status == "error" else None,
        }


@dataclass
class FakeJob:
    """A fine-tuning job; each retrieve moves it to the next of ``statuses_to_come``."""

    id: str
    request: dict  # the creation body as received
    created_at: int
    training_file: FakeFile
    status: str = "validating_files"
    statuses_to_come: list[str] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)  # oldest first; listed newest first
    error_when_failed: dict = field(default_factory=lambda: dict(DEFAULT_JOB_ERROR))
    error: dict | None = None
    fine_tuned_model: str | None = None
    trained_tokens: int | None = None
    finished_at: int | None = None
    steps_done: int = 0
    total_steps: int = 0

    @property
    def hyperparameters(self) -> dict:
        method = self.request.get("method") or {}
        chosen = (method.get(method.get("type") or "supervised") or {}).get("hyperparameters")
        chosen = chosen or self.request.get("hyperparameters") or {}
        return {name: chosen.get(name, "auto") for name in ("n_epochs", "batch_size", "learning_rate_multiplier")}

    def as_json(self) -> dict:
        request = self.request
        return {
            "id": self.id,
            "object": "fine_tuning.job",
            "created_at": self.created_at,
            "error": self.error,
            "fine_tuned_model": self.fine_tuned_model,
            "finished_at": self.finished_at,
            "hyperparameters": self.hyperparameters,
            "model": request.get("model"),
            "organization_id": "org-qagen-fake",
            "result_files": [],
            "seed": request.get("seed") if request.get("seed") is not None else 42,
            "status": self.status,
            "trained_tokens": self.trained_tokens,
            "training_file": request.get("training_file"),
            "validation_file": request.get("validation_file"),
            "estimated_finish": None,
            "integrations": [],
            "metadata": request.get("metadata"),
            "method": request.get("method") or {"type": "supervised"},
            "user_provided_suffix": request.get("suffix"),
        }


def _multipart_fields(request: RecordedRequest) -> dict[str, tuple[str | None, bytes]]:
    """Fields of a multipart/form-data body: name -> (filename, bytes)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        return {}
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.body)
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            fields[name] = (part.get_filename(), part.get_payload(decode=True) or b"")
    return fields


def _page(items: list[dict], request: RecordedRequest, default_limit: int = 20) -> dict:
    """A cursor page as the API lists it: ``after`` is the id of the last item of the previous page."""
    after = request.query.get("after", [None])[0]
    limit = int(request.query.get("limit", [default_limit])[0])
    start = 0
    if after is not None:
        ids = [item["id"] for item in items]
        start = ids.index(after) + 1 if after in ids else len(items)
    return {"object": "list", "data": items[start:start + limit], "has_more": start + limit < len(items)}


def _upload_file(server: FakeOpenAI, request: RecordedRequest, params: dict[str, str]) -> Reply:
    fields = _multipart_fields(request)
    purpose = fields.get("purpose", (None, b""))[1].decode("utf-8", "replace")
    if "file" not in fields or not purpose:
        return error_reply(400, "A file and a purpose are required.", param="file" if "file" not in fields else "purpose")
    filename, content = fields["file"]
    statuses = list(server.file_statuses) or ["processed"]
    with server._lock:
        upload = FakeFile(
            id=f"file-fake{next(server._file_ids)}",
            filename=filename or "upload",
            purpose=purpose,
            content=content,
            created_at=int(time.time()),
            status=statuses[0],
            statuses_to_come=statuses[1:],
            status_details=server.file_error_details,
        )
        server.files[upload.id] = upload
        server.uploads.append(upload)
    return Reply(json=upload.as_json())


def _list_files(server: FakeOpenAI, request: RecordedRequest, params: dict[str, str]) -> Reply:
    purpose = request.query.get("purpose", [None])[0]
    with server._lock:
        files = [f.as_json() for f in server.files.values() if purpose is None or f.purpose == purpose]
    if request.query.get("order", ["desc"])[0] == "desc":
        files.reverse()  # newest first, as the service lists them by default
    return Reply(json=_page(files, request, default_limit=10000))


def _file_not_found(file_id: str) -> Reply:
    return error_reply(404, f"No such File object: {file_id}", param="id")


def _retrieve_file(server: FakeOpenAI, request: RecordedRequest, params: dict[str, str]) -> Reply:
    with server._lock:
        upload = server.files.get(params["file_id"])
        if upload is None:
            return _file_not_found(params["file_id"])
        if upload.statuses_to_come:
            upload.status = upload.statuses_to_come.pop(0)
        return Reply(json=upload.as_json())


def _usable_file(server: FakeOpenAI, file_id: object, param: str) -> Reply | FakeFile:
    upload = server.files.get(file_id) if isinstance(file_id, str) else None
    if upload is None:
        return error_reply(400, f"invalid {param}: {file_id}", param=param, code="invalid_request_error")
    if upload.status != "processed":
        return error_reply(400, f"File {file_id} is not ready (status {upload.status}).", param=param, code="file_not_ready")
    return upload


def _create_job(server: FakeOpenAI, request: RecordedRequest, params: dict[str, str]) -> Reply:
    body = request.json if isinstance(request.json, dict) else {}
    with server._lock:
        server.job_creates.append(body)
        if server.finetune_refusal is not None:
            return server.finetune_refusal
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return error_reply(400, "A base model is required.", param="model")
        if server.finetune_models and model not in server.finetune_models:
            return error_reply(
                404, f"Model {model} is not available for fine-tuning or does not exist.", param="model", code="model_not_found"
            )
        suffix = body.get("suffix")
        if isinstance(suffix, str) and len(suffix) > 64:
            return error_reply(400, "suffix must be at most 64 characters.", param="suffix")
        training = _usable_file(server, body.get("training_file"), "training_file")
        if isinstance(training, Reply):
            return training
        if body.get("validation_file") is not None:
            validation = _usable_file(server, body["validation_file"], "validation_file")
            if isinstance(validation, Reply):
                return validation
        job = FakeJob(
            id=f"ftjob-fake{next(server._job_ids)}",
            request=body,
            created_at=int(time.time()),
            training_file=training,
            statuses_to_come=list(server.job_statuses),
            error_when_failed=dict(server.job_error),
        )
        job.total_steps = STEPS_PER_RUNNING_RETRIEVE * job.statuses_to_come.count("running")
        server.jobs[job.id] = job
        server._job_event(job, f"Created fine-tuning job: {job.id}")
        validating = f"Validating training file: {body['training_file']}"
        if body.get("validation_file") is not None:
            validating += f" and validation file: {body['validation_file']}"
        server._job_event(job, validating)
        return Reply(json=job.as_json())


def _job_not_found(job_id: str) -> Reply:
    return error_reply(404, f"Could not find fine-tune: {job_id}", param="fine_tune_id", code="fine_tune_not_found")


def _list_jobs(server: FakeOpenAI, request: RecordedRequest, params: dict[str, str]) -> Reply:
    with server._lock:
        newest_first = [job.as_json() for job in reversed(list(server.jobs.values()))]
    return Reply(json=_page(newest_first, request))


def _retrieve_job(server: FakeOpenAI, request: RecordedRequest, params: dict[str, str]) -> Reply:
    with server._lock:
        job = server.jobs.get(params["job_id"])
        if job is None:
            return _job_not_found(params["job_id"])
        server._advance_job(job)
        return Reply(json=job.as_json())


def _list_job_events(server: FakeOpenAI, request: RecordedRequest, params: dict[str, str]) -> Reply:
    with server._lock:
        job = server.jobs.get(params["job_id"])
        if job is None:
            return _job_not_found(params["job_id"])
        newest_first = list(reversed(job.events))
    return Reply(json=_page(newest_first, request))


def _cancel_job(server: FakeOpenAI, request: RecordedRequest, params: dict[str, str]) -> Reply:
    with server._lock:
        job = server.jobs.get(params["job_id"])
        if job is None:
            return _job_not_found(params["job_id"])
        if job.status in JOB_TERMINAL_STATUSES:
            return error_reply(400, f"Job {job.id} has already {job.status}; it cannot be cancelled.")
        job.statuses_to_come = []
        server._enter_status(job, "cancelled")
        return Reply(json=job.as_json())


ROUTES: list[Route] = [
    Route.of("POST", CHAT_PATH, _chat_completions),
    Route.of("GET", "/v1/models", _list_models),
    Route.of("GET", "/v1/models/{model}", _retrieve_model),
    Route.of("POST", FILES_PATH, _upload_file),
    Route.of("GET", FILES_PATH, _list_files),
    Route.of("GET", FILES_PATH + "/{file_id}", _retrieve_file),
    Route.of("POST", JOBS_PATH, _create_job),
    Route.of("GET", JOBS_PATH, _list_jobs),
    Route.of("GET", JOBS_PATH + "/{job_id}", _retrieve_job),
    Route.of("GET", JOBS_PATH + "/{job_id}/events", _list_job_events),
    Route.of("POST", JOBS_PATH + "/{job_id}/cancel", _cancel_job),
]


# --------------------------------------------------------------------------- HTTP plumbing


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # server_close() must not wait for a handler that is sleeping
    allow_reuse_address = True
    # The default backlog of 5 drops connection attempts when a client opens dozens at once,
    # and each dropped SYN costs the client a one-second retransmit.
    request_queue_size = 256
    fake: FakeOpenAI

    def handle_error(self, request, client_address) -> None:  # noqa: ANN001 - socketserver signature
        # A client that hung up (timeout, cancelled task) is normal here; anything else is a
        # bug in the fake or in a scripted handler and is kept for the test to see.
        error = sys.exc_info()[1]
        if error is not None and not isinstance(error, OSError):
            self.fake._record_error(error)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, framed by Content-Length
    # Headers and body go out in separate writes; with Nagle on, delayed ACKs add ~40 ms per reply.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # tests read server.requests instead of a log on stderr

    def setup(self) -> None:
        super().setup()
        self.server.fake._track_connection(self.connection, open_=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track_connection(self.connection, open_=False)

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_GET
    do_DELETE = do_GET
    do_PUT = do_GET
    do_PATCH = do_GET

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        body = self._read_body()
        url = urlsplit(self.path)
        try:
            parsed = jsonlib.loads(body) if body else None
        except ValueError:
            parsed = None
        request = RecordedRequest(
            method=self.command,
            path=url.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            json=parsed,
            time=time.monotonic(),
            body=body,
            query=parse_qs(url.query),
        )
        self._send(self.server.fake._handle(request))

    def _send(self, reply: Reply) -> None:
        fake = self.server.fake
        if reply.delay > 0 and fake._stopping.wait(reply.delay):
            reply = Reply(drop=True)  # the server is stopping: do not answer late
        if reply.drop:
            self.close_connection = True
            return
        payload = reply.encoded_body()
        self.send_response(reply.status)
        names = {name.lower() for name in reply.headers}
        if "content-type" not in names:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-request-id", f"req_fake{next(fake._request_ids)}")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if reply.truncate:
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if reply.trickle > 0:
            self._trickle(payload, reply.trickle)
            return
        self.wfile.write(payload)
        self.wfile.flush()

    def _trickle(self, payload: bytes, seconds: float) -> None:
        pieces = 20
        size = max(1, -(-len(payload) // pieces))
        for start in range(0, len(payload), size):
            if start and self.server.fake._stopping.wait(seconds / pieces):
                break  # the server is stopping
            self.wfile.write(payload[start:start + size])
            self.wfile.flush()
        self.close_connection = True


# --------------------------------------------------------------------------- the server


class FakeOpenAI:
    """A scripted OpenAI-compatible server on 127.0.0.1; use as a context manager or start()/stop()."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        models: list[str] | tuple[str, ...] = (),
        latency: float = 0.0,
        default_pairs: int = 3,
    ) -> None:
        self.api_key = api_key
        self.models: list[str] = list(models)
        self.latency = latency  # seconds added to every chat reply (a model's thinking time)
        self.default_pairs = default_pairs  # JSON lines the default chat handler answers with
        self.response_formats: tuple[str, ...] | None = None  # response_format types taken; None: any, ignored
        self.honour_response_format = False  # answer a request for JSON with {"pairs": [...]} instead of JSON lines
        # How a refused response_format is answered: 400 as OpenAI and LM Studio do, or 500 as llama-cpp-python's
        # server 0.3.x does (its request validation fails inside the server).
        self.response_format_refusal_status = 400
        self.handler: Callable[[RecordedRequest], Reply] = self.default_handler
        self.requests: list[RecordedRequest] = []
        self.handler_errors: list[BaseException] = []  # exceptions raised by scripted handlers
        self.routes: list[Route] = list(ROUTES)
        self._queue: collections.deque[ReplySource] = collections.deque()
        self._lock = threading.Lock()
        self._in_flight = 0
        self._max_in_flight = 0
        self._connections: set[socket.socket] = set()
        self._connections_opened = 0
        self._request_ids = itertools.count(1)
        self._stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._injected: list[tuple[str, re.Pattern[str], collections.deque[ReplySource]]] = []
        # Files and fine-tuning jobs. Each scripting attribute is read when a file or job is created.
        self.files: dict[str, FakeFile] = {}
        self.uploads: list[FakeFile] = []  # every upload, in order
        self.jobs: dict[str, FakeJob] = {}
        self.job_creates: list[dict] = []  # the body of every creation request, refused ones included
        self.file_statuses: list[str] = ["processed"]  # at upload, then one more per retrieve
        self.file_error_details: str = "The file could not be parsed as JSONL."  # shown when a file ends in "error"
        self.job_statuses: list[str] = list(DEFAULT_JOB_STATUSES)  # one per retrieve, after "validating_files"
        self.job_error: dict = dict(DEFAULT_JOB_ERROR)  # the job's error when it reaches "failed"
        self.finetune_refusal: Reply | None = None  # answers every job creation when set
        self.finetune_models: list[str] = []  # base models a job may use; empty: any
        self._file_ids = itertools.count(1)
        self._job_ids = itertools.count(1)
        self._event_ids = itertools.count(1)

    # ----- lifecycle

    def start(self) -> FakeOpenAI:
        if self._httpd is not None:
            raise RuntimeError("the fake OpenAI server is already running")
        self._stopping.clear()
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.fake = self
        self._httpd = httpd
        # A short poll interval keeps stop() quick; the cost is an idle wake-up every 50 ms.
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()  # wakes handlers that are sleeping on a delay
        httpd.shutdown()
        httpd.server_close()
        # Idle keep-alive connections would keep their threads blocked on a read forever.
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the fake OpenAI server is not running")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """Base URL for the SDK, ``/v1`` included."""
        return f"http://127.0.0.1:{self.port}/v1"

    # ----- scripting

    def queue(self, *replies: ReplySource) -> None:
        """Replies for the next chat requests, first in first out; then ``handler`` takes over."""
        with self._lock:
            self._queue.extend(replies)

    @property
    def queued(self) -> int:
        with self._lock:
            return len(self._queue)

    def add_route(self, method: str, template: str, handle: RouteHandler) -> None:
        """Serve ``method template`` with ``handle``; it takes precedence over existing routes."""
        self.routes.insert(0, Route.of(method, template, handle))

    def inject(self, method: str, template: str, *replies: ReplySource) -> None:
        """The next requests to ``method template`` get ``replies`` (first in, first out) before any route sees them.

        For faults on any endpoint: ``server.inject("POST", "/v1/files", error_reply(429, ...))``.
        """
        route = Route.of(method, template, _chat_completions)  # only its method and pattern are used
        with self._lock:
            self._injected.append((route.method, route.pattern, collections.deque(replies)))

    def _take_injected(self, request: RecordedRequest) -> ReplySource | None:
        with self._lock:
            for method, pattern, replies in self._injected:
                if replies and method == request.method and pattern.match(request.path):
                    return replies.popleft()
        return None

    def default_handler(self, request: RecordedRequest) -> Reply:
        reply = grounded_pairs_reply(request, self.default_pairs)
        if not (self.honour_response_format and _asked_format(request) in ("json_schema", "json_object")):
            return reply
        lines = reply.json["choices"][0]["message"]["content"].splitlines()  # type: ignore[index]
        return chat_reply(jsonlib.dumps({"pairs": [jsonlib.loads(line) for line in lines]}, ensure_ascii=False))

    # ----- observing

    def chat_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.method == "POST" and r.path == CHAT_PATH]

    @property
    def in_flight(self) -> int:
        """Chat requests received and not yet answered."""
        with self._lock:
            return self._in_flight

    @property
    def max_in_flight(self) -> int:
        with self._lock:
            return self._max_in_flight

    @property
    def connections_opened(self) -> int:
        """TCP connections accepted so far; with keep-alive, one client reuses one per concurrent request."""
        with self._lock:
            return self._connections_opened

    # ----- serving (called from handler threads)

    def _track_connection(self, connection: socket.socket, *, open_: bool) -> None:
        with self._lock:
            if open_:
                self._connections.add(connection)
                self._connections_opened += 1
            else:
                self._connections.discard(connection)

    def _record_error(self, error: BaseException) -> None:
        with self._lock:
            self.handler_errors.append(error)

    def _handle(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
        if self.api_key is not None and request.headers.get("authorization") != f"Bearer {self.api_key}":
            return error_reply(
                401,
                "Incorrect API key provided. You can find your API key in your account settings.",
                code="invalid_api_key",
            )
        injected = self._take_injected(request)
        if injected is not None:
            return injected if isinstance(injected, Reply) else self._call(injected, request)
        for route in self.routes:
            if route.method != request.method:
                continue
            match = route.pattern.match(request.path)
            if match:
                return self._call(route.handle, self, request, match.groupdict())
        return error_reply(
            404, f"Unknown request URL: {request.method} {request.path}.", code="unknown_url"
        )

    def _call(self, function: Callable[..., Reply], *args: object) -> Reply:
        # A scripted handler that raises is a bug in the test: answer 500 and keep the error.
        try:
            return function(*args)
        except Exception as error:  # noqa: BLE001
            self._record_error(error)
            return error_reply(500, f"The fake server's handler raised {type(error).__name__}: {error}")

    # ----- fine-tuning jobs (called with self._lock held)

    def _job_event(self, job: FakeJob, message: str, *, level: str = "info", data: dict | None = None) -> None:
        job.events.append(
            {
                "id": f"ftevent-fake{next(self._event_ids)}",
                "object": "fine_tuning.job.event",
                "created_at": int(time.time()),
                "level": level,
                "message": message,
                "data": data or {},
                "type": "metrics" if data else "message",
            }
        )

    def _advance_job(self, job: FakeJob) -> None:
        if job.status in JOB_TERMINAL_STATUSES or not job.statuses_to_come:
            return
        status = job.statuses_to_come.pop(0)
        if status == "running":
            if job.status != "running" and job.steps_done == 0:
                self._job_event(job, "Fine-tuning job started")
            job.status = "running"
            self._training_steps(job)
        elif status != job.status:
            self._enter_status(job, status)

    def _training_steps(self, job: FakeJob) -> None:
        job.steps_done += STEPS_PER_RUNNING_RETRIEVE
        rounds = job.steps_done // STEPS_PER_RUNNING_RETRIEVE
        train_loss = round(2.0 * 0.7**rounds, 4)
        data = {"step": job.steps_done, "train_loss": train_loss, "total_steps": job.total_steps}
        message = f"Step {job.steps_done}/{job.total_steps}: training loss={train_loss:.2f}"
        if job.request.get("validation_file") is not None:
            data["valid_loss"] = round(train_loss * 1.1 + 0.05, 4)
            message += f", validation loss={data['valid_loss']:.2f}"
        self._job_event(job, message, data=data)

    def _enter_status(self, job: FakeJob, status: str) -> None:
        job.status = status
        if status == "queued":
            self._job_event(job, "Files validated, moving job to queued state")
        elif status == "succeeded":
            suffix = job.request.get("suffix") or ""
            job.fine_tuned_model = f"ft:{job.request.get('model')}:qagen-fake:{suffix}:{job.id.removeprefix('ftjob-')}"
            epochs = job.hyperparameters["n_epochs"]
            job.trained_tokens = rough_tokens(job.training_file.content.decode("utf-8", "replace")) * (
                epochs if isinstance(epochs, int) else 3
            )
            job.finished_at = int(time.time())
            self._job_event(job, f"New fine-tuned model created: {job.fine_tuned_model}")
            self._job_event(job, "The job has successfully completed")
        elif status == "failed":
            job.error = dict(job.error_when_failed)
            job.finished_at = int(time.time())
            self._job_event(job, str(job.error.get("message")), level="error")
        elif status == "cancelled":
            job.finished_at = int(time.time())
            self._job_event(job, "Fine-tuning job cancelled")
        else:
            self._job_event(job, f"Fine-tuning job {status.replace('_', ' ')}")

    def _serve_chat(self, request: RecordedRequest) -> Reply:
        model = request.model
        if self.models and model not in self.models:
            return _model_not_found(str(model))
        if isinstance(request.json, dict) and request.json.get("stream"):
            return error_reply(400, "The fake OpenAI server does not stream.", param="stream")
        refused = _reasoning_model_refusal(request) or _response_format_refusal(
            request, self.response_formats, self.response_format_refusal_status)
        if refused is not None:
            return refused
        with self._lock:
            source = self._queue.popleft() if self._queue else self.handler
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        try:
            reply = source if isinstance(source, Reply) else self._call(source, request)
            reply = _fill_from_request(reply, request)
            delay = self.latency + reply.delay
            if delay > 0 and self._stopping.wait(delay):
                return Reply(drop=True)
            return dataclasses.replace(reply, delay=0.0)
        finally:
            with self._lock:
                self._in_flight -= 1


# OpenAI's reasoning models (o1, o3, o4-mini, gpt-5...) refuse the parameters they do not take, as the real service does.
_REASONING_MODEL = re.compile(r"^(o\d|gpt-5)")


def _reasoning_model_refusal(request: RecordedRequest) -> Reply | None:
    body = request.json
    if not (isinstance(body, dict) and _REASONING_MODEL.match(request.model or "")):
        return None
    if "max_tokens" in body:
        return error_reply(
            400, "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
            param="max_tokens", code="unsupported_parameter",
        )
    if "top_p" in body:
        return error_reply(400, "Unsupported parameter: 'top_p' is not supported with this model.", param="top_p", code="unsupported_parameter")
    if "temperature" in body and body["temperature"] != 1:
        return error_reply(
            400, f"Unsupported value: 'temperature' does not support {body['temperature']} with this model. Only the default (1) value is supported.",
            param="temperature", code="unsupported_value",
        )
    return None


def _asked_format(request: RecordedRequest) -> str | None:
    body = request.json
    response_format = body.get("response_format") if isinstance(body, dict) else None
    return response_format.get("type") if isinstance(response_format, dict) else None


def _response_format_refusal(request: RecordedRequest, taken: tuple[str, ...] | None, status: int = 400) -> Reply | None:
    asked = _asked_format(request)
    if taken is None or asked is None or asked in taken:
        return None
    allowed = " or ".join(f"'{name}'" for name in taken) or "absent"
    if status >= 500:
        return error_reply(status, f"1 validation error for CreateChatCompletionRequest: response_format: "
                                   f"input should be {allowed}, not '{asked}'")
    return error_reply(400, f"'response_format.type' must be {allowed}, not '{asked}'", param="response_format")


def _fill_from_request(reply: Reply, request: RecordedRequest) -> Reply:
    """Echo the requested model and estimate prompt tokens where a chat reply left them open."""
    body = reply.json
    if not (isinstance(body, dict) and body.get("object") == "chat.completion"):
        return reply
    body = dict(body)
    if body.get("model") is None:
        body["model"] = request.model or "fake-model"
    usage = body.get("usage")
    if isinstance(usage, dict):
        usage = dict(usage)
        if usage.get("prompt_tokens") is None:
            usage["prompt_tokens"] = sum(rough_tokens(_content_text(m.get("content"))) for m in request.messages)
        if usage.get("total_tokens") is None:
            usage["total_tokens"] = (usage.get("prompt_tokens") or 0) + (usage.get("completion_tokens") or 0)
        body["usage"] = usage
    return dataclasses.replace(reply, json=body)
