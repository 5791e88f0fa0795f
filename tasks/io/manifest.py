"""The sweep folder's manifest: what the folder holds, how it is checked and claimed (no Prefect)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from convsweep.tasks.chunk.maps import map_path
from convsweep.tasks.io import folder_claim
from convsweep.tasks.io.code_version import code_version
from convsweep.tasks.io.sweep_folder import MANIFEST_NAME, file_digest, read_manifest
from convsweep.tasks.io.sweep_folder import inside as _inside
from convsweep.tasks.io.sweep_folder import listed_path as _listed_path
from convsweep.tasks.model.plain import canonical_json
from convsweep.tasks.model.records import ReportFiles, SampleRecord

# Written when a run starts, removed just before its manifest: says which sweep is writing the folder
# and whether its files were already this sweep's (see begin_folder).
PENDING_NAME = folder_claim.MARKER_NAME


MANIFEST_VERSION = 1


# Folders under the sweep's folder that only the sweep writes into: any file there is the sweep's.
SWEEP_FOLDERS = ("samples", "contact", "maps")


# Files of the folder's top level that every sweep writes.
SWEEP_TOP_FILES = ("sizes.csv", "summary.png", "report.md", "report.html", "measures.png")


# Parameters that do not change what the folder holds.
_RUN_ONLY_PARAMETERS = folder_claim.RUN_ONLY_PARAMETERS


_TEMP_PREFIX = ".tmp-"  # convsweep.tasks.io.files writes under this name first (a concurrent writer may be at work)


@dataclass(frozen=True)
class FolderCheck:
    """What :func:`begin_folder` found: whether the folder's sweep files are this sweep's, and their digests.

    ``digests`` maps each file it hashed (relative path) to ``size``, ``mtime_ns`` and ``sha256``,
    so that ``write-manifest`` hashes again only the files written since (each file hashed once a run).
    """

    trusted: bool
    digests: dict[str, dict[str, Any]] = field(default_factory=dict)


def _stamped_digest(path: Path) -> dict[str, Any]:
    before = path.stat()
    return {**file_digest(path), "mtime_ns": before.st_mtime_ns}


def sweep_outputs(
    out_dir: str | Path,
    *,
    sizes_csv: str,
    report_record: ReportFiles,
    sample_records: list[SampleRecord],
    maps: dict[str, list[str]] | None,
    chunks: list[tuple[int, int]],
    extra: list[str] | None = None,
) -> list[str]:
    """Every file a sweep run produced, as paths relative to ``out_dir`` (sorted, POSIX).

    Parameters
    ----------
    sizes_csv, report_record, sample_records
        What ``write-sizes``, ``write-report`` and the ``write-samples`` tasks returned.
    maps
        With ``keep_maps``: each conv setting's maps folder -> the map names written there; else None.
    chunks
        The ``[start, stop]`` image ranges of the chunk tasks.
    extra
        Other files the run wrote (model.keras, training.png, learned.csv, learned.png).
    """
    folder = Path(out_dir).resolve()
    paths = [sizes_csv, report_record.summary, report_record.report, report_record.html, *(extra or [])]
    paths += [report_record.measures] if report_record.measures else []
    for record in sample_records:
        paths += [record.contact, *record.images.values()]
    for maps_dir, names in (maps or {}).items():
        paths += [str(map_path(maps_dir, name, start, stop)) for name in names for start, stop in chunks]
    return sorted({Path(path).resolve().relative_to(folder).as_posix() for path in paths})


def _identity(parameters: dict[str, Any], version: str) -> str:
    # Not the data's fingerprint: grown or changed data reruns exactly the tasks whose content
    # keys changed, and the files of the others are checked by their sha256 below.
    kept = {key: value for key, value in parameters.items() if key not in _RUN_ONLY_PARAMETERS}
    return canonical_json({"parameters": kept, "code_version": version})


def _manifest_identity(manifest: dict[str, Any]) -> str | None:
    try:
        return _identity(manifest["parameters"], manifest["code_version"])
    except (KeyError, TypeError, AttributeError):
        return None


def _walk_files(root: Path, *, skip: Path | None) -> Iterable[Path]:
    """Files (and symlinks) under ``root``, symlinked folders not followed, ``skip`` (the cache) left out."""
    if not root.is_dir() or root.is_symlink():
        return
    for current, folder_names, file_names in os.walk(root, followlinks=False):
        here = Path(current)
        if skip is not None and _inside(here.resolve(), skip):
            folder_names[:] = []
            continue
        for name in file_names:
            yield here / name
        for name in folder_names:
            if (here / name).is_symlink():
                yield here / name


def _sweep_files_present(folder: Path, cache_root: Path | None) -> set[str]:
    """Relative paths of the files in ``folder`` that a sweep writes (top-level outputs and its own folders)."""
    present = {name for name in SWEEP_TOP_FILES if (folder / name).is_file()}
    for sub in SWEEP_FOLDERS:
        for path in _walk_files(folder / sub, skip=cache_root):
            if not path.name.startswith(_TEMP_PREFIX):
                present.add(path.relative_to(folder).as_posix())
    return present


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def folder_matches(
    out_dir: str | Path, *, parameters: dict[str, Any], cache_dir: str | Path | None = None
) -> FolderCheck:
    """True when every sweep file already in ``out_dir`` belongs to this sweep (so cached tasks may keep them).

    That is: the folder holds no sweep file at all; or a run of this same sweep (parameters
    but ``refresh``, code version) is writing it, or was interrupted, and had
    found the folder this sweep's (its :data:`PENDING_NAME` marker says so); or, with no run
    pending, its manifest was written by this same sweep and each sweep file there is listed
    in it with the size and sha256 it still has.
    """
    folder = Path(out_dir).resolve()
    identity = _identity(parameters, code_version())
    pending = _read_json(folder / PENDING_NAME)
    if pending is not None:
        trusted = isinstance(pending, dict) and pending.get("identity") == identity and pending.get("trusted") is True
        return FolderCheck(trusted)
    cache_root = Path(cache_dir).resolve() if cache_dir else None
    present = _sweep_files_present(folder, cache_root)
    if not present:
        return FolderCheck(True)
    manifest = read_manifest(folder)
    if manifest is None or _manifest_identity(manifest) != identity:
        return FolderCheck(False)
    listed = {entry.get("path"): entry for entry in manifest["files"] if isinstance(entry, dict)}
    digests = {}
    for relative in sorted(present):
        entry = listed.get(relative)
        path = folder / relative
        if entry is None or path.stat().st_size != entry.get("size"):
            return FolderCheck(False)
        digests[relative] = _stamped_digest(path)
        if digests[relative]["sha256"] != entry.get("sha256"):
            return FolderCheck(False)
    return FolderCheck(True, digests)


def begin_folder(
    out_dir: str | Path,
    *,
    parameters: dict[str, Any],
    cache_dir: str | Path | None = None,
    flow_run_id: str | None = None,
) -> FolderCheck:
    """Claim the folder for this sweep (``convsweep.tasks.io.folder_claim``), then :func:`folder_matches`; returns the latter.

    The marker lets a second run of the same sweep started meanwhile trust the files the first
    one is writing, and makes a rerun after an interruption distrust a folder that the
    interrupted run had found holding another sweep's files.  Made under the folder's lock, so
    of two runs of different sweeps started at once exactly one claims the folder.

    Raises
    ------
    convsweep.tasks.io.folder_claim.FolderInUse
        A live run of another sweep is writing the folder (one line naming that run).
    """
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    identity = _identity(parameters, code_version())
    with folder_claim.locked(folder):
        marker = folder_claim.read_marker(folder)
        writers = folder_claim.live_writers(marker, own_flow_run=flow_run_id)
        if marker is not None and writers and marker.get("identity") != identity:
            raise folder_claim.FolderInUse(
                folder_claim.in_use_message(folder.resolve(), marker, writers, name=str(parameters.get("name")))
            )
        check = folder_matches(out_dir, parameters=parameters, cache_dir=cache_dir)
        claim = {
            "identity": identity,
            "settings": folder_claim.settings_key(parameters),
            "sweep": parameters.get("name"),
            "trusted": check.trusted,
            "writers": [
                *(writer for writer in writers if writer.get("flow_run_id") != flow_run_id),
                folder_claim.this_writer(flow_run_id),
            ],
        }
        folder_claim.write_marker(folder, claim)
    return check


def stale_files(folder: Path, produced: set[str], cache_root: Path | None) -> list[Path]:
    """Files of an earlier sweep in ``folder``: listed in its manifest or under the sweep's own folders, not produced now."""
    candidates: set[Path] = set()
    previous = read_manifest(folder)
    for entry in previous["files"] if previous else []:
        path = _listed_path(folder, entry)
        if path is not None and (path.is_file() or path.is_symlink()):
            candidates.add(path)
    for sub in SWEEP_FOLDERS:
        candidates.update(
            path for path in _walk_files(folder / sub, skip=cache_root) if not path.name.startswith(_TEMP_PREFIX)
        )
    stale = []
    for path in candidates:
        relative = path.relative_to(folder).as_posix()
        if relative in produced or relative in (MANIFEST_NAME, PENDING_NAME):
            continue
        if cache_root is not None and _inside(path.parent.resolve(), cache_root):
            continue
        stale.append(path)
    return sorted(stale)


def _remove_empty_folders(folder: Path) -> None:
    for sub in SWEEP_FOLDERS:
        root = folder / sub
        if not root.is_dir() or root.is_symlink():
            continue
        for current, _, _ in sorted(os.walk(root, followlinks=False), key=lambda item: -len(item[0])):
            try:
                os.rmdir(current)  # only succeeds when empty
            except OSError:
                pass


def _digest_once(path: Path, known: dict[str, Any] | None) -> dict[str, Any]:
    """``{"size", "sha256"}`` of ``path``: from ``known`` when the file is unchanged since it was hashed."""
    stat = path.stat()
    if known is not None and known.get("size") == stat.st_size and known.get("mtime_ns") == stat.st_mtime_ns:
        return {"size": known["size"], "sha256": known["sha256"]}
    return file_digest(path)


def check_produced(folder: Path, produced: set[str]) -> None:
    """Raise RuntimeError when a file this sweep produced (relative to ``folder``) is missing."""
    missing = sorted(relative for relative in produced if not (folder / relative).is_file())
    if missing:
        raise RuntimeError(
            f"{len(missing)} file(s) this sweep wrote are missing from {folder} (first: {missing[0]}); "
            "is another sweep writing into the same folder?"
        )


def remove_stale(folder: Path, produced: set[str], cache_root: Path | None) -> list[str]:
    """Remove the :func:`stale_files` and the sweep folders left empty; their relative paths, in order."""
    removed = []
    for path in stale_files(folder, produced, cache_root):
        path.unlink(missing_ok=True)
        removed.append(path.relative_to(folder).as_posix())
    _remove_empty_folders(folder)
    return removed


def foreign_files(folder: Path, produced: set[str], cache_root: Path | None) -> list[str]:
    """The files of ``folder`` (relative, sorted) that are neither produced, the manifest nor the marker."""
    return sorted(
        path.relative_to(folder).as_posix()
        for path in _walk_files(folder, skip=cache_root)
        if path.relative_to(folder).as_posix() not in {*produced, MANIFEST_NAME, PENDING_NAME}
    )


def manifest_document(
    folder: Path,
    produced: set[str],
    *,
    parameters: dict[str, Any],
    dataset: Any,
    flow_run_id: str | None,
    known_digests: dict[str, dict[str, Any]] | None,
) -> dict[str, Any]:
    """The manifest of ``folder``: the sweep, its run, code version, parameters, dataset and every produced file."""
    return {
        "manifest_version": MANIFEST_VERSION,
        "sweep": parameters.get("name"),
        "flow_run_id": flow_run_id,
        "code_version": code_version(),
        "parameters": parameters,
        "dataset": dataset.model_dump(
            mode="json", include={"spec", "split", "selection", "n", "height", "width", "fingerprint"}
        ),
        "files": [
            {"path": relative, **_digest_once(folder / relative, (known_digests or {}).get(relative))}
            for relative in sorted(produced)
        ],
    }
