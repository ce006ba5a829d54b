"""qagen: turn a folder of documents into a question/answer dataset for fine-tuning.

    import qagen
    result = qagen.generate("docs/", out="data/", model="gpt-4o-mini", pairs_per_chunk=3)
    result.pairs, result.rejects, result.report, result.paths
    result = await qagen.agenerate("docs/", ...)    # inside a running event loop
    qagen.generate("docs/", model=my_chat_model)    # any object with the ChatModel protocol

Keyword arguments are the settings, named like the command's flags (``chunk_size``,
``system``, ``refusal``); each is checked once and a bad one raises ``QagenError``. The key
comes from ``OPENAI_API_KEY`` and the endpoint from ``base_url`` or ``OPENAI_BASE_URL``;
``QAGEN_*`` variables and config files are the command line's, not read here.

Nothing heavy loads at import: the settings, the pipeline, the SDK and the text splitter load on
first use. (``qagen`` is imported before the command line can guard against a Ctrl-C, so the less
it runs, the less of start-up is unguarded.)
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from qagen.errors import QagenError

if TYPE_CHECKING:
    from qagen.llm.model import ChatModel
    from qagen.pipeline.runner import Result
    from qagen.progress import Reporter
    from qagen.settings import Settings

__version__ = "0.1.0"
__all__ = ["ChatModel", "QagenError", "Result", "Settings", "agenerate", "generate", "settings_for"]


def settings_for(corpus: str | os.PathLike[str], *, model: str | ChatModel | None = None, **settings: Any) -> Settings:
    """The checked Settings that ``generate`` would run with."""
    import dataclasses
    from pathlib import Path

    from qagen.settings import Settings, resolve

    env = {name: value for name, value in os.environ.items() if name.startswith("OPENAI_")}
    if model is None or isinstance(model, str):
        return resolve(Settings, {"model": model, **settings}, env=env, given_as="argument", corpus=Path(corpus))
    checked = resolve(Settings, {"model": "offline", **settings}, env=env, given_as="argument", corpus=Path(corpus))
    # The caller's own model: its name goes in the report; no endpoint or key is needed.
    return dataclasses.replace(checked, model=str(getattr(model, "name", type(model).__name__)), model_was_defaulted=False)


async def agenerate(
    corpus: str | os.PathLike[str],
    *,
    model: str | ChatModel | None = None,
    reporter: Reporter | None = None,
    **settings: Any,
) -> Result:
    """Generate a dataset from the documents in ``corpus``; see ``generate``."""
    from qagen.pipeline.runner import run_async

    checked = settings_for(corpus, model=model, **settings)
    return await run_async(checked, reporter, model=None if model is None or isinstance(model, str) else model)


def generate(
    corpus: str | os.PathLike[str],
    *,
    model: str | ChatModel | None = None,
    reporter: Reporter | None = None,
    **settings: Any,
) -> Result:
    """Generate a dataset from the documents in ``corpus`` into ``out`` (default ``out/``).

    ``model`` is a model name at the endpoint, ``"offline"`` (the default without a key), or
    any object with the ``ChatModel`` protocol. ``reporter`` hears of progress; the library
    prints nothing. With ``max_cost`` (dollars), a run the cap stops raises ``qagen.errors.BudgetReached``
    after writing its files; its ``result`` is what the run made. Called inside a running event loop (Jupyter), the run goes to a worker
    thread with its own loop; ``await agenerate(...)`` avoids that.
    """
    import asyncio  # here, not at the top: `qagen --version` should not pay for it
    import concurrent.futures

    work = agenerate(corpus, model=model, reporter=reporter, **settings)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(work)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, work).result()


def __getattr__(name: str) -> Any:
    # The heavier names load on first use, so `import qagen` stays fast.
    if name == "Settings":
        from qagen.settings import Settings

        return Settings
    if name == "Result":
        from qagen.pipeline.runner import Result

        return Result
    if name == "ChatModel":
        from qagen.llm.model import ChatModel

        return ChatModel
    raise AttributeError(f"module 'qagen' has no attribute {name!r}")
