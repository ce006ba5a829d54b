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
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fake_openai import FakeOpenAI  # noqa: E402

from qagen.generate import ask_all  # noqa: E402
from qagen.journal import OutFolder  # noqa: E402
from qagen.llm import OpenAIChatModel  # noqa: E402
from qagen.progress import Reporter  # noqa: E402
from qagen.records import Message, Request  # noqa: E402
from qagen.tokens import counter_for  # noqa: E402


def make_requests(count: int) -> list[Request]:
    return [
        Request(
            chunk_id=f"chunk-{i:05d}",
            messages=(Message("user", f'Passage:\n"""\nThe ferry number {i} leaves Port Essary at nine. It returns at noon.\n"""\nWrite 2 pairs.'),),
            params={"max_tokens": 200},
            n=2,
        )
        for i in range(count)
    ]


def model_for(server: FakeOpenAI) -> OpenAIChatModel:
    return OpenAIChatModel(
        "bench-model", base_url=server.url, api_key=None, timeout=30, max_attempts=3, count_tokens=counter_for("gpt-4o-mini")
    )


async def qagen_rate(server: FakeOpenAI, requests: list[Request], concurrency: int) -> float:
    model = model_for(server)
    with tempfile.TemporaryDirectory() as tmp:
        out = OutFolder(Path(tmp))
        out.prepare({"bench": True}, restart=False)
        with out.open_journal() as journal:
            started = time.perf_counter()
            failures = await ask_all(requests, model, journal, concurrency=concurrency, reporter=Reporter())
            elapsed = time.perf_counter() - started
    await model.aclose()
    assert not failures, failures
    return len(requests) / elapsed


async def sequential_rate(server: FakeOpenAI, requests: list[Request]) -> float:
    model = model_for(server)
    started = time.perf_counter()
    for request in requests:
        await model.complete(request)
    elapsed = time.perf_counter() - started
    await model.aclose()
    return len(requests) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--latency", type=float, default=0.2, help="simulated model latency in seconds")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32, 64])
    args = parser.parse_args()

    with FakeOpenAI(latency=args.latency, default_pairs=2) as server:
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
