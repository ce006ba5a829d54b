"""Shared fixtures: a scripted OpenAI-compatible server, and an environment with no real service in it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from fake_openai import FakeOpenAI

# Settings qagen reads from the environment; a developer's shell must not leak into a test.
_ENV_NAMES = ("OPENAI_API_KEY", "OPENAI_BASE_URL")
_ENV_PREFIX = "QAGEN_"


@pytest.fixture(scope="session", autouse=True)
def _cache_away_from_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Module-scoped fixtures run qagen before any test's own environment is set up: their caches go here too."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("session-cache")))
        yield


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    for name in list(os.environ):
        if name in _ENV_NAMES or name.startswith(_ENV_PREFIX):
            monkeypatch.delenv(name)
    # Converted documents and the call cache live in the user's cache folder; a test's go to its own.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A running fake server, fresh for each test; ``fake_openai.url`` is the SDK's base_url."""
    server = FakeOpenAI().start()
    try:
        yield server
    finally:
        server.stop()
    # A scripted handler that raised was answered with a 500, which a retrying client can hide.
    if server.handler_errors:
        raise AssertionError(f"a scripted reply handler raised: {server.handler_errors!r}")
