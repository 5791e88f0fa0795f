"""What a worker checks before it computes a chunk: its code is the flow's, its pixels are the key's.

On a cluster, the flow plans the sweep where it runs (the chunks' content fingerprints key
the cache), but each worker reads the pixels itself, from its own view of the data.  A worker
with another copy of the data (a stale mirror, another mount) would store the statistics of
other pixels under the flow's key, and every later sweep would reuse them; a worker with other
code would store another code's results.  :func:`check_chunk_worker` refuses both, before
anything is computed or written, with one line.

Before the sweep, :func:`check_workers_before_sweep` asks every Dask worker (``client.run``)
whether it sees the cache, output and data folders the flow uses, and reaches the Prefect
API the flow run is recorded in; otherwise the sweep stops before any chunk is submitted,
with one line per worker that cannot.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from convsweep.tasks.datasets.identity_index import part_fingerprint, streamed_part_fingerprint
from convsweep.tasks.model.records import DatasetRecord
from convsweep.tasks.prefect_glue.caching import refuse_other_code, running_task_flow_versions


class ChunkContentMismatch(ValueError):
    """The pixels a worker read are not those the flow fingerprinted."""


def check_chunk_content(
    images: np.ndarray,
    labels: np.ndarray | None,
    *,
    dataset: DatasetRecord,
    chunk: tuple[int, int],
    expected: str,
) -> None:
    """Raise :class:`ChunkContentMismatch` unless ``images`` (and labels) have the fingerprint ``expected``.

    Parameters
    ----------
    images : (n, H, W) uint8, the chunk as this process read it.
    labels : (n,) int64 or None.
    dataset : the selection's record (its spec names the data path in the message).
    chunk : ``(start, stop)``.
    expected : the chunk's content fingerprint from the flow's plan
        (:func:`convsweep.tasks.datasets.identity_index.part_fingerprint`).
    """
    found = part_fingerprint(images, labels)
    if found != expected:
        start, stop = chunk
        raise _mismatch(f"images {start}-{stop}", dataset, found=found, expected=expected)


def _mismatch(what: str, dataset: DatasetRecord, *, found: str, expected: str) -> ChunkContentMismatch:
    return ChunkContentMismatch(
        f"worker {socket.gethostname()} read other data for {what} of {dataset.spec}: "
        f"content fingerprint {found}, the flow's {expected}; refused, nothing cached "
        "(give every worker the same copy of the data, at the same path)"
    )


def check_chunk_worker(
    view: Any, images: np.ndarray, *, dataset: DatasetRecord, chunk: tuple[int, int], expected: str | None
) -> None:
    """Before computing a chunk in a task run: this process's code is the flow's, and its pixels the key's.

    ``view`` is the opened selection the images were read from (its labels are fingerprinted
    too); ``expected`` None (a chunk keyed by the whole selection's fingerprint) checks the
    code only.
    """
    refuse_other_code(running_task_flow_versions())
    if expected is None:
        return
    start, stop = chunk
    labels = None if view.labels is None else view.labels[start:stop]
    check_chunk_content(images, labels, dataset=dataset, chunk=chunk, expected=expected)


def check_samples_worker(view: Any, *, dataset: DatasetRecord, samples: list[int], expected: str | None) -> None:
    """Before drawing the sample pictures in a task run: this process's code is the flow's, and
    the sample images it reads (with their labels) have the fingerprint ``expected``.

    The images are read and hashed one at a time (a sample of a huge image is large), so the
    pictures read them again.

    Parameters
    ----------
    view : the opened (grey) selection the pictures are drawn from.
    samples : indices into the selection.
    expected : the samples' content fingerprint from the flow's plan
        (``convsweep.tasks.datasets.identity_index.part_fingerprints``); None checks the code only.
    """
    refuse_other_code(running_task_flow_versions())
    if expected is None:
        return
    labels = None if view.labels is None else view.labels[np.asarray(samples, dtype=np.int64)]
    images = (view.read(index, index + 1)[0] for index in samples)
    found = streamed_part_fingerprint(images, count=len(samples), labels=labels)
    if found != expected:
        which = ", ".join(str(index) for index in samples)
        raise _mismatch(f"sample images {which}", dataset, found=found, expected=expected)


# -- before the sweep: can every worker see the folders and reach the API? -----------------

# Seconds a worker waits for the Prefect API before calling it unreachable.
API_PROBE_TIMEOUT = 10.0
_TOKEN_NAME = ".convsweep-worker-check"


class WorkerCheckError(RuntimeError):
    """Some workers of the cluster cannot run this sweep (one line per worker in the message)."""


def data_folder(spec: str) -> Path | None:
    """The folder a dataset spec reads on every worker: its path, the Keras cache folder, or None (``sample``)."""
    from convsweep.tasks.datasets.keras_source import keras_cache_folder
    from convsweep.tasks.datasets.spec import parse_spec

    parsed = parse_spec(spec)
    if parsed.path is not None:
        return parsed.path
    if parsed.kind in ("fashion_mnist", "mnist", "cifar10", "cifar100"):
        return keras_cache_folder(parsed.kind)
    return None


def probe_worker(
    folders: dict[str, str], tokens: dict[str, str], flow_run_id: str | None, flow_api_url: str | None = None
) -> tuple[str, list[str]]:
    """Runs on a worker: (its hostname, what it cannot do).

    ``folders``: what -> path as the flow sees it; ``tokens``: what -> the contents of the
    token file the flow wrote there (so a same-named folder on another storage is caught);
    ``flow_run_id``: the flow run the worker's task runs belong to, looked up in the worker's
    own Prefect API (so a worker configured for another server is caught too); a worker with
    no ``PREFECT_API_URL`` of its own records its task runs through the flow's
    (``flow_api_url``: the settings travel with each task prefect-dask submits), so that one is probed.
    """
    import httpx
    from prefect.settings import get_current_settings

    problems = []
    for what, folder in folders.items():
        path = Path(folder)
        if not path.is_dir():
            problems.append(f"cannot see the {what} folder {path}")
            continue
        if what in tokens:
            token = path / _TOKEN_NAME
            try:
                seen = token.read_text()
            except OSError:
                seen = None
            if seen != tokens[what]:
                problems.append(f"the {what} folder {path} is not the flow's (another disk mounted there?)")
            elif not os.access(path, os.W_OK):
                problems.append(f"cannot write to the {what} folder {path}")
    api_url = get_current_settings().api.url or flow_api_url
    if not api_url:
        problems.append("has no PREFECT_API_URL: its task runs would not be recorded")
    elif flow_run_id is not None:
        url = f"{str(api_url).rstrip('/')}/flow_runs/{flow_run_id}"
        try:
            response = httpx.get(url, timeout=API_PROBE_TIMEOUT)
        except httpx.HTTPError as error:
            problems.append(f"cannot reach the Prefect API at {api_url} ({type(error).__name__}: {error})")
        else:
            if response.status_code == 404:
                problems.append(f"its Prefect API at {api_url} does not know this flow run (another server?)")
            elif response.status_code != 200:
                problems.append(f"its Prefect API at {api_url} answered HTTP {response.status_code}")
    return socket.gethostname(), problems


def running_dask_client() -> Any:
    """The Dask client of the running flow's task runner, or None when the flow runs without Dask."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    runner = getattr(context, "task_runner", None)
    # prefect_dask.DaskTaskRunner makes its client on first use (``client``), which a submit would do anyway.
    if (
        runner is None
        or "_client" not in vars(runner)
        or not isinstance(getattr(type(runner), "client", None), property)
    ):
        return None
    client = runner.client
    return client if hasattr(client, "run") else None


def check_workers(
    client: Any, *, folders: dict[str, Path], flow_run_id: str | None, flow_api_url: str | None = None
) -> int:
    """Stop the sweep before any work unless every Dask worker can see ``folders`` and reach the API.

    The cache and output folders get a token file each (removed afterwards) that the
    workers read, so a same-named folder that is not the shared one fails too.  Returns the
    number of workers checked; raises :class:`WorkerCheckError` with one line per worker that
    cannot run the sweep.
    """
    from convsweep.tasks.io import files

    tokens = {}
    written = []
    try:
        for what in ("cache", "outputs"):
            if what in folders:
                token = uuid.uuid4().hex
                written.append(files.write_bytes(folders[what] / _TOKEN_NAME, token.encode()))
                tokens[what] = token
        results = client.run(
            probe_worker,
            {what: str(path) for what, path in folders.items()},
            tokens,
            flow_run_id,
            flow_api_url=flow_api_url,
        )
    finally:
        for path in written:
            Path(path).unlink(missing_ok=True)
    bad = [
        f"worker {host} ({address}): {'; '.join(problems)}"
        for address, (host, problems) in sorted(results.items())
        if problems
    ]
    if bad:
        raise WorkerCheckError(
            f"{len(bad)} of {len(results)} Dask workers cannot run this sweep; nothing was computed:\n" + "\n".join(bad)
        )
    return len(results)


def check_workers_before_sweep(*, cache_dir: Path, out_dir: Path, dataset_spec: str) -> int:
    """:func:`check_workers` for the running flow when its task runner is Dask (else 0, nothing to check)."""
    client = running_dask_client()
    if client is None:
        return 0
    from prefect.runtime import flow_run
    from prefect.settings import get_current_settings

    folders = {"cache": Path(cache_dir).absolute(), "outputs": Path(out_dir).absolute()}
    data = data_folder(dataset_spec)
    if data is not None:
        folders["data"] = data
    flow_api_url = get_current_settings().api.url
    return check_workers(client, folders=folders, flow_run_id=flow_run.id, flow_api_url=flow_api_url)
