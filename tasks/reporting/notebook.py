"""The teaching notebook's constants and its markdown page (no Prefect)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from convsweep.tasks.reporting import images as page_images
from convsweep.tasks.reporting import render

NOTEBOOK_SIZE = 27


NOTEBOOK_CLIP = 255.0


# What each stage is, in the notebook's words, for the artifact.
STAGE_WORDS = {
    "resized": "the image resized to 27×27 (cv2.resize, bilinear)",
    "horizontal": "sobel_h (valid, stride 1), values above 255 clipped",
    "vertical": "sobel_v (valid, stride 1), values above 255 clipped",
    "sobel": "sqrt(h² + v²) of the clipped maps",
    "max_pool": "2×2 max pooling of the magnitude",
    "avg_pool": "2×2 average pooling of the magnitude",
}


# The figure's panels: each stage, short, in the order the notebook computes them.
FIGURE_STAGES = {
    "resized": "input (resized)",
    "horizontal": "h = sobel_h",
    "vertical": "v = sobel_v",
    "sobel": "magnitude √(h²+v²)",
    "max_pool": "max pool 2×2",
    "avg_pool": "avg pool 2×2",
}


def notebook_figure(arrays: dict[str, np.ndarray], info: dict[str, Any]) -> Any:
    """figure.png: the notebook's whole story in one row, every stage at its true size, titled with its size.

    The notebook's own plot had two unlabelled panels (v and h); here the input, h, v, the
    magnitude and both pools are side by side (``render.contact_sheet``: one image pixel is the
    same length everywhere), h and v in signed gray (0 mid-gray), the others from black.
    """
    cells = [
        (words, render.to_gray(arrays[stage], signed=stage in ("horizontal", "vertical"))[0])
        for stage, words in FIGURE_STAGES.items()
        if stage in arrays
    ]
    label = image_title(info).replace(" (", "\n(")
    title = (
        f"notebook: {info.get('spec', '')} {image_title(info)}\n"
        "resized, 3×3 Sobel h and v (valid, stride 1, values above 255 clipped), their magnitude, pooled 2×2"
    )
    return render.contact_sheet([(label, cells)], title=title)


def image_title(info: dict[str, Any]) -> str:
    """``train #0 (Ankle boot)``: split, index and the class name (or label number) when there is one."""
    title = f"{info['split']} #{info['index']}"
    if info.get("class_name"):
        return f"{title} ({info['class_name']})"
    if info.get("label") is not None:
        return f"{title} (label {info['label']})"
    return title


def notebook_markdown(written: dict[str, Any]) -> str:
    """The notebook artifact: the image, the figure and every stage as pictures, the arrays' shapes, the files.

    Stages are enlarged with nearest-neighbour (every pixel a square); the figure is
    the notebook's own plot, downscaled if wider than 1000 px.
    """
    files_written = written["files"]
    lines = [
        f"# notebook: {written['spec']} {image_title(written)}",
        "",
        f"- dataset `{written['spec']}` · split `{written['split']}` · image {written['index']}",
        f"- source: {written['source']}",
        f"- output folder `{Path(written['folder']).resolve()}`",
        "",
        "## Figure (the notebook's plot)",
        "",
    ]
    if "figure" in files_written:
        uri, _, _ = page_images.png_data_uri(files_written["figure"], max_width=1000)
        lines += [f"![figure]({uri})", "", f"`{Path(files_written['figure']).resolve()}`", ""]
    stages = [stage for stage in STAGE_WORDS if stage in files_written]
    cells = []
    for stage in stages:
        uri, _, _, _, _ = page_images.map_cell_uri(files_written[stage])
        cells.append(f"![{stage}]({uri})")
    lines += [
        "## Every stage",
        "",
        "| " + " | ".join(stages) + " |",
        "|" + "---|" * len(stages),
        "| " + " | ".join(cells) + " |",
        "",
        "## Arrays (`arrays.npz`)",
        "",
        "| array | shape (height × width) | what |",
        "|---|---|---|",
        *[
            f"| `{stage}` | {' × '.join(str(side) for side in shape)} | {STAGE_WORDS.get(stage, '')} |"
            for stage, shape in written["shapes"].items()
        ],
        "",
        "Files: " + ", ".join(f"`{Path(path).resolve()}`" for path in files_written.values()),
        "",
    ]
    return "\n".join(lines)
