"""Run qagen from Python with ``qagen.generate``, and look at what it made.

    python examples/library_run.py [FOLDER] [OUT]

With OPENAI_API_KEY set it uses gpt-4o-mini; otherwise the built-in offline generator.
The second half shows a model of your own: any object with ``name`` and ``async complete``.
"""

from __future__ import annotations

import json
import sys

import qagen
from qagen.progress import Reporter
from qagen.records import Completion, Request


class PrintNotes(Reporter):
    """A minimal reporter: print notices and one line per failed chunk (the library itself prints nothing)."""

    def note(self, message: str) -> None:
        print(message)

    def chunk_failed(self, chunk_id: str, reason: str) -> None:
        print(f"chunk {chunk_id} failed: {reason}")


class FirstSentenceModel:
    """A ChatModel of our own: one question per chunk, answered with the chunk's first sentence."""

    name = "first-sentence"

    async def complete(self, request: Request) -> Completion:
        sentence = request.passage.split(". ")[0].strip().rstrip(".") + "."
        opening = " ".join(sentence.split()[:4])
        reply = json.dumps([{"question": f"What does the passage that opens with '{opening}' say first?", "answer": sentence}])
        return Completion(text=reply, finish_reason="stop", prompt_tokens=0, completion_tokens=0)

    async def aclose(self) -> None:
        pass


def main() -> int:
    folder = sys.argv[1] if len(sys.argv) > 1 else "corpus"
    out = sys.argv[2] if len(sys.argv) > 2 else "out-example"
    try:
        # Keyword arguments are the settings, named like the flags: pairs_per_chunk is -n / --pairs-per-chunk.
        result = qagen.generate(folder, out=out, pairs_per_chunk=3, valid_fraction=0.2, reporter=PrintNotes())
        own = qagen.generate(folder, out=f"{out}-own-model", model=FirstSentenceModel(), idk_ratio=0)
    except qagen.QagenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    report = result.report
    print(f"{len(result.pairs)} pairs kept, {len(result.rejects)} rejected, from {report.files_read} files")
    for pair in result.pairs[:3]:  # every pair traces back to its file and chunk
        print(f"  [{pair.source} {pair.chunk_id}] {pair.question} -> {pair.answer[:60]}")
    print("files:", ", ".join(f"{name}={path}" for name, path in result.paths.items()))
    print(f"own model: {len(own.pairs)} pairs written to {own.paths['train']}")
    return 0 if report.complete and own.report.complete else 3


if __name__ == "__main__":
    sys.exit(main())
