"""The teaching notebook, reproduced exactly on one image, as a Prefect flow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from prefect.states import Completed

from convsweep.flows.task_runs import TaskRuns
from convsweep.tasks import notebook as steps
from convsweep.tasks.datasets.errors import DataMismatchError
from convsweep.tasks.model import check_safe_name
from convsweep.tasks.prefect_glue import artifacts
from convsweep.tasks.reporting.notebook import image_title


def notebook_run_name() -> str:
    """``notebook · fashion_mnist · train #0``; the class name is added once the image is loaded."""
    parameters = flow_run.parameters
    return (
        f"{parameters.get('name', 'notebook')} · {artifacts.dataset_label(parameters.get('dataset', '?'))} · "
        f"{parameters.get('split', '?')} #{parameters.get('index', '?')}"
    )


@flow(name="notebook", flow_run_name=notebook_run_name, persist_result=False)
def notebook(
    dataset: str = "fashion_mnist",
    split: str = "train",
    index: int = 0,
    out: str = "outputs",
    name: str = "notebook",
) -> Any:
    """Resize image ``index`` to 27x27, Sobel h and v (clipped above 255), magnitude, 2x2 max/avg pooling.

    Writes ``<out>/<name>/``: resized, horizontal, vertical, sobel, max_pool,
    avg_pool PNGs, figure.png (the notebook's side-by-side plot) and arrays.npz,
    and a markdown artifact ``<name>-report`` showing them.  Returns a Completed
    state whose message names the image and the output folder; its data is a
    small record (what ``notebook(...)`` returns to a Python caller).
    """
    check_safe_name(name, argument="name")
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ValueError(f"index={index!r} must be a non-negative int")
    logger = get_run_logger()
    runs = TaskRuns()  # every task run, counted for the CLI's wait
    artifacts.add_flow_run_tags(["convsweep", "notebook", f"dataset:{artifacts.dataset_kind(dataset)}"])
    try:
        image, info = runs.result(steps.load_image, dataset, split, index)
    except (ValueError, TypeError) as error:
        # Found once the run has started, so a data error: a Failed run and exit 1 (README "Exit codes").
        raise DataMismatchError(str(error)) from None
    title = image_title(info)
    artifacts.rename_flow_run(f"{name} · {artifacts.dataset_label(info['spec'])} · {title}")
    logger.info("image %s of %s: %dx%d (height x width); source: %s", title, info["spec"], *image.shape, info["source"])
    resized = runs.result(steps.resize, image)
    horizontal = runs.result(steps.convolve_clipped, resized, "sobel_h")
    vertical = runs.result(steps.convolve_clipped, resized, "sobel_v")
    sobel = runs.result(steps.combine_magnitude, horizontal, vertical)
    arrays = {
        "resized": resized,
        "horizontal": horizontal,
        "vertical": vertical,
        "sobel": sobel,
        "max_pool": runs.result(steps.pool, sobel, "max"),
        "avg_pool": runs.result(steps.pool, sobel, "avg"),
    }
    logger.info(
        "shapes: %s", ", ".join(f"{stage} {values.shape[0]}x{values.shape[1]}" for stage, values in arrays.items())
    )
    folder = Path(out) / name
    written = runs.result(steps.write_outputs, str(folder), arrays, info)
    logger.info("files written: %s", ", ".join(written["files"].values()))
    key = runs.result(steps.publish_artifact, name, written)
    logger.info("artifact %s; outputs in %s", key, folder.resolve())
    message = f"notebook on {info['spec']} {title}: outputs in {folder.resolve()}"
    return Completed(message=message, data={**written, "task_runs": runs.count})
