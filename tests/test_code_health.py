"""The code's own rules, checked on every test run: lint and format (ruff), types (mypy: strict
on geo/), declared dependencies (deptry) and the architecture's import contracts (import-linter,
see ``[tool.importlinter]`` in pyproject.toml)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CODE = ["geo", "api", "maps", "data", "tests", "benchmarks"]


def run(*command: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which(command[0], path=str(Path(sys.executable).parent)) or command[0]
    return subprocess.run(
        [tool, *command[1:]], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def explain(done: subprocess.CompletedProcess[str]) -> str:
    return f"{' '.join(done.args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"


def test_ruff_lint():
    done = run("ruff", "check", *CODE)
    assert done.returncode == 0, explain(done)


def test_ruff_format():
    done = run("ruff", "format", "--check", *CODE)
    assert done.returncode == 0, explain(done)


def test_types():
    done = run("mypy")
    assert done.returncode == 0, explain(done)


def test_runtime_imports_are_declared_runtime_dependencies():
    # the test extra counts as development-only here: runtime code may not need it
    done = run("deptry", "geo", "api", "maps", "data")
    assert done.returncode == 0, explain(done)


@pytest.mark.parametrize("folder", ["tests", "benchmarks"])
def test_test_and_benchmark_imports_are_declared(folder):
    # anything they import is a runtime dependency or in the test extra, never only transitive
    done = run("deptry", folder, "--exclude", "build", "--ignore", "DEP002,DEP004")
    assert done.returncode == 0, explain(done)


def test_import_contracts():
    done = run("lint-imports")
    assert done.returncode == 0, explain(done)
    assert "0 broken" in done.stdout, explain(done)
