"""The dataset read while the CLI waits for its local Prefect server to start.

The first run on a ``PREFECT_HOME`` starts the local server (``convsweep.local_api``): seconds
of Prefect's server imports and database migrations, with this process only polling
``/health``.  The flow's first task, ``load-dataset``, then reads the data through
``keras.datasets`` (~3 s of Keras and JAX imports alone).  :func:`read_while_server_starts`
does that read in a thread during the wait instead, through the same function, so the task
finds the arrays in the process's memo (``tasks.datasets.memo``) and the read costs nothing
more.  It is only tried when it can only help:

* a server is about to be started (no ``PREFECT_API_URL``, the local mode, no live server
  recorded for the home);
* every file of the selection is already on disk (``identity_index.selection_identity``): a
  read here never downloads, so a failing download is tried, retried and reported by the task;
* the cache's index does not describe the selection already (then the task reads nothing).

The main thread joins the thread before it goes on (:meth:`Prefetch.wait`), so the two never
import modules at the same time: only the server's start-up overlaps the read.  Any error
here is dropped; the task reads again and reports it as the run's failure.
"""

from __future__ import annotations

import threading
from typing import Any


class Prefetch:
    """A read of the selection in a daemon thread; :meth:`wait` joins it."""

    def __init__(self, spec: str, selection: dict[str, Any]) -> None:
        self._thread = threading.Thread(
            target=self._read, args=(spec, selection), name="convsweep-prefetch", daemon=True
        )
        self._thread.start()

    @staticmethod
    def _read(spec: str, selection: dict[str, Any]) -> None:
        try:
            from tasks.datasets import open_dataset

            open_dataset(spec, **selection)
        except Exception:  # noqa: BLE001 - the load-dataset task reads again and reports it
            pass

    def wait(self) -> None:
        self._thread.join()


def read_while_server_starts(settings: Any) -> Prefetch | None:
    """Start reading ``settings``' selection when a local server is about to start; else None.

    ``settings`` is the parsed ``SweepParameters``.
    """
    from convsweep import local_api
    from convsweep.api import configured_api_url
    from tasks.cache_paths import cache_dir_for
    from tasks.datasets.identity_index import lookup_record, selection_identity

    if local_api.api_mode() != "local" or configured_api_url():
        return None
    if local_api.has_live_server(local_api.prefect_home()):
        return None  # a server is up: nothing to wait for
    selection = settings.selection()
    try:
        key = selection_identity(settings.dataset, selection)
    except (OSError, ValueError):
        return None
    if key is None:  # a file is missing (a download) or cannot be listed cheaply
        return None
    if lookup_record(cache_dir_for(settings.out, settings.cache_dir), key) is not None:
        return None
    # urllib is what the wait for the server imports: done here, before the thread imports Keras.
    import urllib.request  # noqa: F401

    return Prefetch(settings.dataset, selection)
