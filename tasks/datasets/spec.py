"""Dataset specs: the one string that names the data, parsed into a :class:`DatasetSpec`.

``fashion_mnist`` (default), ``mnist``, ``cifar10``, ``cifar100``, ``sample``,
``skimage[:NAME,NAME]``, ``idx:PATH`` or ``images:PATH``; see the package docstring for what
each reads.  Also the split names and the class names of the Keras datasets.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SPLITS = ("train", "test", "all")
KINDS = ("fashion_mnist", "mnist", "cifar10", "cifar100", "idx", "images", "sample", "skimage")
_KINDS_WITH_PATH = ("idx", "images")
_SPEC_ALIASES = {
    "fashion-mnist": "fashion_mnist",
    "fashionmnist": "fashion_mnist",
    "cifar-10": "cifar10",
    "cifar-100": "cifar100",
}
# The colour photographs in scikit-image's wheel (skimage/data/*.png|jpg): read from the
# installed package, never fetched through pooch.  The first named one sets the size.
SKIMAGE_PHOTOS = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "motorcycle_left",
    "immunohistochemistry",
    "retina",
    "hubble_deep_field",
)

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
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
# CIFAR-100's fine labels 0-99, in the order of the dataset's meta file (fine_label_names).
CIFAR100_CLASSES = tuple(
    """apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus
    butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab
    crocodile cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard
    lamp lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse mushroom
    oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy porcupine
    possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper snail snake
    spider squirrel streetcar sunflower sweet_pepper table tank telephone television tiger tractor
    train trout tulip turtle wardrobe whale willow_tree wolf woman worm""".split()
)


@dataclass(frozen=True)
class DatasetSpec:
    """A parsed dataset spec; ``str(spec)`` is its normalised string form.

    Attributes
    ----------
    kind : one of :data:`KINDS`.
    path : absolute folder for ``idx`` and ``images``, else ``None``.
    names : the photographs of ``skimage:NAME,NAME``, else ``None``.
    """

    kind: str
    path: Path | None = None
    names: tuple[str, ...] | None = None

    def __str__(self) -> str:
        if self.names is not None:
            return f"{self.kind}:{','.join(self.names)}"
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
    expected = "expected fashion_mnist, mnist, cifar10, cifar100, sample, skimage:NAME,NAME, idx:PATH or images:PATH"
    if kind not in KINDS:
        raise ValueError(f"spec: unknown dataset {spec!r}; {expected}")
    if kind == "skimage":
        return DatasetSpec(kind, names=_skimage_names(spec, path_text if has_path else ""))
    if kind in _KINDS_WITH_PATH:
        path_text = path_text.strip()
        if not path_text:
            raise ValueError(f"spec: {spec!r} needs a folder after '{kind}:', e.g. {kind}:/data/my-{kind}")
        return DatasetSpec(kind, Path(os.path.abspath(os.path.expanduser(path_text))))
    if has_path:
        raise ValueError(f"spec: {spec!r}: '{kind}' takes no path; {expected}")
    return DatasetSpec(kind)


def _skimage_names(spec: str, text: str) -> tuple[str, ...]:
    """The photographs of ``skimage:NAME,NAME`` (every bundled one when none is named)."""
    names = tuple(name.strip().lower() for name in text.split(",") if name.strip())
    for name in names:
        if name not in SKIMAGE_PHOTOS:
            raise ValueError(
                f"spec: {spec!r}: {name!r} is not a colour photograph bundled with scikit-image; "
                f"expected some of {', '.join(SKIMAGE_PHOTOS)}"
            )
    if len(set(names)) != len(names):
        raise ValueError(f"spec: {spec!r} names a photograph twice")
    return names or SKIMAGE_PHOTOS


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
