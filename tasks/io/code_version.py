"""The code version: a hash of the source that decides every cached result (no Prefect)."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

_PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Packages whose source decides every cached result: the numeric core, the sweep model
# (convsweep.tasks.model: labels, settings, plain forms) and the tasks. The import-direction
# contract (pyproject.toml) keeps every module they import inside them.
VERSIONED_PACKAGES = ("conv_core", "tasks")


@lru_cache(maxsize=1)
def code_version(root: Path = _PROJECT_ROOT) -> str:
    """Hash of the source of :data:`VERSIONED_PACKAGES` under ``root`` (file names and bytes)."""
    digest = hashlib.sha256()
    for package in VERSIONED_PACKAGES:
        for source in sorted((root / package).rglob("*.py")):
            digest.update(str(source.relative_to(root)).encode())
            digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


code_version()  # now, when the modules it hashes are being imported, not at the first task run
