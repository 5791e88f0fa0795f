"""dev.sh and the docs' word on it: the docs command builds without the theme's banner; the test command's steps."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _material_banner(env: dict[str, str]) -> str:
    """What importing mkdocs-material's templates prints when the program is mkdocs (where its banner lives)."""
    script = "import sys; sys.argv = ['mkdocs']; import material.templates"
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_dev_sh_docs_turns_the_material_end_of_life_banner_off():
    text = (ROOT / "dev.sh").read_text()
    docs = text[text.index("    docs)") :]
    assert 'NO_MKDOCS_2_WARNING=1 exec "$VENV/bin/mkdocs"' in docs[: docs.index(";;")]
    # The switch is the installed theme's own: without it the banner prints, with it nothing does.
    env = {key: value for key, value in os.environ.items() if key != "NO_MKDOCS_2_WARNING"}
    assert "end of life" in _material_banner(env)
    assert _material_banner({**env, "NO_MKDOCS_2_WARNING": "1"}) == ""


def test_docs_index_dev_sh_test_names_every_step_it_runs():
    text = (ROOT / "dev.sh").read_text()
    steps = text[text.index("    test)") : text.index("    docs)")]
    assert all(tool in steps for tool in ('/ruff" check', "mkdocs", '/mypy"', "pytest"))
    line = next(line for line in (ROOT / "docs/index.md").read_text().splitlines() if line.startswith("./dev.sh test"))
    assert re.search(r"ruff.*docs' strict build.*mypy.*test suite", line)
