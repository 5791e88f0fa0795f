"""The IDX file format of MNIST and Fashion-MNIST: read with validation, write atomically.

An IDX file is a 4-byte magic number, one big-endian uint32 per dimension, then the data
in C order.  The magic number is ``0x00 0x00 <type code> <ndim>``; MNIST-style datasets use
type code 0x08 (unsigned byte), so images have magic 2051 (0x00000803, three dimensions:
count, rows, columns) and labels 2049 (0x00000801, one dimension: count).  Files may be
gzip-compressed; that is recognised by content (the gzip signature), not by the name.

Every check that Keras' own loader skips is done here: signature, magic number, data type,
dimensions, exact byte length (truncated or padded files) and gzip integrity (truncated
stream, CRC).  Errors are :class:`IdxFormatError` with a message naming the file.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from convsweep.tasks.io import files

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
_UBYTE = 0x08
_GZIP_SIGNATURE = b"\x1f\x8b"
_TYPE_NAMES = {
    0x08: "unsigned byte",
    0x09: "signed byte",
    0x0B: "int16",
    0x0C: "int32",
    0x0D: "float32",
    0x0E: "float64",
}
_KIND_BY_MAGIC = {IMAGES_MAGIC: "images", LABELS_MAGIC: "labels"}
# The file names (without .gz) of the MNIST-style datasets: (images, labels) of each split.
IDX_FILE_STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class IdxFormatError(Exception):
    """An IDX file that cannot be used; the message names the file and what is wrong."""


def read_idx_images(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX image file (magic 2051), raw or gzip-compressed.

    Returns
    -------
    images : ndarray, shape (count, rows, columns), uint8, read-only
    """
    return _read_idx(Path(path), IMAGES_MAGIC)


def read_idx_labels(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX label file (magic 2049), raw or gzip-compressed.

    Returns
    -------
    labels : ndarray, shape (count,), uint8, read-only
    """
    return _read_idx(Path(path), LABELS_MAGIC)


def read_idx_header(path: str | os.PathLike[str]) -> tuple[int, tuple[int, ...]]:
    """Magic number and dimensions of an IDX file, reading only its first bytes.

    Cheap (no full decompression), so it checks the header only, not the length or the
    gzip checksum.
    """
    path = Path(path)
    compressed = False
    try:
        with open(path, "rb") as raw:
            compressed = raw.read(2) == _GZIP_SIGNATURE
        opener = gzip.open if compressed else open
        with opener(path, "rb") as stream:
            head = stream.read(4)
            magic, ndim = _parse_magic(path, head)
            dims_bytes = stream.read(4 * ndim)
    except (OSError, EOFError, zlib.error) as error:
        raise IdxFormatError(f"{path}: {_describe_read_error(error, compressed)}") from None
    if len(dims_bytes) < 4 * ndim:
        raise IdxFormatError(f"{path}: truncated: the header ends after {4 + len(dims_bytes)} bytes")
    dims = tuple(int(d) for d in np.frombuffer(dims_bytes, dtype=">u4"))
    return magic, dims


def write_idx(path: str | os.PathLike[str], array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write a uint8 array as an IDX file, atomically (temporary file + rename).

    Parameters
    ----------
    path : where to write; ``compress`` defaults to ``path`` ending in ``.gz``.
    array : ndarray, uint8, shape (count,) for labels or (count, rows, columns) for images.
    """
    path = Path(path)
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise TypeError(f"array: IDX files here hold uint8 data, got dtype {array.dtype}")
    if array.ndim not in (1, 3):
        raise ValueError(f"array: expected shape (count,) or (count, rows, columns), got {array.shape}")
    if compress is None:
        compress = path.suffix == ".gz"
    header = bytes([0, 0, _UBYTE, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(array).tobytes()
    if compress:
        # mtime=0 keeps the bytes identical across runs.
        payload = gzip.compress(payload, compresslevel=6, mtime=0)
    return files.write_bytes(path, payload)  # atomic, with the usual file mode


def _read_idx(path: Path, expected_magic: int) -> np.ndarray:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise IdxFormatError(f"{path}: cannot read: {error.strerror or error}") from None
    compressed = data[:2] == _GZIP_SIGNATURE
    if compressed:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as error:
            raise IdxFormatError(f"{path}: {_describe_read_error(error, True)}") from None
    magic, ndim = _parse_magic(path, data[:4])
    if magic != expected_magic:
        found = _KIND_BY_MAGIC.get(magic)
        found = f" ({found})" if found else ""
        raise IdxFormatError(
            f"{path}: magic number {magic}{found}, expected {expected_magic} ({_KIND_BY_MAGIC[expected_magic]})"
        )
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise IdxFormatError(f"{path}: truncated: the header ends after {len(data)} bytes")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    if expected_magic == IMAGES_MAGIC and (dims[1] == 0 or dims[2] == 0):
        raise IdxFormatError(f"{path}: image size {dims[1]}x{dims[2]} is empty")
    expected_size = header_size + int(np.prod(dims, dtype=np.int64))
    what = f"{dims[0]} images of {dims[1]}x{dims[2]}" if ndim == 3 else f"{dims[0]} labels"
    if len(data) < expected_size:
        raise IdxFormatError(
            f"{path}: truncated: the header says {what} ({expected_size - header_size} bytes of "
            f"data) but the file holds {len(data) - header_size}"
        )
    if len(data) > expected_size:
        raise IdxFormatError(
            f"{path}: {len(data) - expected_size} unexpected bytes after the {what} the header declares"
        )
    array = np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(dims)
    array.flags.writeable = False
    return array


def _parse_magic(path: Path, head: bytes) -> tuple[int, int]:
    """(magic number, ndim) from the first four bytes; only uint8 data is accepted."""
    if len(head) < 4:
        raise IdxFormatError(f"{path}: truncated: {len(head)} bytes, too short for an IDX header")
    magic = int.from_bytes(head, "big")
    if head[0] != 0 or head[1] != 0 or head[3] == 0:
        raise IdxFormatError(
            f"{path}: not an IDX file (first bytes {head.hex(' ')}, magic number {magic}; "
            f"expected {IMAGES_MAGIC} for images or {LABELS_MAGIC} for labels)"
        )
    if head[2] != _UBYTE:
        type_name = _TYPE_NAMES.get(head[2], "unknown type")
        raise IdxFormatError(
            f"{path}: IDX data type 0x{head[2]:02X} ({type_name}); only unsigned bytes (0x08) are supported"
        )
    return magic, head[3]


def _describe_read_error(error: BaseException, compressed: bool) -> str:
    if isinstance(error, EOFError):
        return "truncated gzip file (the compressed stream ends early)"
    if compressed or isinstance(error, (zlib.error, gzip.BadGzipFile)):
        return f"corrupt gzip file ({error})"
    return f"cannot read: {getattr(error, 'strerror', None) or error}"
