"""Opening a selection: a spec and a selection in, a :class:`DatasetView` (or, read whole, a
:class:`Dataset`) out.

:func:`open_dataset` validates the arguments, asks the spec's source for the split
(``keras_source``, ``idx_source``, ``image_folder``, ``sample_source``), applies the
selection and checks the selected images share one size; :func:`read_images` then reads
every pixel.
"""

from __future__ import annotations

from collections.abc import Iterable

from convsweep.tasks.datasets.idx_source import open_idx_folder
from convsweep.tasks.datasets.image_folder import open_image_folder
from convsweep.tasks.datasets.keras_source import open_keras
from convsweep.tasks.datasets.sample_source import open_sample
from convsweep.tasks.datasets.selection import check_int, select_positions
from convsweep.tasks.datasets.skimage_source import open_skimage
from convsweep.tasks.datasets.spec import SPLITS, DatasetSpec, parse_spec
from convsweep.tasks.datasets.view import BroadcastStore, Dataset, DatasetView, SplitData, frozen

# Sources that hold colour: they decode RGB themselves when asked (the others are broadcast).
_COLOUR_SOURCES = ("cifar10", "cifar100", "images", "skimage")
_KERAS_KINDS = ("fashion_mnist", "mnist", "cifar10", "cifar100")


def open_dataset(
    spec: str | DatasetSpec = "fashion_mnist",
    *,
    split: str = "test",
    start: int | None = None,
    stop: int | None = None,
    limit: int | None = None,
    classes: int | str | Iterable[int | str] | None = None,
    colour: bool = False,
    cache_only: bool = False,
) -> DatasetView:
    """Open a selection of a dataset.

    Parameters
    ----------
    spec : ``fashion_mnist`` | ``mnist`` | ``sample`` | ``idx:PATH`` | ``images:PATH``.
    split : ``train``, ``test`` or ``all`` (train followed by test).
    start, stop : positions within the split, ``0 <= start < stop <= size of the split``.
    limit : keep at most this many images (after the slice and the class filter).
    classes : label numbers and/or class names (a string may list several, comma-separated;
        a number written as a string counts as a label number unless a class has that name).
    colour : read (n, h, w, 3) RGB (channels last) instead of (n, h, w) grey; grey data is
        broadcast to three equal channels.
    cache_only : a Keras dataset's cached files are read directly (no Keras or JAX import, no
        download; a missing file raises ``DatasetError`` naming this host and the path), as a
        worker reopening a selection does; other sources read their files either way.

    Returns
    -------
    DatasetView
        For Keras datasets and IDX folders the split is in memory (memoised per process);
        for image folders only the file list and image sizes are read here.

    Raises
    ------
    ValueError, TypeError
        Bad arguments: unknown spec, bad split, slice out of range, no image matching
        ``classes``, missing or empty folder, images of different sizes in the selection.
    DatasetError
        The data cannot be read.
    """
    parsed = parse_spec(spec)
    _check_arguments(split, start, stop, limit, colour, cache_only)
    return _view(parsed, split, start, stop, limit, classes, colour, cache_only)


def _check_arguments(
    split: str, start: int | None, stop: int | None, limit: int | None, colour: bool, cache_only: bool
) -> None:
    if not isinstance(split, str):
        raise TypeError(f"split: expected one of {', '.join(SPLITS)}, got {type(split).__name__}")
    if split not in SPLITS:
        raise ValueError(f"split: unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    for name, value in (("start", start), ("stop", stop)):
        if value is not None:
            check_int(name, value, minimum=0)
    if limit is not None:
        check_int("limit", limit, minimum=1)
    if not isinstance(colour, bool):
        raise TypeError(f"colour: expected a bool, got {colour!r}")
    if not isinstance(cache_only, bool):
        raise TypeError(f"cache_only: expected a bool, got {cache_only!r}")


def _view(
    parsed: DatasetSpec,
    split: str,
    start: int | None,
    stop: int | None,
    limit: int | None,
    classes: int | str | Iterable[int | str] | None,
    colour: bool,
    cache_only: bool,
) -> DatasetView:
    """The checked selection of the spec's split, its images' size checked."""
    base = _open_split(parsed, split, colour=colour, cache_only=cache_only)
    what = f"{parsed} split={base.split}"
    positions = select_positions(
        base.n, base.labels, base.class_names, start=start, stop=stop, limit=limit, classes=classes, what=what
    )
    labels = None
    if base.labels is not None:
        chosen = slice(positions.start, positions.stop) if isinstance(positions, range) else positions
        labels = frozen(base.labels[chosen])
    height, width, data_key = base.store.describe(positions, what)
    return DatasetView(
        spec=str(parsed),
        split=base.split,
        source=base.source,
        store=base.store,
        positions=positions,
        labels=labels,
        class_names=base.class_names,
        height=height,
        width=width,
        data_key=data_key,
    )


def _open_split(parsed: DatasetSpec, split: str, *, colour: bool, cache_only: bool = False) -> SplitData:
    """The spec's split from its source, in colour when asked."""
    if parsed.kind in _KERAS_KINDS:
        base = open_keras(parsed, split, colour=colour, cache_only=cache_only)
        if colour and parsed.kind not in _COLOUR_SOURCES:
            return _broadcast(base)
        return base
    if parsed.kind in _COLOUR_SOURCES:
        colour_opener = {"images": open_image_folder, "skimage": open_skimage}[parsed.kind]
        return colour_opener(parsed, split, colour=colour)
    opener = {"idx": open_idx_folder, "sample": open_sample}[parsed.kind]
    base = opener(parsed, split)
    if not colour:
        return base
    return _broadcast(base)


def _broadcast(base: SplitData) -> SplitData:
    """A grey split as RGB: each image as three equal channels."""
    return SplitData(
        base.split,
        f"{base.source}; each grey image as three equal channels (R = G = B)",
        BroadcastStore(base.store),
        base.n,
        base.labels,
        base.class_names,
    )


def read_images(
    spec: str | DatasetSpec = "fashion_mnist",
    *,
    split: str = "test",
    start: int | None = None,
    stop: int | None = None,
    limit: int | None = None,
    classes: int | str | Iterable[int | str] | None = None,
    colour: bool = False,
) -> Dataset:
    """:func:`open_dataset`, then read the whole selection into a :class:`Dataset`."""
    view = open_dataset(spec, split=split, start=start, stop=stop, limit=limit, classes=classes, colour=colour)
    images = view.read(0, view.n)
    digest = view._remember_fingerprint(images)
    labels = None if view.labels is None else view.labels.copy()
    return Dataset(
        images=images,
        labels=labels,
        class_names=view.class_names,
        spec=view.spec,
        split=view.split,
        source=view.source,
        fingerprint=digest,
    )
