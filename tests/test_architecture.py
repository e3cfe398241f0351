"""The shape of the code: no import cycles, and modules short enough to read in one sitting.

The layer rules themselves are import-linter contracts in ``pyproject.toml`` (run by
``tests/test_code_quality.py``); these checks are the ones import-linter does not make.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import grimp
import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src" / "artifact_hub"
MAX_LINES = 600
"""No module may be longer than this."""
EXPLAIN_OVER = 400
"""A module longer than this says in its docstring why it is one module ("400 lines")."""


def _graph() -> grimp.ImportGraph:
    # Imports inside functions and under TYPE_CHECKING count: a lazy import that closes a
    # loop is still a loop in the design, only hidden from the interpreter.
    return grimp.build_graph("artifact_hub", include_external_packages=False)


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    try:
        graphlib.TopologicalSorter(edges).prepare()
    except graphlib.CycleError as error:
        return list(error.args[1])
    return None


def test_no_module_imports_itself_back() -> None:
    graph = _graph()
    edges = {m: graph.find_modules_directly_imported_by(m) - {m} for m in graph.modules}
    cycle = _cycle(edges)
    assert cycle is None, " -> ".join(cycle or [])


def test_no_two_packages_import_each_other() -> None:
    graph = _graph()

    def package(module: str) -> str:
        return ".".join(module.split(".")[:2])

    edges: dict[str, set[str]] = {}
    for module in graph.modules:
        targets = {package(m) for m in graph.find_modules_directly_imported_by(module)}
        edges.setdefault(package(module), set()).update(targets - {package(module)})
    edges.pop("artifact_hub", None)  # the root re-exports (lazily) from its subpackages
    for targets in edges.values():
        targets.discard("artifact_hub")
    cycle = _cycle(edges)
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_check_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"a"}}) is not None
    assert _cycle({"a": {"b"}, "b": set()}) is None


def _modules() -> list[Path]:
    return sorted(p for p in SOURCE.rglob("*.py") if "migrations" not in p.parts)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SOURCE)))
def test_module_is_short_or_says_why(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    lines = source.count("\n")
    assert lines <= MAX_LINES, f"{lines} lines: split it by job"
    if lines > EXPLAIN_OVER:
        docstring = ast.get_docstring(ast.parse(source)) or ""
        assert "400 lines" in docstring, (
            f"{lines} lines: split it, or say in the module docstring why it is one module"
        )
