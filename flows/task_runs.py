"""Every task run a flow makes, made in one place: cached by explicit keys, and counted.

A flow calls its tasks through :class:`TaskRuns` (``runs.submit(task, **inputs)`` for a
future, ``runs.call(task, **inputs)`` for a state), which

* configures a cached task with ``convsweep.tasks.prefect_glue.caching.with_cache`` under the sweep's cache folder,
  refreshing it when asked (``--refresh``) or when the folder holds another sweep's files
  (then the tasks that write files must write them again);
* remembers every task run (future or state), so the counts a run reports (task runs, and those
  served from the cache) are the flow's own, never a number written by hand: add a task to a flow
  and it is counted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import Task
from prefect.client.schemas.objects import State
from prefect.futures import PrefectFuture

from convsweep.tasks.prefect_glue.caching import with_cache


class TaskRuns:
    """The task runs of one flow run.

    Parameters
    ----------
    cache_dir
        The cache folder of the cached tasks; None for a flow whose tasks are not cached.
    refresh
        Recompute every cached task (the sweep's ``refresh``).
    """

    def __init__(self, cache_dir: Path | None = None, *, refresh: bool = False) -> None:
        self.cache_dir = cache_dir
        self.refresh = refresh
        self.folder_is_ours = True
        self.runs: list[PrefectFuture[Any] | State] = []

    def _configured(self, task: Task[..., Any], cached: bool, writes_files: bool, inputs: dict[str, Any]) -> Any:
        if not cached or self.cache_dir is None:
            return task
        refresh = self.refresh or (writes_files and not self.folder_is_ours)
        return with_cache(task, self.cache_dir, refresh=refresh, inputs=inputs)

    def submit(
        self, task: Task[..., Any], *, cached: bool = True, writes_files: bool = True, **inputs: Any
    ) -> PrefectFuture[Any]:
        """Submit ``task(**inputs)`` to the flow's task runner; its future."""
        future = self._configured(task, cached, writes_files, inputs).submit(**inputs)
        self.runs.append(future)
        return future

    def call(self, task: Task[..., Any], *, cached: bool = True, writes_files: bool = True, **inputs: Any) -> State:
        """Run ``task(**inputs)`` now, in the flow's thread; its final state (``.result()`` raises if it failed)."""
        state = self._configured(task, cached, writes_files, inputs)(**inputs, return_state=True)
        self.runs.append(state)
        return state

    def result(self, task: Task[..., Any], *args: Any, **inputs: Any) -> Any:
        """Run an uncached ``task(*args, **inputs)`` now and return its result (raises if it failed)."""
        state = task(*args, **inputs, return_state=True)
        self.runs.append(state)
        return state.result()

    @property
    def count(self) -> int:
        return len(self.runs)

    @property
    def cached(self) -> int:
        """How many of the finished task runs were served from the cache (their state is Cached)."""
        states = [run if isinstance(run, State) else run.state for run in self.runs]
        return sum(state.name == "Cached" for state in states)
