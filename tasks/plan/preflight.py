"""The sweep's preflight: what can be refused before its flow run exists (no Prefect).

:func:`preflight` runs once, after the parameters are parsed and before the flow starts
(``convsweep sweep``).  It reads nothing but folder entries, the writing marker of the sweep's
folder and, where that is cheap, the size of the dataset's images (an IDX header; the Keras
datasets are 28x28), and writes nothing (a writability probe is created and removed at once).
Each refusal is a ``ValueError`` of one line naming the value:

* ``--out`` or the cache folder is not a folder this process can write;
* the sweep's folder is being written by a live run of another sweep (``convsweep.tasks.io.folder_claim``);
* a setting cannot run on images of that size (a kernel or pool window larger than what it
  slides over, a memory budget too small for one image, ceil mode with bands of rows).

``learned_filters`` and ``probe`` on local data without labels or of one class are refused too
(:func:`check_labels`: that opens the data, its file list and labels).  What else needs the
data itself (a split it lacks, classes no image has, image folders' sizes) is
found by the flow's plan (``convsweep.tasks.plan.plan``), once the run exists: a failed run.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from convsweep.tasks.datasets import parse_spec
from convsweep.tasks.datasets.idx_format import IDX_FILE_STEMS, read_idx_header
from convsweep.tasks.datasets.keras_source import KERAS_DATASETS, offline_problem
from convsweep.tasks.io import folder_claim
from convsweep.tasks.model import SweepParameters
from convsweep.tasks.plan.cache_paths import CACHE_DIR_ENV, cache_dir_for
from convsweep.tasks.plan.chunking import plan_chunks

# Image size of the Keras datasets, whichever split.
KERAS_IMAGE_SIZE = {"fashion_mnist": (28, 28), "mnist": (28, 28)}
# Dataset kinds read from files on this machine: opening one for a check costs a file list.
LOCAL_KINDS = ("idx", "images", "sample", "skimage")


def _nearest_existing(path: Path) -> Path:
    probe = path
    while not os.path.lexists(probe) and probe.parent != probe:
        probe = probe.parent
    return probe


def check_writable_folder(path: str | Path, *, what: str) -> None:
    """Refuse (ValueError) a ``path`` that is not, or cannot become, a folder this process writes into.

    ``what`` names the value in the message, e.g. ``--out outputs``.  A folder that does not exist
    yet is fine when its nearest existing parent is a writable folder; nothing is created.
    """
    target = Path(path)
    existing = _nearest_existing(target)
    if not existing.is_dir():
        kind = "a file" if existing.is_file() else "not a folder"
        where = "" if existing == target else f", on the way to {target},"
        raise ValueError(f"{what}: not a writable folder ({existing}{where} is {kind})")
    reason = None
    try:  # a probe, not access(): root passes access() on read-only mounts, immutable folders and /proc
        descriptor, probe = tempfile.mkstemp(prefix=".convsweep-probe-", dir=existing)
        os.close(descriptor)
        os.unlink(probe)
    except OSError as error:
        reason = (error.strerror or type(error).__name__).lower()
    if reason is not None:
        where = "" if existing == target else f", the nearest existing folder of {target}"
        raise ValueError(f"{what}: not a writable folder ({existing}{where}: cannot create a file there: {reason})")


def check_folders(settings: SweepParameters) -> None:
    """The output root, the sweep's folder and the cache folder can be written."""
    check_writable_folder(settings.out, what=f"--out {settings.out}")
    check_writable_folder(settings.output_dir, what=f"--name {settings.name} ({settings.output_dir})")
    cache = cache_dir_for(settings.out, settings.cache_dir)
    if settings.cache_dir is not None:
        what = f"--cache-dir {settings.cache_dir}"
    elif os.environ.get(CACHE_DIR_ENV):
        what = f"{CACHE_DIR_ENV}={os.environ[CACHE_DIR_ENV]}"
    else:
        what = f"the cache folder {cache}"
    check_writable_folder(cache, what=what)


def check_name_free(settings: SweepParameters) -> None:
    """Refuse a sweep whose folder a live run of another sweep is writing (``convsweep.tasks.io.folder_claim``)."""
    folder = settings.output_dir
    marker = folder_claim.read_marker(folder)
    writers = folder_claim.live_writers(marker)
    if marker is None or not writers:
        return
    if marker.get("settings") != folder_claim.settings_key(settings.to_parameters()):
        raise folder_claim.FolderInUse(folder_claim.in_use_message(folder, marker, writers, name=str(settings.name)))


def cheap_image_size(dataset: str, split: str) -> tuple[int, int] | None:
    """(height, width) of the dataset's images when known without reading them, else None.

    The Keras datasets are 28x28; an IDX folder's size is in the header of its images file.
    None for image folders and the sample photographs (their sizes vary), and for any IDX
    file that cannot be read (the flow then names the problem).
    """
    spec = parse_spec(dataset)
    if spec.kind in KERAS_IMAGE_SIZE:
        return KERAS_IMAGE_SIZE[spec.kind]
    if spec.kind != "idx" or spec.path is None:
        return None
    for name in ("train", "test") if split == "all" else (split,):
        stem = IDX_FILE_STEMS[name][0]
        for candidate in (spec.path / stem, spec.path / f"{stem}.gz"):
            if candidate.is_file():
                try:
                    _, dims = read_idx_header(candidate)
                except Exception:  # noqa: BLE001 - a broken file is the flow's to report
                    return None
                return (int(dims[1]), int(dims[2])) if len(dims) == 3 else None
    return None


def check_shapes(settings: SweepParameters, size: tuple[int, int]) -> None:
    """Every setting can run on one image of ``size`` within the memory budget (as the plan checks)."""
    settings.check_shapes(height=size[0], width=size[1])
    plan_chunks(
        1,
        size,
        settings.conv_settings,
        {name: [list(row) for row in matrix] for name, matrix in settings.kernel_matrices.items()},
        settings.pool_settings,
        memory_budget_mb=settings.memory_budget,
        chunk_size=settings.chunk_size,
        keep_maps=settings.keep_maps,
    )


def check_labels(settings: SweepParameters) -> None:
    """``learned_filters`` and ``probe`` need labelled images of two classes or more (else a run that
    "succeeds" with random kernels, or fails in scikit-learn's words).

    Local data (folders, photographs) is opened here: its file list and labels only.  A Keras
    dataset has ten classes; only a ``classes`` selection of one is refused without opening it.
    Data that cannot be read now is left to the run to report.
    """
    if not settings.learned_filters and not settings.probe:
        return
    from convsweep.tasks.datasets import DatasetError

    local = parse_spec(settings.dataset).kind in LOCAL_KINDS
    classes = settings.selection()["classes"]
    try:
        if settings.learned_filters and local:
            from convsweep.tasks.analysis.training import training_views

            training_views(settings.dataset)
        if settings.probe and classes is not None and len(set(classes)) == 1:
            raise ValueError(
                f"probe: classes={list(classes)!r} selects one class: a linear probe (--probe) needs at least two"
            )
        if settings.probe and local:
            from convsweep.tasks.analysis.probe import check_probe_labels

            check_probe_labels(settings.dataset, classes=classes, one_split_name=settings.split)
    except DatasetError:
        return


# Keras' backends and the module each imports (numpy needs nothing more).
KERAS_BACKEND_MODULES = {
    "jax": "jax",
    "tensorflow": "tensorflow",
    "torch": "torch",
    "openvino": "openvino",
    "numpy": None,
}


def check_keras_backend(settings: SweepParameters) -> None:
    """``learned_filters`` trains with Keras in the run: a ``KERAS_BACKEND`` that cannot be imported
    (not a backend, or not installed) is refused now, not as the run's ModuleNotFoundError."""
    if not settings.learned_filters:
        return
    import importlib.util

    backend = os.environ.get("KERAS_BACKEND", "jax")
    where = (
        f"learned_filters={settings.learned_filters} (--learned-filters) trains with Keras, but KERAS_BACKEND={backend}"
    )
    if backend not in KERAS_BACKEND_MODULES:
        raise ValueError(f"{where} is not a Keras backend ({', '.join(KERAS_BACKEND_MODULES)}); unset it to use jax")
    module = KERAS_BACKEND_MODULES[backend]
    if module is not None and importlib.util.find_spec(module) is None:
        raise ValueError(f"{where} and {module} is not installed; install it, or unset KERAS_BACKEND to use jax")


def preflight(settings: SweepParameters) -> None:
    """Every check above, in the order a user would fix them; ValueError (one line) on the first refusal."""
    check_folders(settings)
    check_name_free(settings)
    check_labels(settings)
    check_keras_backend(settings)
    size = cheap_image_size(settings.dataset, settings.split)
    if size is not None:
        check_shapes(settings, size)
    check_dataset_reachable(settings.dataset)


def check_dataset_reachable(dataset: str) -> None:
    """Refuse a Keras dataset that is neither in the Keras cache nor downloadable now (offline)."""
    spec = parse_spec(dataset)
    if spec.kind in KERAS_DATASETS and (problem := offline_problem(spec.kind)) is not None:
        raise ValueError(problem)
