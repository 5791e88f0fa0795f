"""Learned kernels: the small CNN, its training, its first-layer kernels, and how near they are to designed ones.

Plain functions (no Prefect); ``convsweep.tasks.training`` wraps the training in a cached task and
``convsweep.tasks.learned_report`` writes the table and the panel.  Keras (JAX backend, CPU) is
imported only when a model is built or loaded, as the Keras datasets are
(``convsweep.tasks.datasets.keras_source``).

The model (:func:`build_model`)::

    input (H, W, 1) -> Conv2D(F, 3x3, valid) -> ReLU -> MaxPool 2x2 -> flatten -> Dense(classes, softmax)

Its Conv2D kernel, shape ``(3, 3, 1, F)``, is a cross-correlation kernel as conv_core's are
(Keras does not flip kernels either), so ``kernel[:, :, 0, f]`` swept by convsweep gives the
model's own pre-activation map of filter ``f`` (bias aside).
"""

from __future__ import annotations

import os
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from convsweep.conv_core import kernels as kernel_library

KERNEL_SIZE = (3, 3)
POOL_SIZE = (2, 2)
BATCH_SIZE = 64
LEARNING_RATE = 1e-3
LEARNED_PREFIX = "learned"
MODEL_PREFIX = "model"
# One-split datasets (an image folder without train/test, ``sample``): this share of the
# images, drawn by a permutation seeded by the training seed, is the test set; the rest trains.
ONE_SPLIT_TEST_FRACTION = 0.2
# A .keras archive's entries, as unpacked: its config and metadata JSON are kilobytes (a model of
# thousands of layers stays under 16 MiB), its weights file at most 1 GiB (what a sweep of a
# first Conv2D layer has any use for); a few files (config, metadata, weights, assets).
# Similarity (sign-invariant cosine of the zero-mean kernels, 0..1) from which a learned kernel is
# called "≈ <designed kernel>": 0.5 is 60 degrees apart; a random 3x3 kernel is nearer to some
# designed one than 0.02, which says nothing.
CLOSE_SIMILARITY = 0.5
MAX_ARCHIVE_JSON_BYTES = 16 << 20
MAX_ARCHIVE_ENTRY_BYTES = 1 << 30
MAX_ARCHIVE_ENTRIES = 1000


def architecture(*, filters: int, image_shape: tuple[int, int], classes: int) -> dict[str, Any]:
    """The model's description as plain JSON (what keys the training cache, with the data, epochs and seed)."""
    return {
        "input": [*image_shape, 1],
        "layers": [
            {"conv2d": {"filters": filters, "kernel_size": list(KERNEL_SIZE), "padding": "valid"}},
            "relu",
            {"max_pool": list(POOL_SIZE)},
            "flatten",
            {"dense": classes, "activation": "softmax"},
        ],
        "optimizer": {"adam": LEARNING_RATE},
        "batch_size": BATCH_SIZE,
        "loss": "sparse_categorical_crossentropy",
    }


def import_keras() -> Any:
    """Keras with the JAX backend on the CPU (set only where nothing chose otherwise)."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import keras

    return keras


def _keras_for(where: str) -> Any:
    """:func:`import_keras`, or a ValueError naming ``where`` and the backend when Keras cannot start.

    Keras imports its backend (``KERAS_BACKEND``: tensorflow, torch, ...) at import: one not
    installed is the user's setting to change, not a crash of the sweep.
    """
    try:
        return import_keras()
    except Exception as error:  # noqa: BLE001 - ImportError, or a backend failing to start
        backend = os.environ.get("KERAS_BACKEND", "jax")
        raise ValueError(
            f"{where}: cannot import Keras with KERAS_BACKEND={backend} to load --model "
            f"({type(error).__name__}: {' '.join(str(error).split())}); install that backend, "
            f"or unset KERAS_BACKEND (convsweep uses jax)"
        ) from None


def build_model(*, filters: int, image_shape: tuple[int, int], classes: int) -> Any:
    """The small CNN of :func:`architecture` (not yet trained; seed first with :func:`train`'s ``seed``)."""
    keras = import_keras()
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=(*image_shape, 1)),
            layers.Conv2D(filters, KERNEL_SIZE, padding="valid", name="conv"),
            layers.ReLU(name="relu"),
            layers.MaxPooling2D(POOL_SIZE, name="pool"),
            layers.Flatten(name="flatten"),
            layers.Dense(classes, activation="softmax", name="classes"),
        ],
        name="convsweep_small_cnn",
    )


@dataclass
class Training:
    """A trained model and what its training measured."""

    model: Any
    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    """Per epoch, on the test images (the last is the model's test accuracy)."""
    seconds: float = 0.0
    """Wall-clock seconds of ``fit`` (the epochs and their test evaluations)."""


def as_inputs(images: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """(N, H, W) uint8 -> (N, H, W, 1) float32 in [0, 1], the model's input."""
    return (np.asarray(images, dtype=np.float32) / np.float32(255.0))[..., np.newaxis]


def train(
    train_images: npt.NDArray[np.uint8],
    train_labels: npt.NDArray[np.int64],
    test_images: npt.NDArray[np.uint8],
    test_labels: npt.NDArray[np.int64],
    *,
    filters: int,
    epochs: int,
    seed: int,
    classes: int,
) -> Training:
    """Train the small CNN: Adam, batches of :data:`BATCH_SIZE`, shuffled by ``seed``.

    ``keras.utils.set_random_seed(seed)`` seeds the initial weights and the shuffling, so the
    same images, labels, filters, epochs and seed give the same kernels on one machine.

    Parameters
    ----------
    train_images, test_images : (N, H, W) uint8
    train_labels, test_labels : (N,) int, in ``0 .. classes - 1``
    """
    if filters < 1 or epochs < 1:
        raise ValueError(f"filters={filters} and epochs={epochs} must be positive")
    if len(train_images) == 0 or len(test_images) == 0:
        raise ValueError(f"training needs train and test images, got {len(train_images)} and {len(test_images)}")
    keras = import_keras()
    keras.utils.set_random_seed(seed)
    height, width = train_images.shape[1:3]
    model = build_model(filters=filters, image_shape=(height, width), classes=classes)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    began = time.perf_counter()
    history = model.fit(
        as_inputs(train_images),
        np.asarray(train_labels, dtype=np.int64),
        batch_size=BATCH_SIZE,
        epochs=epochs,
        shuffle=True,
        validation_data=(as_inputs(test_images), np.asarray(test_labels, dtype=np.int64)),
        verbose=0,
    )
    seconds = time.perf_counter() - began
    curves = history.history
    return Training(
        model=model,
        loss=[float(value) for value in curves["loss"]],
        accuracy=[float(value) for value in curves["accuracy"]],
        test_loss=[float(value) for value in curves["val_loss"]],
        test_accuracy=[float(value) for value in curves["val_accuracy"]],
        seconds=seconds,
    )


def one_split(n: int, *, seed: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The stated rule for a dataset with one split: (train positions, test positions), both sorted.

    A permutation of ``range(n)`` by ``numpy.random.default_rng(seed)``; its first
    ``ceil(n * ONE_SPLIT_TEST_FRACTION)`` positions (at least 1, at most n - 1) are the test set.
    """
    if n < 2:
        raise ValueError(f"a one-split dataset of n={n} images cannot be split into train and test images")
    order = np.random.default_rng(seed).permutation(n)
    n_test = min(n - 1, max(1, int(np.ceil(n * ONE_SPLIT_TEST_FRACTION))))
    return np.sort(order[n_test:]).astype(np.int64), np.sort(order[:n_test]).astype(np.int64)


# --- kernels of a model ----------------------------------------------------------------------


def _walk_layers(layer: Any) -> Iterator[Any]:
    for inner in getattr(layer, "layers", []):
        yield inner
        yield from _walk_layers(inner)


def first_conv2d(model: Any) -> Any | None:
    """The first ``Conv2D`` layer of ``model`` (nested models searched in order), or None."""
    keras = import_keras()
    for layer in _walk_layers(model):
        if isinstance(layer, keras.layers.Conv2D):
            return layer
    return None


def conv_kernels(kernel: npt.ArrayLike, *, prefix: str) -> dict[str, list[list[float]]]:
    """A Conv2D kernel ``(kh, kw, 1, filters)`` as ``{f"{prefix}_{f}": (kh, kw) rows}`` (float64 of the float32 values)."""
    array = np.asarray(kernel, dtype=np.float64)
    if array.ndim != 4 or array.shape[2] != 1:
        raise ValueError(f"a grey Conv2D kernel has shape (kh, kw, 1, filters), got {array.shape}")
    return {f"{prefix}_{index}": array[:, :, 0, index].tolist() for index in range(array.shape[3])}


@dataclass(frozen=True)
class ModelKernels:
    """The first Conv2D layer of a saved model: its name, its kernel's shape, its kernels as sweep kernels."""

    path: str
    layer: str
    shape: tuple[int, int, int, int]
    """(kh, kw, in_channels, filters)."""
    kernels: dict[str, list[list[float]]]


def load_model_kernels(path: str | Path, *, channels: int) -> ModelKernels:
    """The first Conv2D kernels of the ``.keras`` file at ``path``, for images of ``channels`` channels.

    Loaded with Keras' safe mode (no lambda layers, no code from the file) and without
    compiling it.  Kernels are named ``model_0 .. model_{F-1}``.

    Raises
    ------
    ValueError
        One line naming the file and what it has: not a ``.keras`` file, not loadable in
        safe mode (a Lambda layer, a custom layer), no Conv2D layer, ``in_channels`` other than
        ``channels``, even kernel sides.
    """
    file = Path(path).expanduser()
    where = f"model={str(file)!r}"
    if file.suffix != ".keras":
        raise ValueError(f"{where}: not a .keras file (the Keras 3 format is the one loaded in safe mode)")
    if not file.is_file():
        raise ValueError(f"{where}: no such file")
    if not zipfile.is_zipfile(file):
        raise ValueError(f"{where}: not a Keras model file (a .keras file is a zip archive)")
    check_archive_sizes(file, where=where)
    keras = _keras_for(where)
    try:
        model = keras.saving.load_model(file, compile=False, safe_mode=True)
    except Exception as error:  # whatever the file holds, one line and no code run from it
        reason = " ".join(str(error).split())
        if len(reason) > 240:
            reason = reason[:237] + "..."
        raise ValueError(f"{where}: cannot be loaded in Keras safe mode: {reason}") from None
    layer = first_conv2d(model)
    if layer is None:
        layer_names = ", ".join(f"{inner.name} ({type(inner).__name__})" for inner in _walk_layers(model))
        raise ValueError(f"{where}: has no Conv2D layer (layers: {layer_names or 'none'})")
    kernel = np.asarray(keras.ops.convert_to_numpy(layer.kernel))
    kh, kw, in_channels, filters = (int(side) for side in kernel.shape)
    shape = (kh, kw, in_channels, filters)
    what = f"{where}: its first Conv2D layer {layer.name!r} has kernels of shape {shape} (kh, kw, in_channels, filters)"
    if in_channels != channels:
        images = "grey images (1 channel)" if channels == 1 else f"images of {channels} channels"
        raise ValueError(f"{what}; this sweep's {images} need in_channels={channels}")
    if kh % 2 == 0 or kw % 2 == 0:
        raise ValueError(f"{what}; convsweep's kernels have odd sides (an even kernel has no centre)")
    return ModelKernels(
        path=str(file), layer=str(layer.name), shape=shape, kernels=conv_kernels(kernel, prefix=MODEL_PREFIX)
    )


def check_archive_sizes(file: Path, *, where: str) -> None:
    """Refuse a ``.keras`` archive whose entries would unpack larger than :data:`MAX_ARCHIVE_JSON_BYTES`
    (a JSON entry) or :data:`MAX_ARCHIVE_ENTRY_BYTES` (any entry), before Keras reads them.

    The sizes are the ones the archive declares; Python's ``zipfile`` (what Keras reads with)
    never unpacks more than an entry declares, so a small file cannot unpack into gigabytes.
    """
    try:
        with zipfile.ZipFile(file) as archive:
            entries = archive.infolist()
    except (OSError, zipfile.BadZipFile) as error:
        raise ValueError(f"{where}: not a readable zip archive ({error})") from None
    if len(entries) > MAX_ARCHIVE_ENTRIES:
        raise ValueError(f"{where}: {len(entries):,} entries in the archive, more than {MAX_ARCHIVE_ENTRIES:,}")
    for entry in entries:
        limit = MAX_ARCHIVE_JSON_BYTES if entry.filename.endswith(".json") else MAX_ARCHIVE_ENTRY_BYTES
        if entry.file_size > limit:
            raise ValueError(
                f"{where}: its entry {entry.filename!r} unpacks to {entry.file_size:,} bytes, "
                f"more than the {limit:,} a model is allowed"
            )


_LOADED: dict[tuple[str, int, int, int], ModelKernels] = {}


def load_model_kernels_once(path: str | Path, *, channels: int) -> ModelKernels:
    """:func:`load_model_kernels`, memoised per process while the file is unchanged (size, mtime).

    The sweep's parameters are parsed several times a run (CLI, flow signature, run name);
    the file is loaded once.  Refusals are not memoised.
    """
    file = Path(path).expanduser()
    try:
        status = file.stat()
        key = (str(file.resolve()), status.st_mtime_ns, status.st_size, channels)
    except OSError:
        return load_model_kernels(file, channels=channels)  # raises the one-line refusal
    if key not in _LOADED:
        _LOADED[key] = load_model_kernels(file, channels=channels)
    return _LOADED[key]


def check_model_fits(model: ModelKernels, *, image_sizes: list[tuple[int, int]]) -> None:
    """ValueError naming the file when its kernels are larger than one of the sizes the images are swept at."""
    kh, kw = model.shape[:2]
    too_small = [size for size in image_sizes if kh > size[0] or kw > size[1]]
    if too_small:
        height, width = too_small[0]
        raise ValueError(
            f"model={model.path!r}: its first Conv2D layer {model.layer!r} has {kh}x{kw} kernels, "
            f"larger than the {height}x{width} images (height x width) of this sweep"
        )


# --- learned beside designed ---------------------------------------------------------------


@dataclass(frozen=True)
class Nearest:
    """One learned kernel beside the designed kernel nearest to it."""

    kernel: str
    nearest: str
    similarity: float
    """:func:`convsweep.conv_core.kernels.similarity` (sign-invariant cosine of the zero-mean kernels), in [0, 1]."""
    norm: float
    """The learned kernel's Euclidean norm (its scale: the designed ones differ by a factor)."""


def nearest_text(nearest: str, similarity: float, *, sign: str = "") -> str:
    """``≈ sobel_h`` for a close designed kernel; below :data:`CLOSE_SIMILARITY`, no kernel is claimed."""
    if similarity < CLOSE_SIMILARITY:
        return f"no close designed kernel (nearest {sign}{nearest})"
    return f"≈ {sign}{nearest}"


def nearest_designed(learned: dict[str, list[list[float]]]) -> list[Nearest]:
    """For each learned kernel, in order, its nearest named kernel of ``convsweep.conv_core.kernels``."""
    rows = []
    for name, matrix in learned.items():
        nearest, score = kernel_library.nearest_named(matrix)
        rows.append(Nearest(name, nearest, score, float(np.linalg.norm(np.asarray(matrix, dtype=np.float64)))))
    return rows


def is_learned(name: str) -> bool:
    """A kernel that came from a model (trained here or given with ``model``), not a designed one."""
    prefix, _, index = name.rpartition("_")
    return prefix in (LEARNED_PREFIX, MODEL_PREFIX) and index.isdigit()


def check_model_before_run(settings: Any) -> None:
    """Refuse, before a run exists, a ``model`` whose kernels are larger than the sweep's images.

    ``settings`` is a ``SweepParameters`` with ``model`` set (its Conv2D and channels were
    checked when it was parsed); the images' size is read from the selection (opening it, as
    the run will).  Data that cannot be read now is left to the run to report.

    Raises
    ------
    ValueError
        One line naming the file, its kernels' size and the images' size.
    """
    if settings.model is None:
        return
    from convsweep.tasks.datasets import DatasetError, open_dataset

    model = load_model_kernels_once(str(settings.model), channels=settings.image_channels)
    try:
        view = open_dataset(settings.dataset, **settings.selection())
    except DatasetError:
        return
    sizes = list(dict.fromkeys(conv.resize or (view.height, view.width) for conv in settings.conv_settings))
    check_model_fits(model, image_sizes=sizes)
