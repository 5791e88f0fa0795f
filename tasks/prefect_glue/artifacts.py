"""What the Prefect UI shows of a run: names, tags, pictures and tables sized for a browser.

Plain helpers (no task here) used by the flows and by ``convsweep.tasks.report``:

* :func:`dataset_label`, :func:`sweep_tags`, :func:`add_flow_run_tags`,
  :func:`rename_flow_run` — runs you can tell apart in the run list;
* :func:`png_data_uri` — a picture as a PNG data URI, downscaled to a width cap so
  an artifact stays small (never a full-size picture inline);
* :func:`map_cell_uri` — a small feature map enlarged with nearest-neighbour so
  its pixels stay visible (a 13x13 map becomes ~117x117, not a 13 px speck);
* :func:`split_constant_columns` — the table artifact's columns: those that vary
  across the sweep; the constant ones go to its description.
"""

from __future__ import annotations

import re
from pathlib import Path


def artifact_key(run_name: str, what: str) -> str:
    """``mnist-report``: Prefect artifact keys allow lowercase letters, digits and dashes only."""
    return re.sub(r"[^a-z0-9-]+", "-", f"{run_name}-{what}".lower()).strip("-")


def dataset_kind(spec: str) -> str:
    """``idx`` for ``idx:/data/mnist``, ``fashion_mnist`` for ``fashion_mnist``."""
    return str(spec).partition(":")[0]


def dataset_label(spec: str) -> str:
    """A short name of a dataset spec: ``idx/mnist-t10k`` for ``idx:/work/shared/datasets/mnist-t10k``."""
    kind, _, path = str(spec).partition(":")
    if not path:
        return kind
    return f"{kind}/{Path(path.rstrip('/')).name or path}"


def sweep_tags(name: str, spec: str) -> list[str]:
    """The tags every sweep run carries: ``convsweep``, ``sweep:<name>``, ``dataset:<kind>``."""
    return ["convsweep", f"sweep:{name}", f"dataset:{dataset_kind(spec)}"]


def add_flow_run_tags(tags: list[str]) -> list[str]:
    """Add ``tags`` to the current flow run's tags (those it was created with stay); return them all.

    Runs started by the CLI get their tags when created (``prefect.tags``); a run
    started from a deployment carries the deployment's tags, and this adds what only
    the flow knows (the dataset kind), plus ``started-by:deployment`` when nothing
    said how it was started.
    """
    from prefect.client.orchestration import get_client
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return list(tags)
    run = context.flow_run
    current = list(run.tags or [])
    wanted = list(tags)
    if run.deployment_id and not any(tag.startswith("started-by:") for tag in current + wanted):
        wanted.append("started-by:deployment")
    merged = list(dict.fromkeys(current + wanted))
    if merged != current:
        with get_client(sync_client=True) as client:
            client.update_flow_run(run.id, tags=merged)
        run.tags = merged
    return merged


def rename_flow_run(name: str) -> None:
    """Rename the current flow run (when its best name is known only after loading, e.g. a class name)."""
    from prefect.client.orchestration import get_client
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    if context is not None and context.flow_run is not None:
        with get_client(sync_client=True) as client:
            client.update_flow_run(context.flow_run.id, name=name)
        context.flow_run.name = name
