"""Task-run names made from a task's inputs (what the Prefect UI lists: ``chunk-<conv>-0-5000``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from prefect.tasks import TaskRunNameCallbackWithParameters
from prefect.utilities.annotations import BaseAnnotation


def named_from_inputs(name: Callable[[dict[str, Any]], str]) -> TaskRunNameCallbackWithParameters:
    """``name`` as a task's ``task_run_name``, called with the task run's inputs unquoted.

    Prefect calls a name callback that has a ``parameters`` argument with the task run's
    resolved inputs; the flows pass some quoted (``flows.task_runs``), and an annotation
    still wrapping one (``prefect.runtime.task_run.parameters`` keeps them) is taken off here.
    """

    def from_inputs(parameters: dict[str, Any]) -> str:
        return name(
            {key: value.unwrap() if isinstance(value, BaseAnnotation) else value for key, value in parameters.items()}
        )

    return cast(TaskRunNameCallbackWithParameters, from_inputs)
