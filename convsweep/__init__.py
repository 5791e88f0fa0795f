"""convsweep: CNN-style image filtering as exact numpy kernels and cached Prefect sweeps.

The Python API (:mod:`convsweep.api`) runs the same flows as the command line::

    import convsweep
    result = convsweep.sweep(dataset="idx:../shared/datasets/mnist-t10k", strides=[1, 2])
    result.rows  # sizes.csv as a pandas DataFrame
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("convsweep")
except PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["NotebookResult", "SweepResult", "__version__", "notebook", "sweep"]


def __getattr__(name: str) -> Any:
    # The API imports pandas and the flow runner: loaded on first use, so `convsweep --help` stays quick.
    if name in ("sweep", "notebook", "SweepResult", "NotebookResult"):
        from convsweep import api

        return getattr(api, name)
    raise AttributeError(f"module 'convsweep' has no attribute {name!r}")
