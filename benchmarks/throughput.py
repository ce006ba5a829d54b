"""Throughput of qagen's generation stage against the local fake server.

The server answers every chat request after a fixed latency, like a model would.
With ``concurrency`` requests in flight the ideal rate is ``concurrency / latency``;
a one-request-at-a-time loop manages ``1 / latency`` at best. This prints what qagen
achieves next to both.

    python benchmarks/throughput.py [--requests 400] [--latency 0.2] [--concurrency 16 32 64]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from qagen.llm.asker import Asker
from qagen.outfolder import OutFolder
from qagen.llm.client import OpenAIChatModel
from qagen.records import Message, Request
from qagen.documents.tokens import counter_for


def make_requests(count: int) -> list[Request]:
    return [
        Request(
            key=f"chunk-{i:05d}",
            messages=(Message("user", f'Passage:\n"""\nThe ferry number {i} leaves Port Essary at nine. It returns at noon.\n"""\nWrite 2 pairs.'),),
            params={"max_tokens": 200},
            n=2,
        )
        for i in range(count)
    ]


def model_for(server: ServerProcess) -> OpenAIChatModel:
    return OpenAIChatModel(
        "bench-model", base_url=server.url, api_key=None, timeout=30, max_attempts=3, count_tokens=counter_for("gpt-4o-mini")
    )


async def qagen_rate(server: ServerProcess, requests: list[Request], concurrency: int) -> float:
    model = model_for(server)
    with tempfile.TemporaryDirectory() as tmp:
        out = OutFolder(Path(tmp))
        out.prepare({"bench": True}, restart=False)
        with out.open_journal() as journal:
            asker = Asker(model, journal, {}, concurrency=concurrency)
            started = time.perf_counter()
            _, failures = await asker.ask(requests)
            elapsed = time.perf_counter() - started
    await model.aclose()
    assert not failures, failures
    return len(requests) / elapsed


async def sequential_rate(server: ServerProcess, requests: list[Request]) -> float:
    model = model_for(server)
    started = time.perf_counter()
    for request in requests:
        await model.complete(request)
    elapsed = time.perf_counter() - started
    await model.aclose()
    return len(requests) / elapsed


class ServerProcess:
    """The fake server in its own process, as a real endpoint would be: it must not share qagen's GIL."""

    def __init__(self, latency: float) -> None:
        code = (
            "import sys; sys.path.insert(0, sys.argv[1]); from fake_openai import FakeOpenAI; "
            "s = FakeOpenAI(latency=float(sys.argv[2]), default_pairs=2).start(); print(s.url, flush=True); sys.stdin.read()"
        )
        tests = str(Path(__file__).resolve().parent.parent / "tests")
        self._proc = subprocess.Popen(
            [sys.executable, "-c", code, tests, str(latency)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.url = self._proc.stdout.readline().strip()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self._proc.stdin.close()
        self._proc.wait(10)
        self._proc.stdout.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--latency", type=float, default=0.2, help="simulated model latency in seconds")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32, 64])
    args = parser.parse_args()

    with ServerProcess(args.latency) as server:
        sequential_count = max(10, min(50, args.requests // 8))
        seq = asyncio.run(sequential_rate(server, make_requests(sequential_count)))
        print(f"latency {args.latency:.3f} s; one request at a time: {seq:7.1f} req/s (ideal {1 / args.latency:.1f})")
        print(f"{'concurrency':>11}  {'requests':>8}  {'achieved':>9}  {'ideal':>7}  {'of ideal':>8}  {'vs sequential':>13}")
        for concurrency in args.concurrency:
            rate = asyncio.run(qagen_rate(server, make_requests(args.requests), concurrency))
            ideal = concurrency / args.latency
            print(
                f"{concurrency:>11}  {args.requests:>8}  {rate:7.1f}/s  {ideal:5.1f}/s  {rate / ideal:8.0%}  {rate / seq:12.1f}x"
            )


if __name__ == "__main__":
    main()
