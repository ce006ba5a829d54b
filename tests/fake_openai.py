"""A scripted OpenAI-compatible HTTP server for qagen's tests and benchmarks.

It is a real server on 127.0.0.1 (stdlib ``http.server``, one thread per
connection, HTTP/1.1 keep-alive), so the official ``openai`` SDK talks to it
exactly as it would talk to a live endpoint: same sockets, same headers, same
error mapping, same retries. Tests script it per request and inject faults
(error statuses with headers, slow, malformed, truncated or dropped replies).

Deliberately free of pytest: ``benchmarks/`` imports it by adding ``tests/``
to ``sys.path``.

Adding an endpoint (files, fine-tuning jobs, batches) means writing one
function ``(server, request, params) -> Reply`` and adding one line to
``ROUTES``; a single test can also call ``server.add_route(...)``.
"""

from __future__ import annotations

import collections
import dataclasses
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


ROUTES: list[Route] = [
    Route.of("POST", CHAT_PATH, _chat_completions),
    Route.of("GET", "/v1/models", _list_models),
    Route.of("GET", "/v1/models/{model}", _retrieve_model),
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
        self.wfile.write(payload)
        self.wfile.flush()


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

    def default_handler(self, request: RecordedRequest) -> Reply:
        return grounded_pairs_reply(request, self.default_pairs)

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

    def _serve_chat(self, request: RecordedRequest) -> Reply:
        model = request.model
        if self.models and model not in self.models:
            return _model_not_found(str(model))
        if isinstance(request.json, dict) and request.json.get("stream"):
            return error_reply(400, "The fake OpenAI server does not stream.", param="stream")
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
