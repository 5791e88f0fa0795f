"""What the session's Prefect server recorded, waited for on conditions (the server records events asynchronously)."""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

RECORD_TIMEOUT = 300.0  # generous: a loaded CI machine records slowly; the wait ends as soon as all are there


def task_runs(flow_run_id: UUID | str, expected: int, *, timeout: float = RECORD_TIMEOUT) -> list[Any]:
    """The flow run's task runs once the API holds ``expected`` of them in a final state."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import TaskRunSort

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            runs: list[Any] = []
            while True:  # paged in id order: PostgreSQL orders rows tied on the default key differently per query
                page = client.read_task_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(str(flow_run_id))])),
                    sort=TaskRunSort.ID_DESC,
                    limit=200,
                    offset=len(runs),
                )
                runs.extend(page)
                if len(page) < 200:
                    break
            runs = list({run.id: run for run in runs}.values())
            final = [run for run in runs if run.state is not None and run.state.is_final()]
            if len(final) >= expected or time.monotonic() > deadline:
                return final
            time.sleep(0.2)


def flow_run_writing_to(out: str, *, timeout: float = RECORD_TIMEOUT) -> Any:
    """The newest flow run whose ``out`` parameter is ``out``, once it is in a final state."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.sorting import FlowRunSort

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            runs = [
                run
                for run in client.read_flow_runs(sort=FlowRunSort.START_TIME_DESC, limit=200)
                if run.parameters.get("out") == out
            ]
            if runs and runs[0].state is not None and runs[0].state.is_final() or time.monotonic() > deadline:
                assert runs, f"no flow run wrote to {out}"
                return runs[0]
            time.sleep(0.2)
