"""Tests for the convsweep.tasks.datasets package as a whole: what importing it costs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_import_does_not_import_keras():
    code = "import sys, convsweep.tasks.datasets; sys.exit('keras' in sys.modules or 'jax' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0
