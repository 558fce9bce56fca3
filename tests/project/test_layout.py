"""The layout's rules, checked: no import cycles, no sys.path edits, pages never import the CLI, every docs
screenshot comes from a test of the running app, and the README stays a front door."""

import ast
import re
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "ui", "benchmarks")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """The modules (and names in them) a file imports, at the top or inside a function."""
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            targets |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return targets


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports, at the top or inside a function (a cycle either way)."""
    modules = {_module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}
    return {name: {t for t in imported(path) if t in modules and t != name} for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_in_the_project():
    assert cycles(import_graph()) == []


def test_the_trainer_holds_no_torch_distributed():
    """DDP is a strategy the trainer is handed (core/exec/ddp.py): nothing in core/run imports torch.distributed."""
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "core" / "run").rglob("*.py")
        if any(name == "torch.distributed" or name.startswith("torch.distributed.") for name in imported(path))
    ]
    assert offenders == []


def _project_files() -> list[Path]:
    folders = [*PACKAGES, "app_pages", "scripts", "tests"]
    return [ROOT / "app.py", *(p for folder in folders for p in (ROOT / folder).rglob("*.py"))]


def test_no_file_edits_sys_path():
    """The project installs as a package (scripts/setup_venv.sh: pip install -e .)."""
    pattern = re.compile(r"sys\.path\.(insert|append)|sys\.path\s*\+?=")
    offenders = [str(p.relative_to(ROOT)) for p in _project_files() if pattern.search(p.read_text())]
    assert offenders == [p for p in offenders if p == "tests/project/test_layout.py"]


@pytest.mark.parametrize("page", sorted((ROOT / "app_pages").glob("*.py")) + [ROOT / "app.py"], ids=lambda p: p.name)
def test_pages_do_not_import_the_cli(page):
    imported = {
        getattr(node, "module", None) or ""
        for node in ast.walk(ast.parse(page.read_text()))
        if isinstance(node, ast.ImportFrom)
    }
    assert not {m for m in imported if m == "core.cli" or m.startswith(("core.cli.", "core.cli_"))}


def test_every_docs_screenshot_is_taken_by_a_test_of_the_running_app():
    FROM_TESTS = runpy.run_path(str(ROOT / "scripts" / "screenshots.py"))["FROM_TESTS"]
    linked = set()
    for doc in [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]:
        linked |= {Path(m).name for m in re.findall(r"\]\(([^)\s]+\.png)\)", doc.read_text())}
    assert linked <= set(FROM_TESTS), f"docs images no test takes: {sorted(linked - set(FROM_TESTS))}"
    tests_text = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_e2e_*.py"))
    calls = re.findall(r"\b(?:screenshot|shot)\(([^()]*(?:\([^()]*\)[^()]*)*)\)", tests_text)
    names = {n for call in calls for n in re.findall(r"(?<!f)\"([a-z_]+)\"", call)}
    prefixes = {n for call in calls for n in re.findall(r"f\"([a-z_]+)\{", call)}
    untaken = [s for s in FROM_TESTS.values() if s not in names and not any(s.startswith(p) for p in prefixes)]
    assert not untaken, f"screenshots the docs want that no end-to-end test takes: {untaken}"


def test_the_readme_is_a_front_door():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200


def test_the_tests_are_laid_out_like_the_package():
    """A test file sits in the folder of the core sub-package it tests, or in pages/ (AppTest), e2e/ (Chromium)
    or project/ (the repository itself); what the tests share is in support/."""
    tests = ROOT / "tests"
    packages = {p.name for p in (ROOT / "core").iterdir() if (p / "__init__.py").exists()}
    folders = {p.parent.relative_to(tests).as_posix() for p in tests.rglob("test_*.py")}
    assert not list(tests.glob("test_*.py")), "a test file at the top of tests/"
    assert folders <= packages | {"pages", "e2e", "project"}, folders - packages
    e2e = {p.parent.name for p in tests.rglob("test_e2e_*.py")}
    assert e2e == {"e2e"}
