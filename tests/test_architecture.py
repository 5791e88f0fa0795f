"""Layers point one way: conv_core <- tasks <- flows <- convsweep, checked by import-linter.

The contracts live in pyproject.toml ([tool.importlinter]); a second test plants an
upward import in a copy of the packages and checks that the same command fails.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("conv_core", "tasks", "flows", "convsweep")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).with_name("lint-imports")), "--config", str(cwd / "pyproject.toml")]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300, env={"PYTHONPATH": str(cwd)})


def test_import_contracts_layers_point_one_way():
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_import_contracts_fail_on_an_upward_import(tmp_path):
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    compute = tmp_path / "tasks" / "compute.py"
    compute.write_text(compute.read_text() + "\nfrom convsweep import options  # an upward import\n")
    done = lint_imports(tmp_path)
    assert done.returncode != 0, done.stdout
    assert "BROKEN" in done.stdout and "tasks.compute -> convsweep.options" in done.stdout
