"""The sweep folder's manifest: exactly what the folder holds, written last.

``<out>/<name>/manifest.json`` lists every file the sweep produced (path
relative to the folder, size in bytes, sha256), the sweep's parameters, the
dataset it read (spec, split, size, fingerprint), the code version
(:func:`convsweep.tasks.prefect_glue.caching.code_version`) and the flow-run id.  It is written by the
``write-manifest`` task at the very end of the flow, atomically, so a folder
whose manifest is there holds a complete sweep.

One folder, one sweep.  A sweep name (the default ``<dataset>-<split>`` too) may
be reused with other settings; then, before the manifest is written, every file
of the folder that this run did not produce is **removed** when it is one of the
sweep's own: a file listed in the previous manifest, or any file under the
folders only a sweep writes into (``samples/``, ``contact/``, ``maps/``).
Nothing outside the folder, nothing in the cache folder and no other file of the
folder is touched (files a person put there stay, and are named in a warning).

Same-named files can also be stale: ``contact/<conv>.png`` or ``report.md`` of
another sweep exist under the names this sweep's cached tasks expect, so a
cached task would leave them as they are.  :func:`folder_matches` tells the flow
whether the files already in the folder are this sweep's (the previous manifest
has the same parameters, data and code, and every file still has its recorded
sha256); when not, the flow reruns the tasks that write files.  While a run
writes the folder, a small marker (:data:`PENDING_NAME`, ``convsweep.tasks.io.folder_claim``,
removed once the manifest is written) carries that verdict, for a concurrent run of
the same sweep and for the rerun after an interruption, and names the runs writing:
a run of another sweep is refused while one of them is alive (:func:`begin_folder`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task

from convsweep.tasks.io import files, folder_claim
from convsweep.tasks.io.manifest import check_produced, foreign_files, manifest_document, remove_stale

# The manifest is read and its digests made by the same Prefect-free code that checks a finished folder.
from convsweep.tasks.io.sweep_folder import MANIFEST_NAME
from convsweep.tasks.model.records import DatasetRecord, ManifestRecord


@task(name="write-manifest", task_run_name="write-manifest", persist_result=False)
def write_manifest(
    out_dir: str,
    produced: list[str],
    parameters: dict[str, Any],
    dataset: DatasetRecord,
    cache_dir: str | None = None,
    known_digests: dict[str, dict[str, Any]] | None = None,
) -> ManifestRecord:
    """Remove the files of an earlier sweep from ``out_dir``, then write ``manifest.json`` (last, atomically).

    Parameters
    ----------
    out_dir
        The sweep's folder.
    produced
        Every file this run produced, relative to ``out_dir`` (:func:`sweep_outputs`).
    parameters
        The sweep's parameters in plain JSON (``SweepParameters.to_parameters()``).
    dataset
        The ``load-dataset`` record (spec, split, n, height, width, fingerprint, ...).
    cache_dir
        The cache folder: never touched, even when it lies inside ``out_dir``.
    known_digests
        :attr:`FolderCheck.digests`: a file whose size and mtime are still those is not read again.

    Returns
    -------
    ManifestRecord
        ``manifest`` (its path), ``files`` (how many are listed), ``removed`` and ``foreign``
        (relative paths of the earlier sweep's files removed, and of other files left in place).
    """
    dataset = DatasetRecord.parse(dataset)
    from prefect.runtime import flow_run

    folder = Path(out_dir).resolve()
    cache_root = Path(cache_dir).resolve() if cache_dir else None
    wanted = set(produced)
    check_produced(folder, wanted)
    removed = remove_stale(folder, wanted, cache_root)
    foreign = foreign_files(folder, wanted, cache_root)
    _log_cleanup(folder, removed, foreign)
    flow_run_id = None if flow_run.id is None else str(flow_run.id)
    manifest = manifest_document(
        folder, wanted, parameters=parameters, dataset=dataset, flow_run_id=flow_run_id, known_digests=known_digests
    )
    path = files.write_text(folder / MANIFEST_NAME, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    # Only now: until the manifest is there, a run of another sweep must not start writing here.
    folder_claim.release(folder, flow_run_id=flow_run_id)
    return ManifestRecord(manifest=str(path), files=len(wanted), removed=tuple(removed), foreign=tuple(foreign))


def _log_cleanup(folder: Path, removed: list[str], foreign: list[str]) -> None:
    logger = get_run_logger()
    if removed:
        logger.info("removed %d file(s) of an earlier sweep with other settings from %s", len(removed), folder)
    if foreign:
        logger.warning("%d file(s) in %s are not part of the sweep, left in place: %s", len(foreign), folder, foreign)
