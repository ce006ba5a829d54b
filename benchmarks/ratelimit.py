"""How close to an endpoint's rate limit qagen runs, next to the OpenAI cookbook's parallel processor.

A local server (its own process) enforces requests and tokens per minute as OpenAI states them (a bucket
of one minute's limit, refilled continuously):
every reply carries ``x-ratelimit-limit-*``, ``-remaining-*`` and ``-reset-*`` headers, and a request
beyond either limit gets a 429 with ``Retry-After`` (the time until one request fits). Each accepted
request is answered after a fixed latency. A request is charged its prompt's tokens (o200k, gpt-4o-mini's
encoding, framed as in OpenAI's usage figures) plus its ``max_tokens``; both clients count with o200k too.
qagen's client (``OpenAIChatModel``, the run's pacing and
retries) and the cookbook's ``api_request_parallel_processor.py`` (from ``../shared/peers``, run as a subprocess
with only its https-only URL parser swapped, told the same limits) send the same requests to it in turn. Printed per client: the time from its
first request to its last reply (on the server's clock, so starting up and loading a tokenizer do not count),
requests refused, requests given up (asked but never accepted: a client that stops retrying), and the share of
the binding limit reached (requests accepted per second over the limit's per-second rate, over that time). The
median of ``--rounds`` rounds.

Measured on the 2-core build machine (2026-12-03), median of 3, each round within 0.1 s of the median:

    4,200 requests, 600 a minute bind:        qagen 360.3 s of 360.2, 0 refused, 0 given up
                                              cookbook 360.3 s, 1 refused, 0 given up
    1,500 requests, 100,000 tokens a minute:  qagen 125.0 s of 124.8, 0 refused, 0 given up
                                              cookbook 125.1 s, 1 refused; over the 3 rounds it gave up 5
                                              requests after 20 refusals each (one round "ended" at 124.5 s)

Both clients reach the limit itself; qagen is refused nothing and never gives a request up. Before the
server loaded its encoding at start (on its first request instead, 1-3 s), that stall was timed as the
client's, and cost qagen more than the cookbook: qagen waits for replies before sending more, the cookbook
sends on by its own clock (361.5 s against 360.8 s then).

    python benchmarks/ratelimit.py [--requests 1200] [--rpm 600] [--tpm 200000] [--latency 0.2] [--rounds 3]

The cookbook needs ``aiohttp`` and ``tiktoken``; tiktoken's o200k rank file is taken from the copy
bpe-openai ships (no download). Without them, or without ``../shared/peers``, only qagen runs.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gzip
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEER = next((p / "peers" / "api_request_parallel_processor.py" for p in (ROOT.parent / "shared", Path("/work/shared"))
             if (p / "peers" / "api_request_parallel_processor.py").exists()), None)
WINDOW = 60.0
PROMPT = "Write three questions about the harbour timetable. " * 12
MAX_TOKENS = 100


# --------------------------------------------------------------------------- the rate-limited server

class Buckets:
    """Requests and tokens, each a bucket holding one minute's limit and refilled at limit / 60 s (as OpenAI states)."""

    def __init__(self, rpm: int, tpm: int) -> None:
        self.rpm, self.tpm = rpm, tpm
        self.requests, self.tokens = float(rpm), float(tpm)
        self.at = time.monotonic()
        self.refused = 0
        self.accepted = 0

    def _refill(self) -> None:
        now = time.monotonic()
        self.requests = min(self.rpm, self.requests + (now - self.at) * self.rpm / WINDOW)
        self.tokens = min(self.tpm, self.tokens + (now - self.at) * self.tpm / WINDOW)
        self.at = now

    def admit(self, tokens: int) -> float:
        """0 when admitted; else the seconds until the request would fit."""
        self._refill()
        if self.requests >= 1 and self.tokens >= tokens:
            self.requests -= 1
            self.tokens -= tokens
            self.accepted += 1
            return 0.0
        self.refused += 1
        return max((1 - self.requests) * WINDOW / self.rpm, (tokens - self.tokens) * WINDOW / self.tpm, 0.001)

    def headers(self) -> dict[str, str]:
        self._refill()
        return {  # reset: the time until the bucket is full again, as OpenAI sends it
            "x-ratelimit-limit-requests": str(self.rpm), "x-ratelimit-remaining-requests": str(int(self.requests)),
            "x-ratelimit-reset-requests": f"{(self.rpm - self.requests) * WINDOW / self.rpm:.3f}s",
            "x-ratelimit-limit-tokens": str(self.tpm), "x-ratelimit-remaining-tokens": str(int(self.tokens)),
            "x-ratelimit-reset-tokens": f"{(self.tpm - self.tokens) * WINDOW / self.tpm:.3f}s",
        }


@functools.lru_cache(maxsize=1)
def _encoding():
    import bpe_openai  # qagen's own tokenizer dependency; o200k is gpt-4o-mini's encoding
    return bpe_openai.get_encoding("o200k_base")


def request_tokens(body: dict) -> int:
    """As the service charges a request against its token limit: the prompt's tokens, framed as in its usage
    figures (3 a message and 3 for the reply, OpenAI's counting recipe), plus max_tokens."""
    encoding = _encoding()
    prompt = 3 + sum(3 + len(encoding.encode(str(m.get("content", "")), disallowed_special=()))
                     + len(encoding.encode(str(m.get("role", "")), disallowed_special=())) for m in body.get("messages", []))
    return prompt + int(body.get("max_tokens") or body.get("max_completion_tokens") or 0)


async def serve(port_file: Path, rpm: int, tpm: int, latency: float) -> None:
    # The encoding is loaded before the port is published: loaded on the first request it held that request
    # (and every client's first requests behind it) for 1-3 s, timed as the client's.
    _encoding()
    limit = Buckets(rpm, tpm)

    async def respond(writer: asyncio.StreamWriter, status: str, payload: dict, headers: dict[str, str]) -> None:
        data = json.dumps(payload).encode()
        head = [f"HTTP/1.1 {status}", "content-type: application/json", f"content-length: {len(data)}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
        await writer.drain()

    span: dict[str, float] = {}  # the first request's arrival and the last reply's departure, on the server's clock

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
                raw = await reader.readexactly(int(fields.get("content-length", "0")))
                if lines[0].startswith("GET /stats"):
                    await respond(writer, "200 OK", {"refused": limit.refused, "accepted": limit.accepted, **span}, {})
                    continue
                span.setdefault("first", time.monotonic())
                body = json.loads(raw or b"{}")
                wait = limit.admit(request_tokens(body))
                if wait:
                    error = {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}
                    await respond(writer, "429 Too Many Requests", error, {**limit.headers(), "retry-after": f"{wait:.3f}"})
                    continue
                headers = limit.headers()
                await asyncio.sleep(latency)
                reply = {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body.get("model", "m"),
                         "choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": '{"question": "Q?", "answer": "A."}'}}],
                         "usage": {"prompt_tokens": request_tokens(body) - MAX_TOKENS, "completion_tokens": 12, "total_tokens": 0}}
                await respond(writer, "200 OK", reply, headers)
                span["last"] = time.monotonic()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(connection, "127.0.0.1", 0, backlog=1024)
    port_file.write_text(str(server.sockets[0].getsockname()[1]))
    async with server:
        await server.serve_forever()


class Server:
    def __init__(self, rpm: int, tpm: int, latency: float) -> None:
        self._dir = tempfile.TemporaryDirectory()
        port_file = Path(self._dir.name) / "port"
        self._process = subprocess.Popen([sys.executable, __file__, "--serve", str(port_file), "--rpm", str(rpm),
                                          "--tpm", str(tpm), "--latency", str(latency)])
        while not port_file.exists() or not port_file.read_text():
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{port_file.read_text()}/v1"

    def stats(self) -> dict:
        """Requests refused and accepted, and the seconds from the first request's arrival to the last reply."""
        import urllib.request
        with urllib.request.urlopen(self.url.removesuffix("/v1") + "/stats") as reply:
            stats = json.load(reply)
        return {"refused": int(stats["refused"]), "accepted": int(stats["accepted"]), "span": stats["last"] - stats["first"]}

    def close(self) -> None:
        self._process.terminate()
        self._process.wait()
        self._dir.cleanup()


# --------------------------------------------------------------------------- the two clients

def run_qagen(url: str, count: int, concurrency: int) -> float:
    from qagen.documents.tokens import counter_for
    from qagen.llm.client import OpenAIChatModel
    from qagen.records import Message, Request

    async def main() -> float:
        model = OpenAIChatModel("gpt-4o-mini", base_url=url, api_key="bench", timeout=60, max_attempts=20,
                                count_tokens=counter_for("gpt-4o-mini"))
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with gate:
                await model.complete(Request(key=str(i), messages=(Message("user", f"{i} {PROMPT}"),),
                                             params={"max_tokens": MAX_TOKENS}))

        started = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(count)))
        await model.aclose()
        return time.monotonic() - started

    return asyncio.run(main())


def peer_missing() -> str | None:
    if PEER is None:
        return "the cookbook's processor is not in ../shared/peers"
    missing = [name for name in ("aiohttp", "tiktoken") if importlib.util.find_spec(name) is None]
    return f"the cookbook's processor needs {' and '.join(missing)}" if missing else None


def tiktoken_cache(folder: Path) -> Path:
    """tiktoken's cache folder holding cl100k_base and o200k_base, unpacked from the copies bpe-openai ships."""
    import bpe_openai
    for name in ("cl100k_base", "o200k_base"):
        url = f"https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
        ranks = gzip.decompress((Path(bpe_openai.__file__).parent / "data" / f"{name}.tiktoken.gz").read_bytes())
        (folder / hashlib.sha1(url.encode()).hexdigest()).write_bytes(ranks)
    return folder


# Runs the cookbook's processor as it is, with one helper swapped: its endpoint parser accepts only https
# URLs, and the local server speaks http. Its pacing, retries and token counting are its own.
PEER_RUNNER = """
import asyncio, importlib.util, sys
spec = importlib.util.spec_from_file_location("peer", sys.argv[1])
peer = importlib.util.module_from_spec(spec)
spec.loader.exec_module(peer)
peer.api_endpoint_from_url = lambda url: "chat/completions"
asyncio.run(peer.process_api_requests_from_file(
    requests_filepath=sys.argv[2], save_filepath=sys.argv[3], request_url=sys.argv[4], api_key="bench",
    max_requests_per_minute=float(sys.argv[5]), max_tokens_per_minute=float(sys.argv[6]),
    token_encoding_name="o200k_base", max_attempts=20, logging_level=40))
"""


def run_peer(url: str, count: int, rpm: int, tpm: int, folder: Path) -> float:
    requests = folder / "requests.jsonl"
    with requests.open("w") as file:
        for i in range(count):
            file.write(json.dumps({"model": "gpt-4o-mini", "max_tokens": MAX_TOKENS,
                                   "messages": [{"role": "user", "content": f"{i} {PROMPT}"}]}) + "\n")
    env = {**os.environ, "TIKTOKEN_CACHE_DIR": str(tiktoken_cache(folder))}
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", PEER_RUNNER, str(PEER), str(requests), str(folder / "results.jsonl"),
                    f"{url}/chat/completions", str(rpm), str(tpm)], check=True, env=env)
    return time.monotonic() - started


def measure(name: str, args: argparse.Namespace, send) -> dict:
    server = Server(args.rpm, args.tpm, args.latency)
    try:
        wall = send(server.url)
        stats = server.stats()
    finally:
        server.close()
    # The binding limit's pace: requests per second the limits allow for these requests.
    per_request = request_tokens({"messages": [{"role": "user", "content": f"{args.requests // 2} {PROMPT}"}], "max_tokens": MAX_TOKENS})
    rate = min(args.rpm, args.tpm / per_request) / WINDOW
    # A fresh window admits one minute's worth at once; only what is beyond it is paced.
    burst = min(args.rpm, args.tpm // per_request)
    # Timed by the server, from the first request to the last reply: what a client does before its first request
    # (starting, loading a tokenizer) is not pacing.
    seconds = stats["span"]
    paced_seconds = max(seconds - args.latency, 1e-9)
    # What was answered, not what was asked: a client that gives a request up after its last attempt sends less.
    share = (stats["accepted"] - burst) / paced_seconds / rate if stats["accepted"] > burst else float("nan")
    ideal = max(args.requests - burst, 0) / rate + args.latency  # a fresh minute's worth at once, then the limit's pace
    return {"client": name, "seconds": seconds, "wall": wall, "refused": stats["refused"], "lost": args.requests - stats["accepted"], "share": share, "ideal": ideal}


def _round_text(measured: dict) -> str:
    return f"{measured['seconds']:.1f} s" + (f" ({measured['lost']} given up)" if measured["lost"] else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1200)
    parser.add_argument("--rpm", type=int, default=600)
    parser.add_argument("--tpm", type=int, default=200_000)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve, args.rpm, args.tpm, args.latency))
        return
    print(f"{args.requests} requests, {args.rpm} requests and {args.tpm:,} tokens a minute "
          f"{args.latency} s latency; qagen at concurrency {args.concurrency}; median of {args.rounds}")
    why_not = peer_missing()
    clients = [("qagen", lambda url: run_qagen(url, args.requests, args.concurrency))]
    if why_not:
        print(f"cookbook: skipped, {why_not}")
    else:
        folder = Path(tempfile.mkdtemp())
        clients.append(("cookbook", lambda url: run_peer(url, args.requests, args.rpm, args.tpm, folder)))
    medians = {}
    for name, send in clients:
        rounds = [measure(name, args, send) for _ in range(args.rounds)]
        median = sorted(rounds, key=lambda r: r["seconds"])[len(rounds) // 2]
        medians[name] = median
        print(f"{name:9} {median['seconds']:7.1f} s (at the limit: {median['ideal']:.1f} s)  refused {median['refused']:4d} "
              f"({median['refused'] / args.requests:.2%})  given up {median['lost']}  {median['share']:.1%} of the binding limit after the first "
              f"minute's burst  (rounds: {', '.join(_round_text(r) for r in rounds)})")
    if "cookbook" in medians:
        print(f"qagen / cookbook wall time: {medians['qagen']['seconds'] / medians['cookbook']['seconds']:.2f}")


if __name__ == "__main__":
    main()
