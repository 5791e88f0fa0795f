"""A sweep's progress: a Prefect progress artifact (the UI) and a callback (the CLI's bar).

The CLI says where progress goes with :func:`reporting_to` around its flow call; the flow's
:class:`Progress` tells that callback and the artifact.  The callback lives in a context
variable, so it reaches the flow running in the CLI's own thread and nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from prefect.artifacts import create_progress_artifact, update_progress_artifact

from convsweep.tasks.prefect_glue.artifacts import artifact_key

ProgressCallback = Callable[[int, int], None]
"""``(done, total)`` chunk task runs."""

StageCallback = Callable[[str], None]
"""What the sweep is doing before its chunks start, in words (``training a CNN ...``)."""

_callback: ContextVar[ProgressCallback | None] = ContextVar("convsweep_progress_callback", default=None)
_stage: ContextVar[StageCallback | None] = ContextVar("convsweep_stage_callback", default=None)


@contextmanager
def reporting_to(callback: ProgressCallback, stage: StageCallback | None = None) -> Iterator[None]:
    """Within this block, every sweep's progress also calls ``callback(done, total)``, and its stages ``stage(words)``."""
    tokens = _callback.set(callback), _stage.set(stage)
    try:
        yield
    finally:
        _callback.reset(tokens[0])
        _stage.reset(tokens[1])


def announce(stage: str) -> None:
    """Tell the :func:`reporting_to` stage callback, if any, what runs now.

    For a long step without chunks to count (training takes 20 s on a laptop): without it the
    CLI's bar would sit at ``chunks 0/?`` as if stuck.
    """
    callback = _stage.get()
    if callback is not None:
        callback(stage)


class Progress:
    """A progress artifact for the sweep, advanced as chunk tasks finish; also tells the :func:`reporting_to` callback.

    Each artifact update is an API call (~40 ms against a local server), so the artifact is
    updated at most every :attr:`STEP` of the total or every :attr:`INTERVAL_SECONDS`, only
    for chunks computed now (a cached chunk moves the callback, not the artifact), and
    always at 100 %.  It is created by its first update, not at 0 %: a sweep whose chunks are
    all cached makes one call (the artifact at 100 %), not two.
    """

    STEP = 0.10
    INTERVAL_SECONDS = 1.0

    def __init__(self, name: str, total: int) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.callback = _callback.get()
        self.name = name
        self.artifact_id: Any = None
        self._published_fraction = 0.0
        self._published_at = time.monotonic()
        if self.callback is not None:
            self.callback(0, self.total)  # the total, as soon as the plan knows it

    def advance(self, count: int = 1, *, cached: bool = False) -> None:
        self.done += count
        fraction = min(self.done / self.total, 1.0)
        finished = fraction >= 1.0
        due = (
            fraction - self._published_fraction >= self.STEP
            or time.monotonic() - self._published_at >= self.INTERVAL_SECONDS
        )
        if finished or (due and not cached):
            self._publish(100.0 * fraction)
            self._published_fraction = fraction
            self._published_at = time.monotonic()
        if self.callback is not None:
            self.callback(self.done, self.total)

    def _publish(self, percent: float) -> None:
        if self.artifact_id is None:
            # Called from synchronous code: the id itself, not a coroutine.
            self.artifact_id = create_progress_artifact(
                progress=percent,
                key=artifact_key(self.name, "progress"),
                description=f"chunks of sweep {self.name} finished",
            )
        else:
            update_progress_artifact(self.artifact_id, progress=percent)
