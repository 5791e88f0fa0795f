"""Where a sweep's chunk tasks run, and whether the Prefect API they report to is up.

* :func:`make_task_runner` — the Prefect task runner behind ``--runner``:
  ``threads`` (default; numpy and OpenCV release the GIL), ``processes``
  (one Python per core) or ``dask`` (``prefect-dask``'s ``DaskTaskRunner``:
  an existing cluster at ``--dask-address``, else a ``LocalCluster`` of
  single-threaded worker processes).  The runner only changes *where* a task
  runs; the numbers a sweep writes are the same with every runner.
* :func:`require_reachable_api` — when ``PREFECT_API_URL`` is set (environment
  or Prefect profile), check ``<url>/health`` once, quickly, before any work,
  and raise :class:`PrefectAPIUnreachable` naming the URL.  Without the check
  the Prefect client retries a dead address with exponential backoff for a
  long while and then fails with a traceback.
"""

from __future__ import annotations

import os
import re
from typing import Any

RUNNER_NAMES = ("threads", "processes", "dask")

# What a Dask scheduler address looks like: protocol://host:port (IPv6 hosts in brackets).
_DASK_ADDRESS = re.compile(r"^(tcp|tls|ucx|ws|wss)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):\d{1,5}$")


class PrefectAPIUnreachable(RuntimeError):
    """The configured Prefect API did not answer its health check (a runtime failure: exit 1)."""


def _positive_workers(workers: Any) -> int | None:
    if workers is None:
        return None
    if isinstance(workers, bool) or not isinstance(workers, int):
        raise TypeError(f"workers={workers!r} must be an int")
    if workers < 1:
        raise ValueError(f"workers={workers} must be a positive int")
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
            raise ValueError(
                f"dask_address={dask_address!r} is not a Dask scheduler address: use tcp://HOST:PORT"
            )
        if workers is not None:
            raise ValueError(
                f"workers={workers} cannot be combined with dask_address={dask_address!r}: "
                "an existing cluster has its own workers"
            )
    return name


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

    from prefect_dask import DaskTaskRunner

    if dask_address is not None:
        return DaskTaskRunner(address=dask_address.strip())
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "n_workers": count,
            "threads_per_worker": 1,
            "processes": True,
            # Local only; no dashboard (it needs bokeh, and a fixed port collides between runs).
            "host": "127.0.0.1",
            "dashboard_address": None,
        },
    )


def configured_api_url() -> str | None:
    """``PREFECT_API_URL`` as Prefect resolves it (environment, then the active profile), or None."""
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    return str(url).rstrip("/") if url else None


def require_reachable_api(url: str | None = None, *, timeout: float = 5.0) -> str | None:
    """Check that the Prefect API answers ``GET <url>/health``; return the URL checked.

    Parameters
    ----------
    url
        The API URL (``http://127.0.0.1:4200/api``); default: the configured
        ``PREFECT_API_URL``.  When neither is set, Prefect runs flows against a
        temporary local API and there is nothing to check: returns None.
    timeout
        Seconds for the connection and the answer (no retries).

    Raises
    ------
    PrefectAPIUnreachable
        One line naming the URL and the cause, e.g.
        ``Prefect API at http://127.0.0.1:9/api is unreachable (connection refused) ...``.
    """
    import httpx

    from prefect.settings import get_current_settings

    target = (url or configured_api_url() or "").rstrip("/")
    if not target:
        return None
    api = get_current_settings().api
    headers = {}
    if api.key is not None:
        headers["Authorization"] = f"Bearer {api.key.get_secret_value()}"
    elif api.auth_string is not None:
        import base64

        token = base64.b64encode(api.auth_string.get_secret_value().encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    hint = "start it with `convsweep server` or unset PREFECT_API_URL"
    try:
        response = httpx.get(
            f"{target}/health",
            headers=headers,
            timeout=timeout,
            verify=not api.tls_insecure_skip_verify,
            follow_redirects=True,
        )
    except httpx.ConnectError as error:
        cause = "connection refused" if "refused" in str(error).lower() else f"cannot connect: {error}"
        raise PrefectAPIUnreachable(f"Prefect API at {target} is unreachable ({cause}); {hint}") from None
    except httpx.TimeoutException:
        raise PrefectAPIUnreachable(
            f"Prefect API at {target} is unreachable (no answer within {timeout:g} s); {hint}"
        ) from None
    except httpx.HTTPError as error:
        raise PrefectAPIUnreachable(
            f"Prefect API at {target} is unreachable ({type(error).__name__}: {error}); {hint}"
        ) from None
    except (httpx.InvalidURL, ValueError) as error:  # a malformed URL
        raise PrefectAPIUnreachable(f"PREFECT_API_URL={target!r} is not a usable URL ({error})") from None
    if response.status_code != 200:
        raise PrefectAPIUnreachable(
            f"Prefect API at {target} answered HTTP {response.status_code} to /health; "
            "check PREFECT_API_URL (it ends in /api for a local server)"
        )
    return target
