"""What a worker checks before it computes a chunk: its code is the flow's, its pixels are the key's.

On a cluster, the flow plans the sweep where it runs (the chunks' content fingerprints key
the cache), but each worker reads the pixels itself, from its own view of the data.  A worker
with another copy of the data (a stale mirror, another mount) would store the statistics of
other pixels under the flow's key, and every later sweep would reuse them; a worker with other
code would store another code's results.  :func:`check_chunk_worker` refuses both, before
anything is computed or written, with one line.
"""

from __future__ import annotations

import socket
from typing import Any

import numpy as np

from tasks.caching import refuse_other_code, running_task_flow_versions
from tasks.datasets.identity_index import part_fingerprint
from tasks.model.records import DatasetRecord


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
        (:func:`tasks.datasets.identity_index.part_fingerprint`).
    """
    found = part_fingerprint(images, labels)
    if found != expected:
        start, stop = chunk
        raise ChunkContentMismatch(
            f"worker {socket.gethostname()} read other data for images {start}-{stop} of {dataset.spec}: "
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
