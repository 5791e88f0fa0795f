"""Atomic file writes: a temp file in the same folder, then ``os.replace``.

An interrupted run therefore never leaves half a file under its final name;
at worst a ``.tmp-*`` file that the next write of the same path replaces.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates files readable by the owner only; outputs get the usual 0o666 & ~umask.
# Read once at import, when no other thread can be creating files.
_FILE_MODE = 0o666 & ~_current_umask()


@contextmanager
def atomic_open(path: str | Path, mode: str = "wb", **open_kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temp file beside ``path``; on success fsync and rename it to ``path``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temp_name = tempfile.mkstemp(prefix=f".tmp-{target.name}.", dir=target.parent)
    try:
        with os.fdopen(descriptor, mode, **open_kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_name, _FILE_MODE)
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_open(path, "wb") as handle:
        handle.write(data)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_png(path: str | Path, image: np.ndarray) -> Path:
    """Write a uint8 (H, W) image as PNG (encoded in memory by OpenCV, then written atomically)."""
    import cv2

    if image.dtype != np.uint8 or image.ndim != 2:
        raise ValueError(f"write_png needs a uint8 (H, W) image, got {image.dtype} {image.shape}")
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise RuntimeError(f"OpenCV could not encode {path} as PNG")
    return write_bytes(path, encoded.tobytes())


def write_npy(path: str | Path, array: np.ndarray) -> Path:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return write_bytes(path, buffer.getvalue())


def write_npz(path: str | Path, **arrays: np.ndarray) -> Path:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return write_bytes(path, buffer.getvalue())


def write_figure(path: str | Path, figure: Any, **savefig_kwargs: Any) -> Path:
    """Save a matplotlib figure as PNG, byte-identical for the same figure (no timestamp)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None}, **savefig_kwargs)
    return write_bytes(path, buffer.getvalue())


def write_csv(path: str | Path, frame: Any) -> Path:
    """Write a pandas DataFrame as CSV (no index)."""
    return write_text(path, frame.to_csv(index=False, lineterminator="\n"))
