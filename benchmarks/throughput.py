"""Requests per second and client CPU per request: qagen's client next to the OpenAI cookbook's processor.

A local server (its own process, asyncio, limits far above the load, so nothing is refused) answers every
chat request after a fixed latency, like a model would, with the ``x-ratelimit-*`` headers OpenAI sends. With
``concurrency`` requests in flight the ideal rate is ``concurrency / latency``. Each client runs in a process
of its own, and reports the wall time and the CPU time of its process (every thread) from its first request
to its last reply; so CPU per request is what the client costs, whatever the machine's other load:

- qagen: the generation stage's path, requests rendered from the built-in template, asked through
  ``Asker`` (the journal, each answer on disk before it counts) and ``OpenAIChatModel`` (pacing, retries).
- cookbook: ``api_request_parallel_processor.py`` from ``../shared/peers``, as it is but for its https-only
  URL parser, given a requests-per-minute limit of ``concurrency / latency`` a second, which keeps about
  ``concurrency`` requests in flight (it has no concurrency setting of its own).

    python benchmarks/throughput.py [--requests 2000] [--latency 0.2] [--concurrency 32 100] [--rounds 3]

Printed per client and concurrency: the median of ``--rounds`` rounds of requests per second, its share of
``concurrency / latency``, and CPU milliseconds per request; then qagen's CPU per request over the cookbook's.

Measured on the 2-core build machine on 2026-12-03 (quiet, a fixed pure-Python loop of benchmarks/scale.py
taking 0.62 s), median of 3:

    in flight  requests  qagen req/s (of ideal)  CPU ms/req   cookbook req/s (of ideal)  CPU ms/req
      100        2,000       419 (84 %)             1.07          427 (85 %)                1.11
      100        6,000       443 (89 %)             1.16          457 (91 %)                1.04
       32        2,000       149 (93 %)             1.18          (no concurrency setting: 414)   1.14

A run's first request goes alone (a wrong key costs one request), one latency of the 20 waves of 2,000
requests at 100 in flight: that is most of the difference between the two request counts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from ratelimit import PEER, PROMPT, Server, peer_missing, tiktoken_cache

UNLIMITED = 10**9  # requests and tokens a minute: the server's limits never bind

# The qagen client, in its own process: argv = url, requests, concurrency, out folder.
QAGEN_CLIENT = """
import asyncio, json, sys, time
from pathlib import Path
from qagen.documents.tokens import counter_for
from qagen.llm.asker import Asker
from qagen.llm.client import OpenAIChatModel
from qagen.llm.templates import builtin_template_path, load_template
from qagen.outfolder import OutFolder
from qagen.pipeline.stages import build_request
from qagen.records import Chunk

url, count, concurrency, folder = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
PROMPT = sys.argv[5]

async def main():
    model = OpenAIChatModel("gpt-4o-mini", base_url=url, api_key="bench", timeout=60, max_attempts=5,
                            count_tokens=counter_for("gpt-4o-mini"))
    template = load_template(builtin_template_path("qa"))
    out = OutFolder(folder)
    out.prepare({"bench": True}, restart=False)
    with out.open_journal() as journal:
        asker = Asker(model, journal, {}, concurrency=concurrency)
        counter_for("gpt-4o-mini")("warm")  # the tokenizer loads once a process: benchmarks/startup.py's business
        wall, cpu = time.monotonic(), time.process_time()
        chunks = [Chunk(id=f"chunk-{i:06d}", source="bench.md", index=i, text=f"{i} {PROMPT}", tokens=0)
                  for i in range(count)]
        requests = [build_request(template, chunk, 3) for chunk in chunks]
        _, failures = await asker.ask(requests)
        wall, cpu = time.monotonic() - wall, time.process_time() - cpu
    await model.aclose()
    assert not failures, failures[:3]
    print(json.dumps({"wall": wall, "cpu": cpu}))

asyncio.run(main())
"""

# The cookbook's processor, with only its https-only endpoint parser swapped, timed around its one call.
PEER_CLIENT = """
import asyncio, importlib.util, json, sys, time
spec = importlib.util.spec_from_file_location("peer", sys.argv[1])
peer = importlib.util.module_from_spec(spec)
spec.loader.exec_module(peer)
peer.api_endpoint_from_url = lambda url: "chat/completions"
wall, cpu = time.monotonic(), time.process_time()
asyncio.run(peer.process_api_requests_from_file(
    requests_filepath=sys.argv[2], save_filepath=sys.argv[3], request_url=sys.argv[4], api_key="bench",
    max_requests_per_minute=float(sys.argv[5]), max_tokens_per_minute=1e12,
    token_encoding_name="o200k_base", max_attempts=5, logging_level=40))
print(json.dumps({"wall": time.monotonic() - wall, "cpu": time.process_time() - cpu}))
"""


def run_client(argv: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", *argv], capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"a client failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_qagen(url: str, count: int, concurrency: int, latency: float, folder: Path) -> dict[str, float]:
    out = Path(tempfile.mkdtemp(dir=folder))
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    return run_client([QAGEN_CLIENT, url, str(count), str(concurrency), str(out), PROMPT], env)


def run_peer(url: str, count: int, concurrency: int, latency: float, folder: Path) -> dict[str, float]:
    requests = folder / "requests.jsonl"
    with requests.open("w") as file:
        for i in range(count):
            file.write(json.dumps({"model": "gpt-4o-mini", "max_tokens": 400,
                                   "messages": [{"role": "user", "content": f"{i} {PROMPT}"}]}) + "\n")
    results = folder / "results.jsonl"
    results.unlink(missing_ok=True)
    env = {**os.environ, "TIKTOKEN_CACHE_DIR": str(tiktoken_cache(folder))}
    rpm = concurrency / latency * 60
    return run_client([PEER_CLIENT, str(PEER), str(requests), str(results), f"{url}/chat/completions", str(rpm)], env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.2, help="simulated model latency in seconds")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[32, 100])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    clients = [("qagen", run_qagen)]
    why_not = peer_missing()
    if why_not:
        print(f"cookbook: skipped, {why_not}")
    else:
        clients.append(("cookbook", run_peer))
    print(f"{args.requests} requests, {args.latency} s latency, median of {args.rounds} rounds")
    print(f"{'client':>9} {'in flight':>9} {'req/s':>8} {'ideal':>7} {'of ideal':>8} {'CPU ms/req':>10}")
    folder = Path(tempfile.mkdtemp())
    for concurrency in args.concurrency:
        cpu_per_request: dict[str, float] = {}
        for name, run in clients:
            rounds = []
            for _ in range(args.rounds):
                server = Server(UNLIMITED, UNLIMITED, args.latency)
                try:
                    rounds.append(run(server.url, args.requests, concurrency, args.latency, folder))
                finally:
                    server.close()
            wall = sorted(r["wall"] for r in rounds)[len(rounds) // 2]
            cpu = sorted(r["cpu"] for r in rounds)[len(rounds) // 2]
            rate, ideal = args.requests / wall, concurrency / args.latency
            cpu_per_request[name] = cpu / args.requests * 1000
            print(f"{name:>9} {concurrency:>9} {rate:8.1f} {ideal:7.1f} {rate / ideal:8.0%} {cpu_per_request[name]:10.2f}")
        if "cookbook" in cpu_per_request:
            print(f"{'':>9} {concurrency:>9} qagen's CPU per request / the cookbook's: "
                  f"{cpu_per_request['qagen'] / cpu_per_request['cookbook']:.2f}")


if __name__ == "__main__":
    main()
