"""``qagen eval OUT_DIR``: ask a model the held-out questions and score its answers."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qagen.cli import EXIT_INCOMPLETE, EXIT_INTERRUPTED
from qagen.cli.options import Parser, add_options, given, say
from qagen.progress import terminal_safe
from qagen.options import EVAL_OPTIONS
from qagen.settings import EvalSettings, resolve


def run(argv: Sequence[str]) -> int:
    parser = Parser(
        prog="qagen eval",
        description="Ask a model the validation questions and the held-out I-don't-know probes of a run, and score its answers.",
    )
    parser.add_argument("out_dir", type=Path, help="the out folder of a qagen run")
    add_options(parser, EVAL_OPTIONS)
    args = parser.parse_args(argv)
    settings = resolve(EvalSettings, given(args, EVAL_OPTIONS), out_dir=args.out_dir)

    from qagen.evaluate.identity import ModelIdentity, adapter_identity, endpoint_identity
    from qagen.evaluate.runner import evaluate, load_eval_items, render_eval, write_eval

    items = load_eval_items(settings.out_dir, split=settings.split)
    model: Any
    identity: ModelIdentity | None = None
    if settings.adapter:
        from qagen.finetune.trainer import LocalModel

        model = LocalModel(settings.adapter, settings.base_model)
        identity = adapter_identity(model.name, settings.adapter, model.base_model)
    else:
        assert settings.model is not None  # EvalSettings asks for a model or an adapter
        model = _endpoint_model(settings.model, settings)
    judge = _endpoint_model(settings.judge_model, settings) if settings.judge_model else None

    async def identify(name: str) -> ModelIdentity:
        return await endpoint_identity(name, base_url=settings.base_url, api_key=settings.api_key, timeout=settings.timeout)

    async def ask_and_score() -> Any:
        try:
            return await evaluate(
                items, model, concurrency=settings.concurrency, judge_model=judge, f1_threshold=settings.f1_threshold,
                say=say, resume_dir=settings.out_dir / "eval", fresh=settings.fresh,
                identity=identity or await identify(model.name),
                judge_identity=await identify(judge.name) if judge is not None else None,
            )
        finally:
            await model.aclose()
            if judge is not None:
                await judge.aclose()

    try:
        report = asyncio.run(ask_and_score())
    except KeyboardInterrupt:
        print("\n" + terminal_safe(f"interrupted: answers so far are saved in {settings.out_dir / 'eval'}; run the same command again to continue."), file=sys.stderr)
        return EXIT_INTERRUPTED
    path = write_eval(report, settings.out_dir)
    print(terminal_safe(render_eval(report), keep_newlines=True))
    print(terminal_safe(f"scores written to {path}"))
    return 0 if not report.failures else EXIT_INCOMPLETE


def _endpoint_model(name: str, settings: EvalSettings) -> Any:
    from qagen.documents.tokens import counter_for
    from qagen.llm.client import OpenAIChatModel

    return OpenAIChatModel(
        name, base_url=settings.base_url, api_key=settings.api_key, timeout=settings.timeout,
        max_attempts=settings.max_attempts, max_retry_wait=settings.max_retry_wait, count_tokens=counter_for(name),
        on_retry=lambda reason, wait: say(f"retrying after {reason} in {wait:.1f} s"), on_notice=say,
    )
