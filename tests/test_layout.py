"""The package's shape: imports go one way, modules stay small, every package ships, the CLI starts light."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from helpers import REPO

PACKAGE = REPO / "qagen"

# Low to high: a module may import its own package and anything in a lower layer, nothing else.
LAYERS: list[set[str]] = [
    {"errors", "redaction"},
    {"records", "schema"},
    {"options"},
    {"settings"},
    {"progress", "outfolder"},
    {"review"},  # reads the out folder's files; only the pipeline and the commands use it
    {"documents", "replies"},
    {"llm"},
    {"quality"},
    {"dataset"},
    {"finetune", "evaluate"},
    {"pipeline"},
    {"cli"},
]
LAYER_OF = {name: level for level, names in enumerate(LAYERS) for name in names}
MAX_MODULE_LINES = 500


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _top(path: Path) -> str:
    """The top-level unit of qagen a file belongs to: its package, or its own name for a lone module."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def _imported_units(path: Path) -> set[str]:
    """The qagen units a module imports, at any depth in the file (lazy imports count too)."""
    units: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + ([f"{node.module}.{a.name}" for a in node.names] if node.module == "qagen" else [])
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "qagen" and len(parts) > 1 and parts[1] in LAYER_OF:
                units.add(parts[1])
    return units


def import_violations() -> list[str]:
    problems = []
    for path in _modules():
        unit = _top(path)
        if unit not in LAYER_OF:  # qagen/__init__.py and __main__.py: the entry points may use anything
            continue
        for imported in _imported_units(path) - {unit}:
            if LAYER_OF[imported] >= LAYER_OF[unit]:
                problems.append(f"{path.relative_to(REPO)} ({unit}) imports qagen.{imported}")
    return sorted(problems)


def test_imports_go_one_way() -> None:
    assert import_violations() == []


# Units that may import a unit even though it sits below them: only these use the review page.
ONLY_IMPORTED_BY = {"review": {"pipeline", "cli"}}


def test_the_review_page_is_imported_only_by_the_pipeline_and_the_commands() -> None:
    for path in _modules():
        unit = _top(path)
        for imported in (_imported_units(path) - {unit}) & set(ONLY_IMPORTED_BY):
            assert unit in ONLY_IMPORTED_BY[imported] | {"__init__", "__main__"}, f"{path.relative_to(REPO)} imports qagen.{imported}"


def test_the_import_check_catches_an_upward_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "qagen"
    (fake / "documents").mkdir(parents=True)
    (fake / "documents" / "loading.py").write_text("from qagen.pipeline.runner import run\n")
    (fake / "llm").mkdir()
    (fake / "llm" / "asker.py").write_text("def f():\n    from qagen.records import Pair\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    assert import_violations() == ["qagen/documents/loading.py (documents) imports qagen.pipeline"]


def test_every_unit_of_the_package_has_a_layer() -> None:
    units = {_top(p) for p in _modules()} - {"__init__", "__main__"}
    assert units <= set(LAYER_OF), units - set(LAYER_OF)


def test_no_module_is_over_500_lines() -> None:
    long = {str(p.relative_to(REPO)): n for p in _modules() if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert long == {}


def test_every_package_is_in_the_wheel() -> None:
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    packages = {".".join(p.parent.relative_to(REPO).parts) for p in PACKAGE.rglob("__init__.py")}
    assert packages <= listed, packages - listed


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["validate", "--help"], ["finetune", "--help"], ["review", "--help"]])
def test_help_and_version_load_no_stage_sdk_or_splitter(argv: list[str]) -> None:
    probe = (
        "import sys\n"
        "from qagen.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('qagen.pipeline', 'qagen.review', 'qagen.quality', 'qagen.llm', 'qagen.documents', 'qagen.finetune', 'openai', 'langchain_text_splitters', 'jinja2',\n"
        "         'pdfminer', 'mammoth', 'pptx', 'ebooklib')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"
