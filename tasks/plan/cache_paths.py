"""Where a sweep's cache folder is (no Prefect: the plan and the CLI's checks use it too)."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_DIR_ENV = "CONVSWEEP_CACHE_DIR"


def default_cache_dir(out: str | Path) -> Path:
    """``$CONVSWEEP_CACHE_DIR`` if set, else ``<output root>/.cache``."""
    configured = os.environ.get(CACHE_DIR_ENV)
    return Path(configured).expanduser() if configured else Path(out) / ".cache"


def cache_dir_for(out: str | Path, cache_dir: str | Path | None) -> Path:
    """The cache folder of a sweep: ``cache_dir`` if given, else :func:`default_cache_dir`."""
    return Path(cache_dir).expanduser() if cache_dir else default_cache_dir(out)
