"""Task-run names made from a task's inputs (what the Prefect UI lists: ``chunk-<conv>-0-5000``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from prefect.tasks import TaskRunNameCallbackWithParameters


def named_from_inputs(name: Callable[[dict[str, Any]], str]) -> TaskRunNameCallbackWithParameters:
    """``name`` as a task's ``task_run_name``.

    Prefect calls a name callback that has a ``parameters`` argument with the task run's
    resolved inputs: the flows pass them quoted (``flows.task_runs``), and only the resolved
    ones are unwrapped (``prefect.runtime.task_run.parameters`` still holds the quotes).
    """
    return cast(TaskRunNameCallbackWithParameters, name)
