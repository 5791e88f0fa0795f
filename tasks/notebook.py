"""The teaching notebook's steps as Prefect tasks, on one image.

The notebook resizes image 0 to 27x27 with ``cv2.resize`` (bilinear), slides
the two 3x3 Sobel kernels over it (values above 255 become 255, negatives are
kept), combines them as ``sqrt(h² + v²)`` and pools 2x2 by max and by average.
The arrays are tiny (27x27), so these tasks pass them directly and persist
nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from prefect import task
from prefect.artifacts import create_markdown_artifact

from convsweep import conv_core
from convsweep.tasks.datasets import open_dataset
from convsweep.tasks.io import files
from convsweep.tasks.prefect_glue import artifacts
from convsweep.tasks.reporting import render
from convsweep.tasks.reporting.notebook import (
    NOTEBOOK_CLIP,
    NOTEBOOK_SIZE,
    image_title,
    notebook_figure,
    notebook_markdown,
)


@task(
    name="load-image", task_run_name="load-image-{split}-{index}", persist_result=False
)  # no retries: see tasks/load.py
def load_image(spec: str, split: str, index: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Image ``index`` of ``split`` as (H, W) uint8, and where it came from."""
    view = open_dataset(spec, split=split)
    if not 0 <= index < view.n:
        raise ValueError(f"index={index} is out of range: {spec} {split} has {view.n} images (0..{view.n - 1})")
    label = None if view.labels is None else int(view.labels[index])
    class_name = view.class_names[label] if (view.class_names and label is not None) else None
    info = {
        "spec": view.spec,
        "split": view.split,
        "index": index,
        "label": label,
        "class_name": class_name,
        "source": view.source,
    }
    return view.read(index, index + 1)[0], info


@task(name="resize", task_run_name="resize-{size}x{size}", persist_result=False)
def resize(image: np.ndarray, size: int = NOTEBOOK_SIZE) -> np.ndarray:
    return conv_core.resize(image, size)


@task(name="convolve", task_run_name="convolve-{kernel_name}", persist_result=False)
def convolve_clipped(image: np.ndarray, kernel_name: str) -> np.ndarray:
    """``kernel_name`` over the image (valid, stride 1); values above 255 become 255, negatives stay."""
    response = conv_core.conv2d(image, conv_core.kernels.get(kernel_name))
    return np.minimum(response, np.float32(NOTEBOOK_CLIP))


@task(name="combine-magnitude", task_run_name="magnitude-sqrt(h²+v²)", persist_result=False)
def combine_magnitude(horizontal: np.ndarray, vertical: np.ndarray) -> np.ndarray:
    return conv_core.sobel_magnitude(horizontal, vertical)


@task(name="pool", task_run_name="pool-{mode}", persist_result=False)
def pool(feature_map: np.ndarray, mode: str, size: int = 2) -> np.ndarray:
    return conv_core.pool2d(feature_map, size, mode=mode)


@task(name="write-notebook-outputs", persist_result=False)
def write_outputs(out_dir: str, arrays: dict[str, np.ndarray], info: dict[str, Any]) -> dict[str, Any]:
    """PNGs of every stage, the notebook's side-by-side figure and ``arrays.npz``."""
    folder = Path(out_dir)
    written: dict[str, str] = {}
    for stage, values in arrays.items():
        signed = stage in ("horizontal", "vertical")
        gray, _ = render.to_gray(values, signed=signed)
        written[stage] = str(files.write_png(folder / f"{stage}.png", gray))
    figure = notebook_figure(arrays, info)
    try:
        written["figure"] = str(files.write_figure(folder / "figure.png", figure, dpi=100))
    finally:
        render.close(figure)
    written["arrays"] = str(files.write_npz(folder / "arrays.npz", **arrays))
    shapes = {stage: list(values.shape) for stage, values in arrays.items()}
    return {"folder": str(folder), "files": written, "shapes": shapes, **info}


@task(name="publish-notebook-artifact", persist_result=False)
def publish_artifact(name: str, written: dict[str, Any]) -> str:
    """The notebook's markdown artifact (key ``<name>-report``); returns its key."""
    key = artifacts.artifact_key(name, "report")
    create_markdown_artifact(
        markdown=notebook_markdown(written),
        key=key,
        description=f"notebook on {written['spec']} {image_title(written)}: figure, stages, array shapes",
    )
    return key
