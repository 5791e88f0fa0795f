"""The teaching notebook, reproduced exactly on one image, as a Prefect flow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow

from tasks import notebook as steps
from tasks.model import check_safe_name

# load, resize, 2 x convolve, combine, 2 x pool, write: what the flow below submits.
NOTEBOOK_TASK_RUNS = 8


@flow(name="notebook", flow_run_name="notebook-{dataset}-{split}-{index}", persist_result=False)
def notebook(
    dataset: str = "fashion_mnist",
    split: str = "train",
    index: int = 0,
    out: str = "outputs",
    name: str = "notebook",
) -> dict[str, Any]:
    """Resize image ``index`` to 27x27, Sobel h and v (clipped above 255), magnitude, 2x2 max/avg pooling.

    Writes ``<out>/<name>/``: resized, horizontal, vertical, sobel, max_pool,
    avg_pool PNGs, figure.png (the notebook's side-by-side plot) and arrays.npz.
    """
    check_safe_name(name, argument="name")
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ValueError(f"index={index!r} must be a non-negative int")
    image, info = steps.load_image(dataset, split, index)
    resized = steps.resize(image)
    horizontal = steps.convolve_clipped(resized, "sobel_h")
    vertical = steps.convolve_clipped(resized, "sobel_v")
    sobel = steps.combine_magnitude(horizontal, vertical)
    arrays = {
        "resized": resized,
        "horizontal": horizontal,
        "vertical": vertical,
        "sobel": sobel,
        "max_pool": steps.pool(sobel, "max"),
        "avg_pool": steps.pool(sobel, "avg"),
    }
    written = steps.write_outputs(str(Path(out) / name), arrays, info)
    return {**written, "task_runs": NOTEBOOK_TASK_RUNS}
