"""tasks/datasets/native_stderr.py: libpng's lines on fd 2 are dropped while decoding; nothing else is."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def png_claiming(height: int, width: int) -> bytes:
    """A PNG whose header says height x width gray pixels, with almost no image data after it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 100))
        + chunk(b"IEND", b"")
    )


SCRIPT = """
import os, sys
from pathlib import Path
import cv2
from convsweep.tasks.datasets.errors import DatasetError
from convsweep.tasks.datasets.image_folder import FileStore
from convsweep.tasks.datasets.native_stderr import libpng_quiet

path = Path(sys.argv[1])
cv2.imread(str(path))  # outside: libpng speaks
with libpng_quiet():
    os.write(2, b"before ")
    cv2.imread(str(path))
    sys.stderr.write("after\\n")
    with libpng_quiet():  # nested
        os.write(2, b"nested\\n")
try:
    FileStore([path], path.parent).read([0], 16000, 16000)
except DatasetError as error:
    print(error)
"""


def test_libpng_lines_dropped_other_output_kept_in_order(tmp_path):
    path = tmp_path / "claims-16000.png"
    path.write_bytes(png_claiming(16000, 16000))
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "libpng error: Not enough image data\nbefore after\nnested\n"
    assert done.stdout == f"cannot read image {path}: OpenCV could not decode it\n"
