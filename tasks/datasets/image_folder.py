"""``images:PATH``: a folder of PNG/JPEG/BMP files, decoded to grayscale on demand.

Files are searched recursively and sorted by path; images in class folders are labelled by
the folder name (folders named by numbers sort as numbers).  A root holding only ``train/``
and/or ``test/`` folders has those splits; any other root is one split, ``all``.  Opening
reads the file list and the image headers only; pixels are decoded chunk by chunk.

Decoding, deliberately:

* Sizes come from the file headers (Pillow); pixels are decoded by OpenCV to one gray channel.
* An image of more than :data:`MAX_IMAGE_PIXELS` pixels (2**28, e.g. 16384 x 16384) is refused
  with a one-line :class:`DatasetError` naming the file and the limit, before any pixel is
  decoded.  Pillow's own decompression-bomb check is set to the same limit (its warning is
  replaced by this error), so no ``DecompressionBombWarning`` is printed for images below it.
  Whether an accepted image fits the sweep's ``memory_budget`` is decided by the sweep
  (``convsweep.tasks.plan.chunking``), which computes large images in bands of rows or refuses the budget.
* 16-bit images are scaled to 8 bits by keeping the high byte (``value >> 8``, i.e. floor of
  value / 256), the rule OpenCV applies; a one-line warning says so, once per process.
* In colour (``colour=True``, a sweep with ``channels`` each or sum) every image is RGB,
  channels last: OpenCV's BGR order is reversed, an alpha channel is dropped (a one-line
  warning, once per process) and a grey image is broadcast to three equal channels.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Hashable, Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt

from convsweep.tasks.datasets.errors import DatasetError, printable
from convsweep.tasks.datasets.image_bytes import imread_bytes, utf8_name
from convsweep.tasks.datasets.memo import IMAGE_SIZES, FileIdentity, file_identity
from convsweep.tasks.datasets.native_stderr import libpng_quiet
from convsweep.tasks.datasets.spec import DatasetSpec, existing_folder
from convsweep.tasks.datasets.view import Positions, SplitData, block_ranges, frozen

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
# Largest image decoded, in pixels (2**28 = 16384 x 16384; one uint8 copy is 256 MB).
MAX_IMAGE_PIXELS = 1 << 28
_WARNED_16_BIT: set[str] = set()  # the first 16-bit file, once reported
_WARNED_ALPHA: set[str] = set()  # the first file whose alpha channel was dropped, once reported


def open_image_folder(spec: DatasetSpec, split: str, *, colour: bool = False) -> SplitData:
    """The folder's split (both for ``all``) as files: only the file list is read here."""
    root = existing_folder(spec)
    split_roots = _split_folders(root)
    if split_roots:
        wanted = ("train", "test") if split == "all" else (split,)
        missing = [name for name in wanted if name not in split_roots]
        if missing:
            raise ValueError(
                printable(
                    f"split={split!r}: {spec} has no {missing[0]}/ folder (it has: {', '.join(sorted(split_roots))})"
                )
            )
        scanned = {name: scan_images(folder) for name, folder in split_roots.items()}
        effective_split = split
    else:  # no train/test subfolders: one split, whatever was asked
        scanned = {"all": scan_images(root)}
        wanted = ("all",)
        effective_split = "all"
    files = [entry for name in wanted for entry in scanned[name]]
    if not files:
        ignored = sum(1 for path in root.rglob("*") if path.is_file())
        raise ValueError(
            printable(
                f"{spec}: no PNG/JPEG/BMP image in {root} (searched recursively; {ignored} other file(s) ignored)"
            )
        )
    every = [parts for entries in scanned.values() for parts, _ in entries]
    labelled = all(len(parts) >= 2 for parts in every)
    labels = class_names = None
    if labelled:  # class = first folder under the (split) root, for train and test alike
        class_names = _sorted_class_names({parts[0] for parts in every})
        index = {name: i for i, name in enumerate(class_names)}
        labels = frozen(np.array([index[parts[0]] for parts, _ in files], dtype=np.int64))
    layout = f"{'/'.join(wanted)}/ of " if split_roots else ""
    classes_text = (
        f"labels from {len(class_names)} class folders: {', '.join(class_names)}"
        if class_names is not None  # set exactly when labelled
        else "no labels (not every image is in a class folder)"
    )
    decoded = "decoded to RGB" if colour else "decoded to grayscale"
    source = f"{len(files)} image files under {layout}{root} ({decoded}; {classes_text})"
    store = FileStore([path for _, path in files], root, colour=colour)
    return SplitData(effective_split, source, store, len(files), labels, class_names)


def _split_folders(root: Path) -> dict[str, Path]:
    """{'train': ..., 'test': ...} when the root's only contents are train/ and/or test/ folders."""
    entries = [entry for entry in root.iterdir() if not entry.name.startswith(".")]
    if entries and all(entry.is_dir() and entry.name in ("train", "test") for entry in entries):
        return {entry.name: entry for entry in entries}
    return {}


def scan_images(root: Path) -> list[tuple[tuple[str, ...], Path]]:
    """(relative path parts, path) of image files below root, sorted by path; hidden ones skipped."""
    found = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        for name in names:
            if not name.startswith(".") and name.lower().endswith(IMAGE_SUFFIXES):
                path = Path(folder) / name
                found.append((path.relative_to(root).parts, path))
    found.sort(key=lambda entry: entry[0])
    return found


def _sorted_class_names(names: set[str]) -> tuple[str, ...]:
    # Folders named 0, 1, ..., 10 sort as numbers, so that label == digit for MNIST-style dumps.
    if all(name.isdigit() for name in names):
        return tuple(sorted(names, key=int))
    return tuple(sorted(names))


def _image_size(path: Path) -> tuple[tuple[int, int], FileIdentity]:
    """((height, width), file identity) from the file header, memoised by the file's identity.

    Raises DatasetError for an unreadable file or an image over :data:`MAX_IMAGE_PIXELS`.
    """
    stat_key = file_identity(path)
    if stat_key is None:
        raise DatasetError(f"cannot read image {path}: it disappeared or cannot be opened")
    size = IMAGE_SIZES.get(stat_key)
    if size is None:
        from PIL import Image, UnidentifiedImageError

        # Pillow's check at our limit: it warns above it and raises above twice it; both become our error.
        Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(path) as image:
                    width, height = image.size
        except Image.DecompressionBombError:
            raise DatasetError(_too_large(path, None)) from None
        except (OSError, UnidentifiedImageError, ValueError) as error:
            raise DatasetError(f"cannot read image {path}: {' '.join(str(error).split())}") from None
        if width * height > MAX_IMAGE_PIXELS:
            raise DatasetError(_too_large(path, (height, width)))
        size = (height, width)
        IMAGE_SIZES.put(stat_key, size)
    return size, stat_key


def _too_large(path: Path, size: tuple[int, int] | None) -> str:
    what = (
        f"{size[0]}x{size[1]} = {size[0] * size[1]:,} pixels" if size else f"more than {2 * MAX_IMAGE_PIXELS:,} pixels"
    )
    return (
        f"image {path} is too large to decode: {what}, over the limit of {MAX_IMAGE_PIXELS:,} pixels "
        f"(16384x16384); split or downscale it first"
    )


def _decode_gray(path: Path, height: int, width: int) -> npt.NDArray[np.uint8]:
    import cv2

    # Pixels as stored (EXIF orientation ignored), so they match the header size read above;
    # ANYDEPTH keeps 16 bits, converted by the documented rule in _read_8_bit.
    return _read_8_bit(path, height, width, cv2.IMREAD_GRAYSCALE)


def _read_8_bit(path: Path, height: int, width: int, mode: int) -> npt.NDArray[np.uint8]:
    """The file decoded in ``mode`` (from its bytes: any file name), checked against the header's (height, width); 16 bits >> 8."""
    import cv2

    try:
        image = imread_bytes(path, mode | cv2.IMREAD_ANYDEPTH | cv2.IMREAD_IGNORE_ORIENTATION)
    except OSError as error:
        raise DatasetError(f"cannot read image {path}: {error.strerror or error}") from None
    if image is None:
        raise DatasetError(f"cannot read image {path}: OpenCV could not decode it")
    if image.shape[:2] != (height, width):
        raise DatasetError(
            f"cannot read image {path}: decoded {image.shape[0]}x{image.shape[1]}, but its header says {height}x{width}"
        )
    if image.dtype == np.uint16:
        if not _WARNED_16_BIT:
            _WARNED_16_BIT.add(str(path))
            warnings.warn(
                f"{path}: 16-bit image scaled to 8 bits by keeping the high byte (value >> 8); "
                "every 16-bit image is converted so (said once per process)",
                stacklevel=3,
            )
        return (image >> 8).astype(np.uint8)
    if image.dtype != np.uint8:
        raise DatasetError(f"cannot read image {path}: unsupported pixel type {image.dtype} (8 or 16 bits only)")
    return image


def _decode_colour(path: Path, height: int, width: int) -> npt.NDArray[np.uint8]:
    """The image as (height, width, 3) uint8 RGB, C-contiguous: alpha dropped, grey broadcast, 16 bits >> 8.

    BGR becomes RGB in the decoded buffer itself (``cv2.cvtColor`` into its source), so decoding
    an 8000x8000 photograph holds its 192 MB once, not twice.
    """
    import cv2

    image = _read_8_bit(path, height, width, cv2.IMREAD_UNCHANGED)
    if image.ndim == 2:  # grey: three equal channels
        return np.repeat(image[:, :, np.newaxis], 3, axis=2)
    if image.shape[2] == 4:
        if not _WARNED_ALPHA:
            _WARNED_ALPHA.add(str(path))
            warnings.warn(
                f"{path}: alpha channel dropped (colour is RGB); every image with alpha is read so "
                "(said once per process)",
                stacklevel=2,
            )
        return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGRA2RGB), dtype=np.uint8)
    image = np.ascontiguousarray(image)
    cv2.cvtColor(image, cv2.COLOR_BGR2RGB, dst=image)  # OpenCV's BGR -> RGB, in place
    return image


def _plain_png(path: Path) -> bool:
    """Whether ``path`` is an 8-bit grey or RGB PNG without transparency (IHDR colour type 0 or 2, no
    tRNS chunk before the pixels): one that OpenCV decodes to RGB exactly as :func:`_decode_colour` does."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(1 << 16)
    except OSError:
        return False
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR" or len(head) < 26:
        return False
    bit_depth, colour_type = head[24], head[25]
    pixels = head.find(b"IDAT")
    return bit_depth == 8 and colour_type in (0, 2) and pixels > 0 and head.find(b"tRNS", 0, pixels) < 0


def _decode_colour_into(path: Path, out: npt.NDArray[np.uint8]) -> bool:
    """Decode a plain PNG (:func:`_plain_png`) straight into ``out`` (H, W, 3), RGB, no second copy; False if not one.

    OpenCV decodes into the given array when its shape and type match (``cv2.imread(path, dst,
    IMREAD_COLOR_RGB)``, OpenCV >= 4.10): an 8000x8000 photograph costs its 192 MB once, where
    ``imread`` alone allocates its own image and then the copy returned.
    """
    import cv2

    # OpenCV is handed the path itself here: only a name it can take (others: the bytes route).
    if not hasattr(cv2, "IMREAD_COLOR_RGB") or not utf8_name(path) or not _plain_png(path):
        return False
    try:
        decoded = cv2.imread(str(path), out, cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION)
    except cv2.error:  # OpenCV refuses a dst of another size than the file's pixels
        decoded = np.empty((0, 0, 3), np.uint8)
    if decoded is None:
        raise DatasetError(f"cannot read image {path}: OpenCV could not decode it")
    if decoded.shape != out.shape or not np.shares_memory(decoded, out):
        raise DatasetError(
            f"cannot read image {path}: its pixels are not the size its header says {out.shape[0]}x{out.shape[1]}"
        )
    return True


class FileStore:
    """A split as image files, decoded on demand to grayscale (or RGB with ``colour``)."""

    def __init__(self, paths: list[Path], root: Path, *, colour: bool = False) -> None:
        self._paths = paths
        self._root = root
        self._colour = colour
        self.channels = 3 if colour else 1

    def describe(self, positions: Positions, what: str) -> tuple[int, int, Hashable]:
        """Check that the selected images share one size (headers only); (height, width, key)."""
        hasher = hashlib.sha256()
        first: tuple[Path, tuple[int, int]] | None = None
        for position in positions:
            path = self._paths[position]
            size, stat_key = _image_size(path)
            if first is None:
                first = (path, size)
            elif size != first[1]:
                raise ValueError(
                    printable(
                        f"{what}: images differ in size: {first[0]} is {first[1][0]}x{first[1][1]} "
                        f"(height x width) but {path} is {size[0]}x{size[1]}; a selection needs one size: "
                        f"resize the images to one size first, or narrow the selection with start/stop/classes"
                    )
                )
            hasher.update(repr(stat_key).encode())
        assert first is not None  # a selection is never empty (select_positions refuses it)
        height, width = first[1]
        kind = "colour files" if self._colour else "files"
        return height, width, (kind, str(self._root), hasher.hexdigest())

    def read(self, positions: Positions, height: int, width: int) -> npt.NDArray[np.uint8]:
        if self._colour:
            out = np.empty((len(positions), height, width, 3), dtype=np.uint8)
            for i, position in enumerate(positions):
                if not _decode_colour_into(self._paths[position], out[i]):
                    out[i] = _decode_colour(self._paths[position], height, width)
            return out
        out = np.empty((len(positions), height, width), dtype=np.uint8)
        with libpng_quiet():  # the one error line names the file; libpng's own lines are dropped
            for i, position in enumerate(positions):
                out[i] = _decode_gray(self._paths[position], height, width)
        return out

    def blocks(self, positions: Positions, height: int, width: int) -> Iterator[npt.NDArray[np.uint8]]:
        for lo, hi in block_ranges(len(positions), height, width, self.channels):
            yield self.read(positions[lo:hi], height, width)
