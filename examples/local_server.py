"""Generate a dataset with a model served locally (Ollama, vLLM, llama.cpp server, LM Studio).

    # Ollama:    ollama pull qwen2.5:7b   (serves http://localhost:11434/v1)
    # vLLM:      vllm serve Qwen/Qwen2.5-7B-Instruct   (serves http://localhost:8000/v1)
    python examples/local_server.py http://localhost:11434/v1 qwen2.5:7b [FOLDER]

A local server needs no API key. Small local models follow the output format less
reliably than hosted ones; whatever cannot be parsed lands in rejects.jsonl with the
raw reply, and the report shows how many pairs each chunk yielded.
"""

from __future__ import annotations

import sys
from pathlib import Path

import qagen
from qagen.pipeline.report import summary


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    base_url, model = sys.argv[1], sys.argv[2]
    folder = Path(sys.argv[3] if len(sys.argv) > 3 else "corpus")
    settings = {
        "base_url": base_url,
        "out": Path("out-local"),
        "pairs_per_chunk": 4,
        # A single local GPU serves a few requests at a time well; more only queue up.
        "concurrency": 4,
        # Local models can be slow to start: allow a long first reply.
        "timeout": 300.0,
    }
    try:
        report = qagen.generate(folder, model=model, **settings).report
    except qagen.QagenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(summary(report))
    return 0 if report.complete else 3


if __name__ == "__main__":
    sys.exit(main())
