"""Dataset specs: the one string that names the data, parsed into a :class:`DatasetSpec`.

``fashion_mnist`` (default), ``mnist``, ``sample``, ``idx:PATH`` or ``images:PATH``; see
the package docstring for what each reads.  Also the split names and the class names of
the two Keras datasets.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SPLITS = ("train", "test", "all")
KINDS = ("fashion_mnist", "mnist", "idx", "images", "sample")
_KINDS_WITH_PATH = ("idx", "images")
_SPEC_ALIASES = {"fashion-mnist": "fashion_mnist", "fashionmnist": "fashion_mnist"}

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
MNIST_CLASSES = tuple(str(digit) for digit in range(10))


@dataclass(frozen=True)
class DatasetSpec:
    """A parsed dataset spec; ``str(spec)`` is its normalised string form.

    Attributes
    ----------
    kind : one of :data:`KINDS`.
    path : absolute folder for ``idx`` and ``images``, else ``None``.
    """

    kind: str
    path: Path | None = None

    def __str__(self) -> str:
        return self.kind if self.path is None else f"{self.kind}:{self.path}"


def parse_spec(spec: str | DatasetSpec) -> DatasetSpec:
    """Parse ``fashion_mnist``, ``mnist``, ``sample``, ``idx:PATH`` or ``images:PATH``.

    Paths are made absolute (``~`` expanded, ``..`` folded) but not checked here; whether
    they exist is checked when the dataset is opened.
    """
    if isinstance(spec, DatasetSpec):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"spec: expected a string such as 'fashion_mnist' or 'idx:PATH', got {type(spec).__name__}")
    text = spec.strip()
    kind, has_path, path_text = text.partition(":")
    kind = kind.strip().lower()
    kind = _SPEC_ALIASES.get(kind, kind)
    expected = "expected fashion_mnist, mnist, sample, idx:PATH or images:PATH"
    if kind not in KINDS:
        raise ValueError(f"spec: unknown dataset {spec!r}; {expected}")
    if kind in _KINDS_WITH_PATH:
        path_text = path_text.strip()
        if not path_text:
            raise ValueError(f"spec: {spec!r} needs a folder after '{kind}:', e.g. {kind}:/data/my-{kind}")
        return DatasetSpec(kind, Path(os.path.abspath(os.path.expanduser(path_text))))
    if has_path:
        raise ValueError(f"spec: {spec!r}: '{kind}' takes no path; {expected}")
    return DatasetSpec(kind)


def existing_folder(spec: DatasetSpec) -> Path:
    """The folder of an ``idx:`` or ``images:`` spec; ``ValueError`` when it is missing or a file."""
    folder = spec.path
    if folder is None:
        raise ValueError(f"spec: {spec} names no folder")
    if not folder.exists():
        raise ValueError(f"spec: folder {folder} of {spec.kind}:{folder} does not exist")
    if not folder.is_dir():
        raise ValueError(f"spec: {folder} of {spec.kind}:{folder} is a file, not a folder")
    return folder
