"""``qagen review OUT_DIR``: write ``OUT_DIR/review.html`` again from the out folder's files."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from qagen.progress import terminal_safe


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qagen review",
        description="Write OUT_DIR/review.html: one self-contained page (no server, no network) showing every pair beside "
                    "its chunk, the rejects, coverage and the run's settings, with keep/drop/edit decisions to export.",
    )
    parser.add_argument("out_dir", type=Path, help="a qagen out folder")
    return parser


def run(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    # Imported after the parser, so that --help loads no page code.
    from qagen.review.page import write_review_page

    print(terminal_safe(str(write_review_page(args.out_dir))))
    return 0
