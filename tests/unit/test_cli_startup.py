"""The `borough` command starts fast: each component's command module imports on its own, and
`--help` lists every command without loading the heavy libraries behind them."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

EXAMPLE_ORG = Path(__file__).parents[2] / "config" / "org.example.yaml"

COMMAND_MODULES = sorted(
    {entry.module for entry in entry_points(group="borough.commands")} | {"borough.cli"}
)
#: Loaded only by the commands that need them.
HEAVY = ("matplotlib", "nio", "aiohttp", "jinja2", "feedgen", "sqlalchemy", "alembic")


def _python(code: str) -> subprocess.CompletedProcess[str]:
    """`code` in a fresh interpreter: this one has imported half the project already."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("module", COMMAND_MODULES)
def test_each_command_module_imports_on_its_own(module: str) -> None:
    result = _python(f"import {module}")
    assert result.returncode == 0, result.stderr


def test_help_lists_every_command_without_the_heavy_libraries() -> None:
    result = _python(
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from borough.cli import main\n"
        "result = CliRunner().invoke(main, ['--help'])\n"
        "print(result.output)\n"
        f"print('loaded:', sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    assert result.returncode == 0, result.stderr
    assert "loaded: []" in result.stdout
    listed = result.stdout.split("Commands:", 1)[1]
    for entry in entry_points(group="borough.commands"):
        assert f"  {entry.name} " in listed, listed
    assert "Check an org chart: shape, references, cycles" in listed  # help from the command


def test_validate_loads_no_database_or_http_client() -> None:
    result = _python(
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from borough.cli import main\n"
        f"result = CliRunner().invoke(main, ['validate', {str(EXAMPLE_ORG)!r}])\n"
        "print(result.output)\n"
        f"print('loaded:', sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    assert result.returncode == 0, result.stderr
    assert "OK: " in result.stdout
    assert "loaded: []" in result.stdout
