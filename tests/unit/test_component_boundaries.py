"""Components meet only through the kernel: no component imports another.

Each component depends on `borough` alone; what two of them share lives there. The one
place that names every component is the entry-point table in pyproject.toml, which this
scan does not read.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
COMPONENTS = ("provisioning", "management", "bots", "widgets", "synapse_modules")


def imported_modules(source: Path) -> list[tuple[int, str]]:
    """Every module a file imports, wherever the import stands (inside functions and
    TYPE_CHECKING blocks too), with its line."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"), str(source))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def imports_of_other_components(component: str) -> list[str]:
    others = set(COMPONENTS) - {component}
    return [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sorted((ROOT / component).rglob("*.py"))
        for line, module in imported_modules(path)
        if module.split(".")[0] in others
    ]


@pytest.mark.parametrize("component", COMPONENTS)
def test_a_component_imports_no_other_component(component: str) -> None:
    assert imports_of_other_components(component) == []


def test_the_kernel_imports_no_component() -> None:
    assert imports_of_other_components("borough") == []


def test_the_scan_sees_imports_inside_functions(tmp_path: Path) -> None:
    source = tmp_path / "sample.py"
    source.write_text("def f():\n    from provisioning.plan import Plan\n", encoding="utf-8")
    assert imported_modules(source) == [(2, "provisioning.plan")]
