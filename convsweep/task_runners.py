"""Where a sweep's chunk tasks run: the Prefect task runner behind ``--runner``.

* :func:`make_task_runner` — the Prefect task runner behind ``--runner``:
  ``threads`` (default; numpy and OpenCV release the GIL), ``processes``
  (one Python per core) or ``dask`` (``prefect-dask``'s ``DaskTaskRunner``:
  an existing cluster at ``--dask-address``, else a ``LocalCluster`` of
  single-threaded worker processes).  The runner only changes *where* a task
  runs; the numbers a sweep writes are the same with every runner.

Whether the Prefect API is up is :mod:`convsweep.server`'s concern; the typer
options are in :mod:`convsweep.options`.
"""

from __future__ import annotations

import os
import re
from typing import Any

from convsweep.server import configured_api_url, is_loopback

RUNNER_NAMES = ("threads", "processes", "dask")

# What a Dask scheduler address looks like: protocol://host:port (IPv6 hosts in brackets).
_DASK_ADDRESS = re.compile(r"^(tcp|tls|ucx|ws|wss)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):\d{1,5}$")


# More threads, processes or local Dask workers than any machine here has cores for.
MAX_WORKERS = 1024


def _positive_workers(workers: Any) -> int | None:
    if workers is None:
        return None
    if isinstance(workers, bool) or not isinstance(workers, int):
        raise TypeError(f"workers={workers!r} must be an int")
    if workers < 1:
        raise ValueError(f"workers={workers} must be a positive int")
    if workers > MAX_WORKERS:  # processes or Dask workers are started as asked: 10**20 would be tried
        raise ValueError(f"workers={workers} is more than {MAX_WORKERS:,}")
    return workers


def check_runner_options(
    runner: str = "threads",
    *,
    dask_address: str | None = None,
    workers: int | None = None,
) -> str:
    """Validate the runner options without building anything; return the canonical runner name.

    Raises
    ------
    ValueError
        For an unknown runner name, a malformed Dask address, an address given
        with a runner other than ``dask``, or ``workers`` given with an address
        (the cluster decides how many workers it has).
    TypeError
        For a runner name that is not a string or a ``workers`` that is not an int.
    """
    if not isinstance(runner, str):
        raise TypeError(f"runner={runner!r} must be a string: one of {', '.join(RUNNER_NAMES)}")
    name = runner.strip().lower()
    if name not in RUNNER_NAMES:
        raise ValueError(f"runner={runner!r} is not a task runner: use one of {', '.join(RUNNER_NAMES)}")
    _positive_workers(workers)
    if dask_address is not None:
        if name != "dask":
            raise ValueError(f"dask_address={dask_address!r} needs runner='dask' (got runner={runner!r})")
        if not _DASK_ADDRESS.match(dask_address.strip()):
            raise ValueError(f"dask_address={dask_address!r} is not a Dask scheduler address: use tcp://HOST:PORT")
        if workers is not None:
            raise ValueError(
                f"workers={workers} cannot be combined with dask_address={dask_address!r}: "
                "an existing cluster has its own workers"
            )
        _check_api_for_cluster(dask_address.strip())
    return name


def _host_of(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).hostname or "localhost"  # no host: this machine


def _check_api_for_cluster(dask_address: str) -> None:
    """An existing cluster's workers record task runs in PREFECT_API_URL: it must be a server they reach."""
    api_url = configured_api_url()
    if api_url is None:
        raise ValueError(
            f"dask_address={dask_address!r}: the cluster's workers record their task runs in the Prefect API, "
            "so set PREFECT_API_URL to a running server (see `convsweep server`)"
        )
    cluster_host = _host_of(dask_address)
    if not is_loopback(cluster_host) and is_loopback(_host_of(api_url)):
        raise ValueError(
            f"dask_address={dask_address!r} is another machine, but PREFECT_API_URL={api_url!r} is this "
            "machine's loopback address, which its workers cannot reach: serve the API on an address they "
            "reach (convsweep server --host ...) and set PREFECT_API_URL to it"
        )


def make_task_runner(
    runner: str = "threads",
    *,
    dask_address: str | None = None,
    workers: int | None = None,
) -> Any:
    """A Prefect task runner for the sweep's chunk tasks.

    Parameters
    ----------
    runner
        ``"threads"`` -> ``ThreadPoolTaskRunner``; ``"processes"`` ->
        ``ProcessPoolTaskRunner`` (spawned worker processes; task inputs and
        results are pickled, which is cheap here because they are small
        records); ``"dask"`` -> ``prefect_dask.DaskTaskRunner``.
    dask_address
        With ``runner="dask"``: the scheduler of an existing cluster, e.g.
        ``tcp://10.0.0.5:8786``.  Without it a ``LocalCluster`` is started for
        the flow run and closed after it, bound to 127.0.0.1.
    workers
        Threads, processes or local Dask workers (default: the number of CPUs).
        Each local Dask worker is one process with one thread, so that the
        workers do not compete with each other for cores.

    Returns
    -------
    prefect.task_runners.TaskRunner
        Pass it to ``flow.with_options(task_runner=...)``.

    Raises
    ------
    ValueError, TypeError
        See :func:`check_runner_options`.
    """
    name = check_runner_options(runner, dask_address=dask_address, workers=workers)
    count = workers or os.cpu_count() or 2
    if name == "threads":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=count)
    if name == "processes":
        from prefect.task_runners import ProcessPoolTaskRunner

        return ProcessPoolTaskRunner(max_workers=count)

    return _dask_task_runner(dask_address, count)


def _dask_task_runner(dask_address: str | None, count: int) -> Any:
    """A DaskTaskRunner on the cluster at ``dask_address``, else on a local cluster of ``count`` processes."""
    from prefect_dask import DaskTaskRunner

    if dask_address is not None:
        return DaskTaskRunner(address=dask_address.strip())  # its workers report to PREFECT_API_URL
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "n_workers": count,
            "threads_per_worker": 1,
            "processes": True,
            # Local only; no dashboard (it needs bokeh).  The scheduler's small HTTP server
            # (health, metrics) takes a free port: the default 8787 collides between runs.
            "host": "127.0.0.1",
            "dashboard_address": None,
            "scheduler_kwargs": {"dashboard_address": "127.0.0.1:0"},
            # Dask's own worker logs (a heartbeat racing the cluster's close printed a traceback):
            # task failures reach the user through Prefect's states either way.
            "silence_logs": 50,  # logging.CRITICAL
        },
    )


def task_runner_from_options(
    runner: str | None = None,
    *,
    dask_address: str | None = None,
    workers: int | None = None,
) -> Any:
    """The CLI's ``--runner/--dask-address/--workers`` as a task runner; None when none was given.

    None keeps the flow's own task runner (threads).  A Dask address alone implies
    ``--runner dask``.  Raises ValueError/TypeError (exit 2) for bad combinations.
    """
    if runner is None and dask_address is None and workers is None:
        return None
    name = runner if runner is not None else ("dask" if dask_address else "threads")
    return make_task_runner(name, dask_address=dask_address, workers=workers)
