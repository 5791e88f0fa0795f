"""convsweep.tasks.reporting.notebook: the notebook's figure tells its whole story."""

from __future__ import annotations

import numpy as np

from convsweep.tasks.reporting import notebook as notebook_page
from convsweep.tasks.reporting import render


def test_notebook_figure_every_stage_titled_with_its_size():
    rng = np.random.default_rng(0)
    arrays = {
        "resized": rng.integers(0, 255, size=(27, 27)).astype(np.float32),
        "horizontal": rng.normal(size=(25, 25)),
        "vertical": rng.normal(size=(25, 25)),
        "sobel": rng.random((25, 25)),
        "max_pool": rng.random((12, 12)),
        "avg_pool": rng.random((12, 12)),
    }
    info = {"spec": "fashion_mnist", "split": "train", "index": 0, "class_name": "Ankle boot"}
    figure = notebook_page.notebook_figure(arrays, info)
    try:
        texts = [text.get_text() for text in figure.axes[0].texts]
        title = figure.get_suptitle()
    finally:
        render.close(figure)
    assert texts == [
        "input (resized)\n27×27",
        "h = sobel_h\n25×25",
        "v = sobel_v\n25×25",
        "magnitude √(h²+v²)\n25×25",
        "max pool 2×2\n12×12",
        "avg pool 2×2\n12×12",
        "train #0\n(Ankle boot)",
    ]
    assert title.startswith("notebook: fashion_mnist train #0 (Ankle boot)\n")
