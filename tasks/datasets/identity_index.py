"""A selection described without reading its pixels, when its files have not changed.

Describing a selection (its shape and fingerprint) means importing Keras and decoding every
pixel; a scheduled sweep over data that did not change would pay that on every run.  The
**identity index** (``<cache folder>/datasets/index.json``) maps the identity of a selection's
files -- path, size, ``mtime_ns``, inode of each (:func:`~convsweep.tasks.datasets.memo.file_identity`),
the spec and the selection -- to the record that describes it, and to the fingerprints of
parts of it (chunks, sample images) already computed.  While the files keep their identity
the record is read from the index: no Keras import, no decoding.

Part fingerprints (:func:`part_fingerprints`) hash only the part's own pixels and labels, so
a chunk of images keeps its fingerprint when images are appended after it: a sweep over a
folder or IDX file that grew recomputes only the chunks that are new.

The index is a cache: a missing, unreadable or foreign file is an empty index, entries
beyond :data:`MAX_ENTRIES` are dropped oldest first, and writes are atomic
(``convsweep.tasks.io.files``), so two sweeps writing at once lose at most an entry, recomputed later.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from convsweep.tasks.datasets.image_folder import scan_images
from convsweep.tasks.datasets.memo import files_key
from convsweep.tasks.datasets.opening import open_dataset
from convsweep.tasks.datasets.spec import DatasetSpec, parse_spec
from convsweep.tasks.io import files
from convsweep.tasks.model.records import SelectionArguments

INDEX_VERSION = 1
MAX_ENTRIES = 64
_PART_TAG = b"convsweep-part-fingerprint-v1\n"
_LOCK = threading.Lock()  # one read-modify-write of an index file at a time in this process


def index_path(index_dir: str | Path) -> Path:
    """The index file under a cache folder."""
    return Path(index_dir) / "datasets" / "index.json"


def selection_identity(spec: str | DatasetSpec, selection: SelectionArguments) -> str | None:
    """Key of a selection whose files are all present: sha256 of the spec, the selection and
    every file's identity; None when the files cannot be listed cheaply (``sample``, missing files).
    """
    parsed = parse_spec(spec)
    paths = _source_files(parsed, selection.get("split", "test"))
    if not paths:
        return None
    identities = files_key(paths)
    if identities is None:
        return None
    payload = json.dumps([INDEX_VERSION, str(parsed), selection, identities], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def _source_files(spec: DatasetSpec, split: str) -> list[Path]:
    """Every file a selection's pixels and labels come from (without decoding any)."""
    from convsweep.tasks.datasets.idx_format import IDX_FILE_STEMS
    from convsweep.tasks.datasets.keras_source import _KERAS_DATASETS, _keras_home

    if spec.kind in _KERAS_DATASETS:
        info = _KERAS_DATASETS[spec.kind]
        folder = _keras_home(create=False) / info.cache_subdir
        return [folder / name for name in info.files]
    if spec.kind == "idx":
        if spec.path is None or not spec.path.is_dir():
            return []
        paths = []
        for name in ("train", "test") if split == "all" else (split,):
            for stem in IDX_FILE_STEMS.get(name, ()):
                # as idx_source: the raw file wins over the .gz
                found = next((spec.path / n for n in (stem, f"{stem}.gz") if (spec.path / n).is_file()), None)
                if found is None:
                    return []
                paths.append(found)
        return paths
    if spec.kind == "images":
        if spec.path is None or not spec.path.is_dir():
            return []
        return [path for _, path in scan_images(spec.path)]
    return []


def read_index(index_dir: str | Path) -> dict[str, Any]:
    """The index's entries (key -> entry); empty when the file is missing or not ours."""
    try:
        data = json.loads(index_path(index_dir).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != INDEX_VERSION or not isinstance(data.get("entries"), dict):
        return {}
    entries: dict[str, Any] = data["entries"]  # JSON: checked to be an object just above
    return entries


def lookup_record(index_dir: str | Path | None, key: str | None) -> dict[str, Any] | None:
    """The record stored for ``key``, or None."""
    if index_dir is None or key is None:
        return None
    entry = read_index(index_dir).get(key)
    if not isinstance(entry, dict) or not isinstance(entry.get("record"), dict):
        return None
    record: dict[str, Any] = entry["record"]  # JSON: checked to be an object just above
    return record


def store(
    index_dir: str | Path | None,
    key: str | None,
    *,
    record: dict[str, Any] | None = None,
    parts: dict[str, str] | None = None,
) -> None:
    """Save ``record`` and/or part fingerprints (name -> fingerprint) under ``key``."""
    if index_dir is None or key is None:
        return
    with _LOCK:
        entries = read_index(index_dir)
        entry = entries.pop(key, None) or {"record": None, "parts": {}}
        if record is not None:
            entry["record"] = record
        if parts:
            entry["parts"] = {**entry.get("parts", {}), **parts}
        entries[key] = entry  # most recently used last
        while len(entries) > MAX_ENTRIES:
            entries.pop(next(iter(entries)))
        path = index_path(index_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        files.write_text(path, json.dumps({"version": INDEX_VERSION, "entries": entries}))


def part_name(positions: list[int] | tuple[int, int], *, contiguous: bool) -> str:
    """``range:0-10000`` for a chunk, ``positions:<sha256>`` for a list of indices."""
    if contiguous:
        start, stop = positions
        return f"range:{int(start)}-{int(stop)}"
    text = ",".join(str(int(index)) for index in positions)
    return "positions:" + hashlib.sha256(text.encode()).hexdigest()[:32]


def part_fingerprint(images: np.ndarray, labels: np.ndarray | None) -> str:
    """SHA-256 of a part's shape, labels and pixels (its own content only, not its position).

    Parameters
    ----------
    images : ndarray, shape (n, height, width), uint8
    labels : ndarray, shape (n,), integer, or None
    """
    return streamed_part_fingerprint(iter(images), count=len(images), labels=labels, image_shape=images.shape[1:])


def streamed_part_fingerprint(
    images: Iterator[np.ndarray],
    *,
    count: int,
    labels: np.ndarray | None,
    image_shape: tuple[int, ...] | None = None,
) -> str:
    """:func:`part_fingerprint` of ``np.stack(list(images))``, each image hashed as it comes, none held.

    The stacked array's bytes are its images' C-order bytes one after the other, so hashing
    them in turn gives the same digest; what the header needs, the stack's shape, is
    ``(count, *first image's shape)``.

    Parameters
    ----------
    images : ``count`` arrays of one shape, (height, width) or (height, width, channels), uint8
    labels : ndarray, shape (count,), integer, or None
    image_shape : the images' shape, needed only when there are none (``count`` 0)
    """
    hasher = hashlib.sha256(_PART_TAG)
    first = next(images, None)
    shape = first.shape if first is not None else image_shape
    if shape is None:
        raise ValueError("streamed_part_fingerprint: no image and no image_shape")
    hasher.update(np.asarray((count, *shape), dtype="<i8").tobytes())
    if labels is None:
        hasher.update(b"\x00")
    else:
        hasher.update(b"\x01" + np.asarray(labels).astype("<i8").tobytes())
    if first is not None:
        hasher.update(np.ascontiguousarray(first).data)
    for image in images:
        hasher.update(np.ascontiguousarray(image).data)
    return hasher.hexdigest()


def _view_record(view: Any, selection: SelectionArguments) -> dict[str, Any]:
    """What ``load-dataset`` records of an opened selection (a ``DatasetRecord``'s fields)."""
    return {
        "spec": view.spec,
        "split": view.split,
        "selection": selection,
        "n": int(view.n),
        "height": int(view.height),
        "width": int(view.width),
        "fingerprint": view.fingerprint,
        "source": view.source,
        "class_names": list(view.class_names) if view.class_names else None,
    }


def describe_colour(spec: str, selection: SelectionArguments) -> dict[str, Any]:
    """The record of a selection read in colour ((n, h, w, 3) RGB); always opened (not indexed yet)."""
    return {**_view_record(open_dataset(spec, **selection, colour=True), selection), "colour": True}


def describe(spec: str, selection: SelectionArguments, index_dir: str | Path | None) -> dict[str, Any]:
    """The record of a selection: from the index when its files are unchanged, else opened and read.

    Returns
    -------
    dict
        spec, split, selection, n, height, width, fingerprint, source, class_names.
    """
    key = selection_identity(spec, selection) if index_dir is not None else None
    record = lookup_record(index_dir, key)
    if record is not None:
        # the files were there when the record was made, so any download is now in the past
        record["source"] = str(record["source"]).replace("(downloaded now from ", "(cached; origin ")
        return record
    record = _view_record(open_dataset(spec, **selection), selection)
    if key is None and index_dir is not None:  # downloaded just now: the files exist from here on
        key = selection_identity(spec, selection)
    store(index_dir, key, record=record)
    return record


def part_fingerprints(
    dataset: dict[str, Any], *, chunks: list[list[int]], samples: list[int], index_dir: str | Path | None
) -> tuple[list[str], str | None]:
    """Content fingerprints of each chunk and of the sample images, from the index where known.

    Parameters
    ----------
    dataset : a :func:`describe` record, or a :func:`describe_colour` one (``colour`` true: the
        parts are read and hashed in RGB, (n, h, w, 3), and indexed apart from the grey ones).
    chunks : ``[start, stop]`` ranges of the selection.
    samples : indices into the selection (may be empty).

    Returns
    -------
    chunk_fingerprints : one per chunk, :func:`part_fingerprint` of its images and labels.
    samples_fingerprint : of the sample images and their labels, None without samples.
    """
    colour = bool(dataset.get("colour"))
    key = selection_identity(dataset["spec"], dataset["selection"]) if index_dir is not None else None
    if key is not None and colour:
        key += ":colour"  # the same files' RGB parts: other pixels, other fingerprints
    known = _known_parts(index_dir, key)
    wanted = [(part_name(chunk, contiguous=True), chunk, True) for chunk in chunks]
    if samples:
        wanted.append((part_name(samples, contiguous=False), samples, False))
    missing = [item for item in wanted if item[0] not in known]
    if missing:
        selection = dataset["selection"]
        view = (
            open_dataset(dataset["spec"], **selection, colour=True)
            if colour
            else open_dataset(dataset["spec"], **selection)
        )
        found = {}
        for name, positions, contiguous in missing:
            found[name] = part_fingerprint(*_read_part(view, positions, contiguous=contiguous))
        store(index_dir, key, parts=found)
        known = {**known, **found}
    chunk_fingerprints = [known[name] for name, _, contiguous in wanted if contiguous]
    samples_fingerprint = known[wanted[-1][0]] if samples else None
    return chunk_fingerprints, samples_fingerprint


def _known_parts(index_dir: str | Path | None, key: str | None) -> dict[str, str]:
    """The part fingerprints the index holds for ``key`` (name -> fingerprint)."""
    if key is None or index_dir is None:  # key is None without an index_dir
        return {}
    entry = read_index(index_dir).get(key)
    if isinstance(entry, dict) and isinstance(entry.get("parts"), dict):
        parts: dict[str, str] = entry["parts"]
        return parts
    return {}


def _read_part(view: Any, positions: list[int], *, contiguous: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """A part's images and labels: a ``[start, stop]`` chunk, or the images at ``positions``.

    One part's pixels at a time (an 8000x8000 photograph is 192 MB in RGB).
    """
    if contiguous:
        start, stop = positions
        return view.read(start, stop), None if view.labels is None else view.labels[start:stop]
    labels = None if view.labels is None else view.labels[np.asarray(positions, dtype=np.int64)]
    if len(positions) == 1:  # one sample: as read, not stacked into a second copy
        return view.read(positions[0], positions[0] + 1), labels
    return np.stack([view.read(index, index + 1)[0] for index in positions]), labels
