"""The review page of a big run: how long `qagen review` takes to write it, and how long chromium takes to open it and filter.

Builds a synthetic out folder (N pairs, five per chunk, over files of 100 chunks each, as a run writes them),
writes its page with `qagen review`, then, where Debian's chromium and chromedriver and selenium are
installed, opens it from disk headless and measures inside the page: the navigation until the load event
(the data parsed and the first 50 pairs drawn), a search typed into the box, a kind filter, the next page, and
the coverage tab (a bar per chunk).
Each figure is the best of a few rounds, next to the budget the page was built to stay within
("opens and filters in a few seconds" for 100,000 pairs).

    python benchmarks/review_page.py [--pairs 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
import time
from pathlib import Path

from qagen.cli import main

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
OPEN_BUDGET_S = 3.0
FILTER_BUDGET_S = 1.0

MEASURE_FILTERS = """
// Reading offsetHeight makes the browser lay the page out, so a figure includes layout, not only the script.
const time = (act) => { const start = performance.now(); act(); void document.body.offsetHeight; return (performance.now() - start) / 1000; };
const search = document.getElementById("pairs-search");
const typed = time(() => { search.value = "island 7"; search.dispatchEvent(new Event("input")); });
const found = Number(document.getElementById("pairs-count").dataset.total);
const cleared = time(() => { search.value = ""; search.dispatchEvent(new Event("input")); });
const kind = document.getElementById("pairs-kind");
const kinds = time(() => { kind.value = "grounded"; kind.dispatchEvent(new Event("change")); });
const next = time(() => document.querySelector("nav.pager button.next").click());
const coverage = time(() => document.getElementById("tab-coverage").click());
return {"search typed": typed, found, "search cleared": cleared, "kind filter": kinds, "next page": next, "coverage tab": coverage};
"""


def build_out_folder(out: Path, pair_count: int) -> None:
    chunk_count = max(1, pair_count // 5)
    (out / ".qagen").mkdir(parents=True)
    chunks = [{"id": f"{i:016x}", "source": f"docs/file-{i // 100}.md", "page": None, "section": f"Part {i % 7}",
               "text": f"Section {i} says the ferry to island {i % 40} leaves at {i % 24:02d}:15 from pier {i % 9}. " * 3}
              for i in range(chunk_count)]
    pairs = [{"id": f"{i // 5:016x}-{i % 5}", "question": f"When does the ferry to island {(i // 5) % 40} leave?",
              "answer": f"At {(i // 5) % 24:02d}:15 from pier {(i // 5) % 9}.", "source": f"docs/file-{i // 500}.md",
              "chunk_id": f"{i // 5:016x}", "kind": "grounded" if i % 10 else "idk", "page": None, "section": f"Part {(i // 5) % 7}",
              "split": "train", "grounding": 1.0, "judge_rating": None, "judge_reason": None} for i in range(pair_count)]
    rejects = [{"stage": "dedupe", "reason": "exact_duplicate", "detail": "Same question as pair x.", "raw": p["question"],
                "source": p["source"], "chunk_id": p["chunk_id"], "pair_id": p["id"], "page": None, "section": p["section"]}
               for p in pairs[: pair_count // 10]]
    coverage = [{"chunk_id": c["id"], "source": c["source"], "tokens": 40, "asked": 5, "generated": 5, "kept": 5 if i % 50 else 0,
                 "truncated": False, "status": "answered", "page": None, "section": c["section"]} for i, c in enumerate(chunks)]
    for name, rows in {"chunks.jsonl": chunks, "pairs.jsonl": pairs, "rejects.jsonl": rejects}.items():
        (out / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    report = {"coverage": coverage, "pairs_kept": pair_count, "settings": {}, "stages": {}, "files": []}
    (out / "report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")


def browser_figures(page: Path, rounds: int, profile: Path) -> dict[str, float] | str:
    """Seconds in the page (best of ``rounds``), or why the browser part was skipped."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        return "selenium is not installed"
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        return f"{CHROMIUM} or {CHROMEDRIVER} is missing"
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}", "--window-size=1280,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    best: dict[str, float] = {}
    try:
        for _ in range(rounds):
            started = time.perf_counter()
            driver.get(page.as_uri())
            wall = time.perf_counter() - started
            loaded = driver.execute_script("return performance.getEntriesByType('navigation')[0].loadEventEnd / 1000")
            figures = {"open (load event, in the page)": loaded, "open (driver.get, wall clock)": wall,
                       **{name: value for name, value in driver.execute_script(MEASURE_FILTERS).items()}}
            for name, value in figures.items():
                best[name] = value if name == "found" else min(best.get(name, value), value)
    finally:
        driver.quit()
    return best


def main_(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "out"
        build_out_folder(out, args.pairs)
        given = sum((out / name).stat().st_size for name in ("pairs.jsonl", "rejects.jsonl", "chunks.jsonl", "report.json"))
        writes = []
        for _ in range(args.rounds):
            started = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):  # the page's path, printed each round
                assert main(["review", str(out)]) == 0
            writes.append(time.perf_counter() - started)
        size = (out / "review.html").stat().st_size
        print(f"pairs {args.pairs:,}, chunks {args.pairs // 5:,}, rejects {args.pairs // 10:,}")
        print(f"qagen review      {min(writes):.2f} s (best of {args.rounds})")
        print(f"page size         {size / 2**20:.1f} MiB, {size / given:.2f} x the files it reads ({given / 2**20:.1f} MiB)")
        figures = browser_figures(out / "review.html", args.rounds, Path(folder) / "profile")
        if isinstance(figures, str):
            print(f"browser           skipped: {figures}")
            return
        found = int(figures.pop("found"))
        for name, seconds in figures.items():
            budget = OPEN_BUDGET_S if name.startswith("open") else FILTER_BUDGET_S
            print(f"{name:<34} {seconds:.3f} s (budget {budget:g} s, {seconds / budget:.2f} of it)")
        print(f"search 'island 7' matched {found:,} pairs")


if __name__ == "__main__":
    main_()
