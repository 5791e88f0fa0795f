"""The load task: open a dataset selection and describe it in a small record.

The pixels stay in the worker's memory (``tasks.datasets`` memoises them per
process); what goes to Prefect is the spec, the selection, the shape and the
fingerprint that every later cache key is built on.
"""

from __future__ import annotations

from typing import Any

from prefect import task

from tasks.datasets import DatasetError, open_dataset


def retry_on_dataset_error(task: Any, task_run: Any, state: Any) -> bool:
    """Retry when the data could not be read (network, a file being copied); bad arguments fail at once."""
    return isinstance(state.result(raise_on_failure=False), DatasetError)


@task(
    name="load-dataset",
    # The loader already retried a download 3 times; one more try after a pause covers a
    # network or a mirror that comes back, without keeping an offline user waiting long.
    retries=1,
    retry_delay_seconds=5,
    retry_condition_fn=retry_on_dataset_error,
    persist_result=False,
)
def load_dataset(spec: str, selection: dict[str, Any]) -> dict[str, Any]:
    """Open ``spec`` with ``selection`` (split, start, stop, limit, classes).

    Returns
    -------
    dict
        spec, split, selection, n, height, width, fingerprint, source, class_names.
    """
    view = open_dataset(spec, **selection)
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
