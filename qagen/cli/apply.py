"""``qagen apply OUT_DIR DECISIONS``: apply a review's decisions by running the run recorded in OUT_DIR again.

The run's settings are in ``OUT_DIR/.qagen/settings.json`` (written by every run), so nothing has to
be typed again; its answers are in the journal, so no generation request is sent again. It is the
same as ``qagen CORPUS -o OUT_DIR --decisions DECISIONS`` with the earlier run's flags.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from qagen.cli import EXIT_INTERRUPTED
from qagen.errors import ConfigError, OutputError
from qagen.outfolder import RUN_SETTINGS, STATE_DIR
from qagen.progress import terminal_safe
from qagen.settings import Settings, resolve


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qagen apply",
        description="Apply a review's decisions.jsonl (keep, drop, edit) to the dataset in OUT_DIR, "
                    "by running its run again from the journal; the decisions are kept there for later runs.",
    )
    parser.add_argument("out_dir", type=Path, help="a qagen out folder")
    parser.add_argument("decisions", type=Path, help="the decisions.jsonl the review page exported")
    parser.add_argument("-q", "--quiet", action="store_true", default=None, help="no progress bar or notices; the summary still prints")
    return parser


def recorded_settings(out_dir: Path, decisions: Path, *, quiet: bool | None) -> Settings:
    """The settings of the run recorded in ``out_dir``, with ``decisions`` to apply."""
    path = out_dir / STATE_DIR / RUN_SETTINGS
    if not path.exists():
        what = "is not a qagen out folder" if not (out_dir / STATE_DIR).is_dir() else "holds no record of its run's settings (made by an older qagen)"
        raise ConfigError(f"{out_dir} {what}; run qagen CORPUS -o {out_dir} --decisions {decisions} instead.")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        corpus, given = Path(record["corpus"]), dict(record["settings"])
        own_model = bool(record.get("own_model"))
    except (OSError, ValueError, KeyError, TypeError):
        raise OutputError(f"{path} is damaged; run qagen CORPUS -o {out_dir} --decisions {decisions} instead.") from None
    if own_model:
        raise ConfigError(f"the run in {out_dir} used a model object passed to qagen.generate, which qagen cannot make again; "
                          "call qagen.generate with the same model and decisions=... instead.")
    given |= {"out": out_dir, "decisions": decisions, "quiet": quiet}
    # The key from the environment as for any run; the endpoint is the recorded one, not OPENAI_BASE_URL's.
    env = {"OPENAI_API_KEY": os.environ["OPENAI_API_KEY"]} if os.environ.get("OPENAI_API_KEY") else {}
    return resolve(Settings, given, env=env, given_as="argument", corpus=corpus)


def run(argv: Sequence[str]) -> int:
    from qagen.cli.generate import _generate

    args = build_parser().parse_args(argv)
    settings = recorded_settings(args.out_dir, args.decisions, quiet=args.quiet)
    try:
        return _generate(settings)
    except KeyboardInterrupt:
        print("\n" + terminal_safe(f"interrupted: run qagen apply {args.out_dir} {args.decisions} again to finish."), file=sys.stderr)
        return EXIT_INTERRUPTED
