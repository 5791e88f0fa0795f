"""The architecture, checked: layers and Prefect-free subpackages (import-linter), task modules only in tasks/.

The contracts live in pyproject.toml ([tool.importlinter]); a second test plants an upward
import in a copy of the packages and checks that the same command fails; a third reads every
module directly in tasks/ and checks that it defines @task functions and nothing else public.
"""

from __future__ import annotations

import ast
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
        shutil.copytree(ROOT / package, tmp_path / package, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    compute = tmp_path / "tasks" / "compute.py"
    compute.write_text(compute.read_text() + "\nfrom convsweep import options  # an upward import\n")
    done = lint_imports(tmp_path)
    assert done.returncode != 0, done.stdout
    assert "BROKEN" in done.stdout and "convsweep.tasks.compute -> convsweep.options" in done.stdout


def test_a_pure_subpackage_importing_prefect_breaks_a_contract(tmp_path):
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    rows = tmp_path / "tasks" / "reporting" / "rows.py"
    rows.write_text(rows.read_text() + "\nimport prefect  # Prefect in a pure subpackage\n")
    done = lint_imports(tmp_path)
    assert done.returncode != 0 and "convsweep.tasks.reporting.rows -> prefect" in done.stdout, done.stdout


def _is_task(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
    return name == "task" or name.endswith("_task")


def task_module_problems(path: Path) -> list[str]:
    """What makes ``path`` not a task module: no @task, or a public definition that is not a @task."""
    tree = ast.parse(path.read_text(), filename=str(path))
    tasks, others = [], []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if any(_is_task(d) for d in node.decorator_list):
                tasks.append(node.name)
            elif not node.name.startswith("_"):
                others.append(f"{path.name}:{node.lineno} {node.name} is public and not a @task")
    return ([] if tasks else [f"{path.name} defines no @task"]) + others


def test_every_module_directly_in_tasks_defines_tasks_and_nothing_else():
    problems = [
        p
        for path in sorted((ROOT / "tasks").glob("*.py"))
        if path.name != "__init__.py"
        for p in task_module_problems(path)
    ]
    assert not problems, "pure code belongs in a subpackage of tasks/ (see docs/development.md):\n" + "\n".join(
        problems
    )


def test_the_task_module_check_refuses_pure_code(tmp_path):
    module = tmp_path / "mixed.py"
    module.write_text("from prefect import task\n\n@task\ndef step():\n    pass\n\ndef helper():\n    pass\n")
    assert task_module_problems(module) == ["mixed.py:7 helper is public and not a @task"]
    (tmp_path / "pure.py").write_text("def helper():\n    pass\n")
    assert task_module_problems(tmp_path / "pure.py")[0] == "pure.py defines no @task"
