"""One chat-completions POST over aiohttp, with the official SDK's exceptions at its edge.

The request body is built already (``qagen.llm.body``), so what the SDK's ``create()`` would add is its
parameter transformation (type introspection over every message), its request and response models and its
connection pool. Measured at 100 requests in flight (``benchmarks/throughput.py``): the typed ``create()``
cost 3.0 ms of CPU a request, its low-level ``post`` on aiohttp 1.2 ms, this module, which sends the JSON
and reads the JSON, 0.5 ms: as much as the OpenAI cookbook's bare aiohttp client. Kept hand-written for that.

What callers see is the SDK's: an error status raises the ``openai`` exception of that status (its
``body``, ``code``, ``param``, ``type``, and a ``response`` whose headers hold ``Retry-After``), a dropped
connection or a cut-off body raises ``openai.APIConnectionError``, so retries, refusals and messages work
as they do for the SDK's own client.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import openai

try:  # the HTTP library the SDK's exceptions carry: httpx2 in current releases, httpx in older ones
    import httpx2 as http_library  # type: ignore[import-not-found, unused-ignore]
except ImportError:  # pragma: no cover - older SDK releases
    import httpx as http_library  # type: ignore[no-redef, unused-ignore]

from qagen import __version__

# What the SDK's client maps each status to (openai._client.OpenAI._make_status_error).
_STATUS_ERRORS: dict[int, type[openai.APIStatusError]] = {
    400: openai.BadRequestError,
    401: openai.AuthenticationError,
    403: openai.PermissionDeniedError,
    404: openai.NotFoundError,
    409: openai.ConflictError,
    422: openai.UnprocessableEntityError,
    429: openai.RateLimitError,
}


def proxy_for(url: str) -> str | None:
    """The proxy the environment names for ``url`` (``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``), as the SDK honours them.

    Looked up once: aiohttp's own ``trust_env`` looks up the proxy and ~/.netrc in a thread for every request
    (a fifth of the transport's CPU), and a netrc entry for the endpoint's host would clash with the key's header.
    """
    parts = urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if not proxy or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxy


class ChatTransport:
    """POSTs chat-completions bodies to ``base_url`` with the key as a bearer token; one connection pool."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"qagen/{__version__}",
        }
        self._proxy = proxy_for(self.url)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        # Made on first use, inside the running event loop, as aiohttp requires. No connection limit of its
        # own: the asker's concurrency is the limit. The whole reply's time limit is the client's (asyncio).
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300), timeout=aiohttp.ClientTimeout(total=None))
        return self._session

    async def post(self, body: dict[str, Any]) -> tuple[Mapping[str, str], Any]:
        """The reply's headers and its decoded JSON; raises ``json.JSONDecodeError`` for a body that is not JSON."""
        session = self._session or self._open()
        data = json.dumps(body).encode("utf-8")
        try:
            async with session.post(self.url, data=data, headers=self._headers, proxy=self._proxy) as response:
                payload = await response.read()
                status, headers = response.status, response.headers
        except aiohttp.ClientError as exc:
            raise openai.APIConnectionError(message=f"Connection error: {exc}", request=self._request()) from exc
        if status >= 400:
            raise self._status_error(status, headers, payload)
        return headers, json.loads(payload)

    def _request(self) -> Any:
        return http_library.Request("POST", self.url)

    def _status_error(self, status: int, headers: Mapping[str, str], payload: bytes) -> openai.APIStatusError:
        """The SDK's exception for an error status, built as its client builds it."""
        response = http_library.Response(status, headers=list(headers.items()), content=payload, request=self._request())
        text = payload.decode("utf-8", "replace").strip()
        body: object = text or None
        message = f"Error code: {status}"
        try:
            body = json.loads(text)
        except ValueError:
            if text:
                message = f"{message} - {text}"
        else:
            message = f"{message} - {body}"
        data = body.get("error", body) if isinstance(body, dict) else body
        kind = _STATUS_ERRORS.get(status) or (openai.InternalServerError if status >= 500 else openai.APIStatusError)
        return kind(message, response=response, body=data)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
