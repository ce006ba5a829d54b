"""How the main command grows with the corpus: CPU, wall time and memory of offline runs of 1 / 10 / 50 MB.

The corpus is real documentation text already on this machine, so the chunker, the offline
generator, the checks, dedupe and the "I don't know" check see the vocabulary and shapes of real
documents: the docstrings of Python's standard library (read with ``ast``, nothing is imported),
the Markdown / reStructuredText / text files of the installed packages, and /usr/share/doc (its
gzipped changelogs and READMEs decompressed; copyright files and exact duplicates left out). The
files are shuffled with a fixed seed and taken in that order until the size is reached, so the
1 MB corpus is the start of the 10 MB one. Each corpus is written once under
``$XDG_CACHE_HOME/qagen-bench/scale`` (else ``~/.cache/...``) and reused.

Each size runs ``qagen CORPUS -o OUT --quiet`` offline in its own process (``qagen.cli.main``);
``os.wait4`` gives that process's CPU (user + system) and peak resident memory. Printed per size:
CPU s, wall s, peak MB, MB of memory per MB of input, the CPU of each stage when report.json
holds ``stage_cpu_seconds``, and the growth exponent of CPU and memory between consecutive sizes
(1.0 is linear, 2.0 quadratic).

    python benchmarks/scale.py                 # 1, 10 and 50 MB
    python benchmarks/scale.py --sizes 1,10    # fewer sizes
    python benchmarks/scale.py --keep out/     # keep each run's output folder under out/<size>MB

Measured on this project's 2-core build machine, one run after the other (the machine is shared,
and CPU time runs higher while the other core is busy), on the corpus built as above (25,299
chunks and 24,051 kept pairs at 50 MB):

    size    before: main at dd8c9ee             after: branch i-scale (main merged in)
            CPU s   wall s  peak MB  MB/MB      CPU s   wall s  peak MB  MB/MB
    1 MB      3.6      3.7      259    259        3.4      3.4      245    245
    10 MB    37.7     37.8      591     59       25.8     25.8      510     51
    50 MB   376.9    378.7     1799     36      127.6    127.5     1363     27

    growth exponent of CPU: before 1.02 (1 -> 10 MB), 1.43 (10 -> 50 MB); after 0.89, 0.99
    after, CPU s by stage at 50 MB: read 8.5, generate 33.5 (the offline generator), check 38.4
    (grounding), idk 32.6 (of it: finding names 18, the BM25 index 4.5, checking 3,811
    candidates 4.9), dedupe 0.7, dataset 1.3; writing the files and the review page the rest

Before the review page and chunks.jsonl came to main (main at e9d8de9 against this change on
it), 50 MB took 363.4 s and 1,536 MB before, 111.2 s and 755 MB after. The I-don't-know stage
alone, on the same 50 MB of chunks: 191.5 s before, 28.4 s after (10.7 and 5.0 s at 10 MB).
train.jsonl, valid.jsonl, pairs.jsonl, rejects.jsonl and chunks.jsonl are byte-identical before
and after at 1, 10 and 50 MB. 50 MB is still above the 60 s of CPU aimed at: what is left is
spread over the offline generator, grounding and name finding, each linear in the corpus.

Then (2026-12-03, on a build machine where a fixed pure-Python loop, printed first, takes 0.62 s),
main at 98cd5ff against the faster reading, chunking, generator, grounding and name finding, one run
after the other, same corpus (25,318 chunks, 23,179 kept pairs at 50 MB), outputs byte-identical at
1, 10 and 50 MB:

    50 MB    before 282.4 s CPU, 753 MB peak; after 177.4 s CPU (0.63x), 685 MB peak
    by stage before -> after: read 18.4 -> 13.8, generate 82.4 -> 51.9, check 85.9 -> 48.8,
    idk 66.8 -> 51.8, dedupe 1.3 -> 1.5, dataset 2.3 -> 2.3; the rest 25 -> 7
    after, 1 MB 5.5 s, 10 MB 37.2 s; CPU exponent 0.97 from 10 to 50 MB

Still above 60 s: what is left is spread thin, the regex engine and the tokenizers (BM25 terms, the
exact token counts) about a fifth of the profiled time, the rest Python work per line and word in each stage.

The review page was then made from the written files as one string (the data, its JSON, the escaped
JSON, the page): writing it as it is made, a row at a time, took the 50 MB run's peak memory from
1,340 MB to 731 MB (26.8 to 14.6 MB per MB of input; CPU 127.9 and 126.9 s), and the growth exponent
of memory from 10 to 50 MB to 0.47.

Then (2026-12-04), main at 954de20 against the same with the checks, the "I don't know" stage and the
offline generator reworked, one run after the other (the loop printed first took 0.60 s before and
0.68 s after; this machine's speed moved by up to half during the session, so only back-to-back runs
compare); outputs byte-identical at 1, 10 and 50 MB (25,371 chunks, 23,386 kept pairs at 50 MB):

    size    before: main at 954de20             after
            CPU s   wall s  peak MB             CPU s   wall s  peak MB
    1 MB      5.2      5.3      142               3.9      4.1      139
    10 MB    30.5     30.6      267              23.9     24.4      293
    50 MB   153.9    154.5      686             105.0    105.2      689     (0.68x)
    50 MB   164.7    167.9      686              89.9     89.6      689     (0.55x; a second pair, after first,
                                                                              loop 0.52 s after, 0.68 s before)

    by stage at 50 MB, before -> after: read 12.6 -> 13.0, generate 42.8 -> 29.8, check 42.2 -> 19.0,
    idk 42.7 -> 32.5, dedupe 1.2 -> 1.5, dataset 3.4 -> 2.1; CPU exponent 1.01 -> 0.92 from 10 to 50 MB

What did it: grounding builds a chunk's windows and profiles only when a pair needs them, and only those
whose text holds the answer's anchors (and none for a verbatim answer the question asks nothing near);
the corpus's terms are looked up per term asked, not read from every chunk; the "I don't know" check finds
the passages meeting its rules by set operations on postings instead of testing each chunk near a key term
(the part that grew faster than the corpus: 11.7 -> 2.4 s at 50 MB); the offline generator makes its
fallback questions and looks for result rows only when it gets to them; a generation prompt is counted
around its chunk, whose count chunking already has. Still above 60 s at 50 MB: the largest parts left are
finding names for the "I don't know" questions (about 15 s, a Python loop over every word), the offline
generator's sentence scoring and questions (about 20 s), the BM25 index (about 8 s, of it 3.5 tokenizing)
and the splitter's Python work around the exact token counts (about 5.5 s beyond counting the corpus once).

Then (2026-12-04, a later session; the loop printed first took 0.31-0.43 s), main at b6ccf09 against the
same with names found by one regex per passage, an offline "I don't know" index of only the terms its
questions can hold, windows read only as far as pairs look, the offline generator's names scan counting
the capitals and each sentence split once, a document's lines counted once with running sums, the
offline journal synced once at the end, what each stage keeps moved out of the cycle collector's sight,
and the review page taking its rows as written. Outputs byte-identical at 1, 10 and 50 MB:

    size    before: main at b6ccf09             after
            CPU s   wall s  peak MB             CPU s   wall s  peak MB
    1 MB      2.2      2.3      140               1.9      1.9      137
    10 MB    14.4     14.4      293              12.1     12.1      270
    50 MB    67.4     67.2      690              55.0     55.2      586     (0.82x)
    50 MB    70.7     70.5      690              54.2     54.3      587     (0.77x; loop 0.43 s before, 0.34 s after)
    50 MB    67.6     67.4      690              57.2     57.4      587     (0.85x; loop 0.32 s before, 0.33 s after)

    by stage at 50 MB (first pair), before -> after: read 7.1 -> 6.7, generate 20.6 -> 17.9, check 11.7 -> 9.4,
    idk 21.2 -> 15.6, dedupe 0.8 -> 0.8, dataset 1.5 -> 0.8; the rest (start-up, output files, review page,
    exit) 4.5 -> 3.8; CPU exponent 10 -> 50 MB 0.94, memory exponent 0.48 (11.7 MB of memory per MB of input)

Keeping 256 chunk profiles for the checks instead of 4,096 then took the peak down without costing CPU: the
last run, 1 MB 2.1 s and 135 MB, 10 MB 11.9 s and 235 MB, 50 MB 55.8 s and 535 MB (10.7 MB per MB of input;
memory exponent 10 -> 50 MB 0.51, CPU exponent 0.96).

Six runs of the final code at 50 MB took 54.2 to 60.3 s (the 60.3 s one while the loop took 0.35 s): under
60 s at this machine's usual speed, by a few seconds only. What is left is Python work per word, line and
sentence in each stage: finding names is most of the 15.6 s "I don't know" stage, the offline generator's
extract_pairs about 15 of the 17.9 s of generating, building and reading windows about a third of the
checks, and counting the corpus's tokens once 3.4 of the 6.7 s of reading.
"""

from __future__ import annotations

import argparse
import ast
import gzip
import hashlib
import json
import math
import os
import random
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from itertools import pairwise
from pathlib import Path

MEGABYTE = 2**20
CORPUS_VERSION = "1"  # bump when the way the corpus is built changes, so old caches are not reused
_TEXT_SUFFIXES = (".md", ".rst", ".txt")
_MARKUP_SUFFIXES = (".md", ".rst")
_RUN = "import sys; from qagen.cli import main; sys.exit(main(sys.argv[1:]))"


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "qagen-bench" / "scale"


def stdlib_documents() -> list[tuple[str, str]]:
    """One Markdown document per standard-library module: its docstrings under headings."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    found = []
    for path in sorted(stdlib.rglob("*.py")):
        parts = set(path.relative_to(stdlib).parts)
        if parts & {"site-packages", "test", "tests", "idle_test"}:
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        module = ".".join(path.relative_to(stdlib).with_suffix("").parts)
        sections = []
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc and len(doc) > 80:
                    title = module if isinstance(node, ast.Module) else f"{module}.{node.name}"
                    sections.append(f"## {title}\n\n{doc}\n")
        if sections:
            found.append((f"stdlib/{module}.md", f"# {module}\n\n" + "\n".join(sections)))
    return found


def _readable(data: bytes) -> str | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if "\x00" not in text and text.strip() else None


def file_documents(root: Path, label: str) -> list[tuple[str, str]]:
    """Text files under ``root``: Markdown, reST, text, and gzipped changelogs / READMEs / NEWS."""
    found = []
    if not root.is_dir():
        return found
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not path.is_file() or path.name.startswith("copyright"):
            continue
        name = path.name.lower()
        try:
            if name.endswith(".gz"):
                inner = name[:-3]
                if not (inner.endswith(_TEXT_SUFFIXES) or inner.startswith(("changelog", "readme", "news"))):
                    continue
                if path.stat().st_size > 4 * MEGABYTE:
                    continue
                data = gzip.decompress(path.read_bytes())
            elif name.endswith(_TEXT_SUFFIXES) or name.startswith(("readme", "news", "changelog")):
                data = path.read_bytes()
                inner = name
            else:
                continue
        except (OSError, EOFError, gzip.BadGzipFile):
            continue
        text = _readable(data)
        if text is None:
            continue
        suffix = ".md" if inner.endswith(_MARKUP_SUFFIXES) else ".txt"
        stem = "-".join(path.relative_to(root).parent.parts + (inner,)).replace(" ", "_")
        stem = stem.removesuffix(".md").removesuffix(".rst").removesuffix(".txt")[:120]
        found.append((f"{label}/{stem}{suffix}", text))
    return found


def all_documents() -> list[tuple[str, str]]:
    """Every document, exact duplicates removed, in a fixed shuffled order."""
    site = Path(sysconfig.get_paths()["purelib"])
    candidates = stdlib_documents() + file_documents(site, "packages") + file_documents(Path("/usr/share/doc"), "doc")
    seen: set[bytes] = set()
    unique = []
    for name, text in candidates:
        digest = hashlib.sha256(text.encode("utf-8")).digest()
        if digest not in seen:
            seen.add(digest)
            unique.append((name, text))
    unique.sort()
    random.Random(f"qagen-scale-{CORPUS_VERSION}").shuffle(unique)
    return unique


def build_corpus(megabytes: float) -> Path:
    """The corpus of about ``megabytes`` MB, written once under the cache folder."""
    folder = cache_root() / f"v{CORPUS_VERSION}-{megabytes:g}MB"
    if (folder / ".complete").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    wanted = round(megabytes * MEGABYTE)
    written = 0
    documents = all_documents()
    for number, (name, text) in enumerate(documents):
        if written >= wanted:
            break
        data = text.encode("utf-8")[: wanted - written]
        text = data.decode("utf-8", errors="ignore")  # a cut inside a character drops that character
        target = folder / f"{number:05d}-{name.replace('/', '-')}"
        target.write_text(text, encoding="utf-8")
        written += len(text.encode("utf-8"))
    if written < wanted:
        print(f"note: only {written / MEGABYTE:.1f} MB of text found for the {megabytes:g} MB corpus", file=sys.stderr)
    (folder / ".complete").write_text(f"{written}\n")
    return folder


def corpus_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if not p.name.startswith("."))


def run_once(corpus: Path, out: Path) -> dict:
    """Run the main command offline in a child process; its CPU, wall time, peak memory and report."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "QAGEN_"))}
    started = time.perf_counter()
    # Started in the out folder's parent: ``python -c`` puts its working directory first on the
    # import path, and a qagen checkout there would be measured instead of the one PYTHONPATH names.
    child = subprocess.Popen(
        [sys.executable, "-c", _RUN, str(corpus), "-o", str(out), "--quiet", "--model", "offline"],
        env=env, cwd=out.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    assert child.stderr is not None
    errors = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if child.returncode not in (0, 4):
        raise SystemExit(f"qagen exited {child.returncode} on {corpus}: {errors.decode(errors='replace')[-2000:]}")
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return {
        "cpu": usage.ru_utime + usage.ru_stime,
        "wall": wall,
        "peak_mb": usage.ru_maxrss / 1024,  # Linux reports kilobytes
        "stages": report.get("stage_cpu_seconds") or {},
        "chunks": report.get("chunks"),
        "pairs": report.get("pairs_kept"),
    }


def exponent(small: float, large: float, size_small: float, size_large: float) -> float:
    if small <= 0 or large <= 0 or size_small == size_large:
        return float("nan")
    return math.log(large / small) / math.log(size_large / size_small)


def machine_speed() -> float:
    """CPU seconds of a fixed pure-Python loop (ten million additions), so figures taken on different
    machines can be compared: the same qagen takes about as many times longer as this does."""
    started = time.process_time()
    total = 0
    for number in range(10_000_000):
        total += number
    return time.process_time() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,50", help="corpus sizes in MB, comma-separated (default 1,10,50)")
    parser.add_argument("--keep", type=Path, help="keep each run's output folder under this folder")
    args = parser.parse_args(argv)
    sizes = [float(s) for s in args.sizes.split(",") if s.strip()]

    print(f"machine: a fixed pure-Python loop takes {machine_speed():.2f} s of CPU here", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="qagen-scale-") as scratch:
        for size in sizes:
            corpus = build_corpus(size)
            out = (args.keep.resolve() / f"{size:g}MB") if args.keep else Path(scratch) / f"{size:g}MB"
            if out.exists():
                shutil.rmtree(out)
            out.parent.mkdir(parents=True, exist_ok=True)
            measured = run_once(corpus, out)
            measured["size"] = size
            measured["input_mb"] = corpus_bytes(corpus) / MEGABYTE
            rows.append(measured)
            stages = "  ".join(f"{name} {seconds:.1f}" for name, seconds in measured["stages"].items())
            print(
                f"{size:>6g} MB  {measured['input_mb']:7.2f} MB read  {measured['chunks']} chunks  {measured['pairs']} pairs kept  "
                f"CPU {measured['cpu']:7.1f} s  wall {measured['wall']:7.1f} s  peak {measured['peak_mb']:7.0f} MB  "
                f"{measured['peak_mb'] / max(measured['input_mb'], 1e-9):6.1f} MB/MB"
                + (f"\n        stage CPU s: {stages}" if stages else ""),
                flush=True,
            )
    for small, large in pairwise(rows):
        cpu = exponent(small["cpu"], large["cpu"], small["input_mb"], large["input_mb"])
        peak = exponent(small["peak_mb"], large["peak_mb"], small["input_mb"], large["input_mb"])
        print(f"{small['size']:g} -> {large['size']:g} MB: CPU x{large['cpu'] / small['cpu']:.2f} "
              f"(exponent {cpu:.2f}), peak memory x{large['peak_mb'] / small['peak_mb']:.2f} (exponent {peak:.2f})")
        for name in large["stages"]:
            if small["stages"].get(name, 0) > 0.05 and large["stages"][name] > 0:
                print(f"    {name}: exponent {exponent(small['stages'][name], large['stages'][name], small['input_mb'], large['input_mb']):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
