"""The load task: describe a dataset selection in a small record.

What goes to Prefect is the spec, the selection, the shape and the fingerprint that every
later cache key is built on.  With ``index_dir`` (the sweep's cache folder) a selection whose
files are unchanged since it was last described is described from the identity index
(``convsweep.tasks.datasets.identity_index``): no Keras import and no pixel read.  Otherwise the pixels
are read and stay in the worker's memory (``convsweep.tasks.datasets`` memoises them per process).

No Prefect retries: the Keras loader already retries a failed download (the one
retry layer, ``convsweep.tasks.datasets.keras_source``), and every other ``DatasetError``
(a corrupt file, a bad IDX header, an unreadable image) cannot heal by waiting.
"""

from __future__ import annotations

from prefect import task

from convsweep.tasks.datasets.identity_index import describe, describe_colour
from convsweep.tasks.model.records import DatasetRecord, SelectionArguments


@task(name="load-dataset", persist_result=False)
def describe_selection(
    spec: str, selection: SelectionArguments, index_dir: str | None = None, colour: bool = False
) -> DatasetRecord:
    """Open ``spec`` with ``selection`` (split, start, stop, limit, classes) and describe it.

    Returns
    -------
    DatasetRecord
        spec, split, selection, n, height, width, fingerprint, source, class_names.
    """
    if colour:
        return DatasetRecord.parse(describe_colour(spec, selection))
    return DatasetRecord.parse(describe(spec, selection, index_dir))
