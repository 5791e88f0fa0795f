"""Atomic file writes: a temp file in the same folder, then ``os.replace``.

An interrupted run therefore never leaves half a file under its final name.
Data files, records and the manifest are also fsynced before the rename (durable across a
power loss); pictures are not (:func:`write_png`, :func:`write_figure`): a sweep writes
hundreds, an fsync each cost ~1/3 of a cold default sweep's picture time, and every run
checks every picture against ``manifest.json``'s size and sha256 (``convsweep.tasks.manifest``) and
redraws the folder's pictures when one differs.
A run killed outright (``kill -9``, power loss) can leave a temp file, named
``.tmp-<name>.<host>-<pid>.<random>`` (``<host>``: a short hash of the host
name, ``<pid>``: the writing process); :func:`sweep_temp_files` removes such
leftovers at the start of the next run without touching a live writer's file.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

from convsweep.tasks.io.processes import process_alive


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates files readable by the owner only; outputs get the usual 0o666 & ~umask.
# Read once at import, when no other thread can be creating files.
_FILE_MODE = 0o666 & ~_current_umask()

# Tags temp files with their writer, so that a later run can tell a dead writer's leftover from a live one's.
_HOST_TAG = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:6]
_ATOMIC_TEMP = re.compile(r"^\.tmp-.+\.(?P<host>[0-9a-f]{6})-(?P<pid>\d+)\.[^.]+$")
# Age after which a temp file is stale whoever wrote it: an atomic write lasts seconds.
STALE_TEMP_SECONDS = 3600.0


@contextmanager
def atomic_open(path: str | Path, mode: str = "wb", *, durable: bool = True, **open_kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temp file beside ``path``; on success fsync it (``durable``) and rename it to ``path``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temp_name = tempfile.mkstemp(prefix=f".tmp-{target.name}.{_HOST_TAG}-{os.getpid()}.", dir=target.parent)
    try:
        with os.fdopen(descriptor, mode, **open_kwargs) as handle:
            yield handle
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.chmod(temp_name, _FILE_MODE)
        os.replace(temp_name, target)
    except OSError as error:
        Path(temp_name).unlink(missing_ok=True)
        if error.filename is not None:
            raise
        # write() and fsync() failures (a full disk: ENOSPC, a quota: EDQUOT) name no file: say which folder.
        raise OSError(
            error.errno, f"{error.strerror or error}: cannot write {target.name} into the folder {target.parent}"
        ) from None
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def write_bytes(path: str | Path, data: bytes, *, durable: bool = True) -> Path:
    with atomic_open(path, "wb", durable=durable) as handle:
        handle.write(data)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_png(path: str | Path, image: np.ndarray) -> Path:
    """Write a uint8 (H, W) gray or (H, W, 3) **RGB** image as PNG (encoded in memory by OpenCV, written atomically).

    OpenCV encodes BGR: an RGB image is reversed on its last axis before encoding, so a red
    pixel is red in the file.  Not fsynced (a picture: see the module docstring).
    """
    if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise ValueError(f"write_png needs a uint8 (H, W) or (H, W, 3) RGB image, got {image.dtype} {image.shape}")
    return write_bytes(path, encode_png(image if image.ndim == 2 else image[:, :, ::-1]), durable=False)


def write_npz(path: str | Path, **arrays: np.ndarray) -> Path:
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=True, **arrays)  # numpy's default, spelled out so **arrays cannot be it
    return write_bytes(path, buffer.getvalue())


def write_figure(path: str | Path, figure: Any, *, dpi: float = 100) -> Path:
    """Save a matplotlib figure as PNG: byte-identical for the same figure, 8-bit gray when it is gray.

    Drawn by Agg at ``dpi`` and encoded by OpenCV (:func:`encode_png`), which is several
    times faster than matplotlib's PIL path at the compression level used, and stores a gray
    figure (a contact sheet) in a quarter of the bytes of RGBA.
    """
    figure.set_dpi(dpi)
    figure.canvas.draw()
    rgba = np.asarray(figure.canvas.buffer_rgba())
    return write_bytes(
        path, encode_png(compact_pixels(rgba[:, :, [2, 1, 0, 3]])), durable=False
    )  # BGRA: OpenCV's order


def compact_pixels(image: np.ndarray) -> np.ndarray:
    """Drop an opaque alpha channel, and colour channels that are all equal (gray: 1/4 the bytes)."""
    if image.ndim == 3 and image.shape[2] == 4 and bool((image[:, :, 3] == 255).all()):
        image = image[:, :, :3]
    if image.ndim == 3 and image.shape[2] == 3:
        if bool((image[:, :, 0] == image[:, :, 1]).all() and (image[:, :, 1] == image[:, :, 2]).all()):
            image = image[:, :, 0]
    return np.ascontiguousarray(image)


# zlib level of every PNG we encode: level 9 took ~150 ms for a contact sheet, 3 takes ~10 ms
# for files about 10 % larger.
PNG_COMPRESSION = 3


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 (H, W) gray, (H, W, 3) BGR or (H, W, 4) BGRA image (OpenCV's channel order)."""
    import cv2

    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(image), [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
    if not ok:
        raise RuntimeError(f"OpenCV could not encode an image of shape {image.shape} as PNG")
    return encoded.tobytes()


def write_csv(path: str | Path, frame: Any) -> Path:
    """Write a pandas DataFrame as CSV (no index)."""
    return write_text(path, frame.to_csv(index=False, lineterminator="\n"))


def is_stale_temp_file(path: str | Path, *, now: float | None = None) -> bool:
    """True for a temp file left by an interrupted write that no live process will finish.

    * ``.tmp-<name>.<host>-<pid>.<random>`` (:func:`atomic_open`): stale when it was
      written on this host by a process that is gone, or is older than
      :data:`STALE_TEMP_SECONDS` (another host's writer, a reused pid, an older name);
    * any other ``.tmp-*`` file: stale after :data:`STALE_TEMP_SECONDS`.
    """
    path = Path(path)
    name = path.name
    if not name.startswith(".tmp-"):
        return False
    try:
        age = (time.time() if now is None else now) - path.lstat().st_mtime
    except FileNotFoundError:
        return False
    writer = _ATOMIC_TEMP.match(name)
    if writer and writer["host"] == _HOST_TAG and not process_alive(int(writer["pid"])):
        return True
    return age > STALE_TEMP_SECONDS


def sweep_temp_files(folder: str | Path) -> list[Path]:
    """Remove the stale temp files (:func:`is_stale_temp_file`) under ``folder``, recursively.

    Run at the start of a sweep over its output folder and its cache folder: a run
    killed during a write (``kill -9``) leaves a ``.tmp-*`` file no write replaces.
    A missing ``folder`` is fine (nothing to do).  Symlinked folders are not followed.

    Returns
    -------
    list of Path
        The files removed.
    """
    removed: list[Path] = []
    root = Path(folder)
    if not root.is_dir():
        return removed
    now = time.time()
    for directory, _subfolders, names in os.walk(root):
        for name in names:
            path = Path(directory) / name
            if name.startswith(".tmp-") and is_stale_temp_file(path, now=now):
                try:
                    path.unlink()
                except FileNotFoundError:  # another run removed it first
                    continue
                removed.append(path)
    return removed
