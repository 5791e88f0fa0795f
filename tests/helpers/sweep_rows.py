"""Synthetic sizes.csv rows (same columns as ``convsweep.tasks.report.build_rows``) for figure and report tests.

Shapes come from the settings' own output arithmetic; the statistics are seeded,
made-up numbers (the figures only need plausible values).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from convsweep.tasks.model import ConvSetting, PoolSetting, padding_label, pair_label

# The README's largest example: 2 x 2 x 3 x 2 x 2 conv settings, 5 pool settings, 3 maps.
BIG = dict(
    resizes=[None, (27, 27)],
    strides=[1, 2],
    paddings=["valid", "same", 1],
    pad_modes=["zeros", "reflect"],
    dilations=[1, 2],
    pools=[("max", 2), ("max", 3), ("avg", 2), ("avg", 3), ("none", None)],
    maps={"sobel_h": "kernel", "sobel_v": "kernel", "sobel": "magnitude"},
)
ONE = dict(
    resizes=[None],
    strides=[1],
    paddings=["valid"],
    pad_modes=["zeros"],
    dilations=[1],
    pools=[("max", 2)],
    maps={"sobel_h": "kernel", "sobel_v": "kernel", "sobel": "magnitude"},
)


def synthetic_rows(
    *, resizes, strides, paddings, pad_modes, dilations, pools, maps, size=(28, 28), seed=0
) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    rows = []
    for resize, stride, padding, pad_mode, dilation in itertools.product(
        resizes, strides, paddings, pad_modes, dilations
    ):
        conv = ConvSetting(resize, (stride, stride), padding, pad_mode, (dilation, dilation))
        input_size = resize or size
        for map_name, kind in maps.items():
            pads, (conv_h, conv_w) = conv.output(input_size, (3, 3))
            for mode, window in pools:
                pool = (
                    PoolSetting(mode, None, None, None)
                    if mode == "none"
                    else PoolSetting(mode, (window, window), (window, window), "valid")
                )
                _, (pool_h, pool_w) = pool.output((conv_h, conv_w))
                rows.append(
                    {
                        "dataset": "idx:/data/mnist",
                        "split": "test",
                        "n_images": 100,
                        "input_h": size[0],
                        "input_w": size[1],
                        "resize": "native" if resize is None else pair_label(resize),
                        "conv_input_h": input_size[0],
                        "conv_input_w": input_size[1],
                        "map": map_name,
                        "kernel": map_name,
                        "map_kind": kind,
                        "kernel_h": 3,
                        "kernel_w": 3,
                        "stride": pair_label(conv.stride),
                        "stride_y": stride,
                        "stride_x": stride,
                        "padding": padding_label(padding),
                        "pad_top": pads[0],
                        "pad_bottom": pads[1],
                        "pad_left": pads[2],
                        "pad_right": pads[3],
                        "pad_mode": pad_mode,
                        "dilation": pair_label(conv.dilation),
                        "conv_h": conv_h,
                        "conv_w": conv_w,
                        "conv_formula": f"... = {conv_h}",
                        "pool_mode": mode,
                        "pool_size": "" if mode == "none" else str(window),
                        "pool_stride": "" if mode == "none" else str(window),
                        "pool_padding": "" if mode == "none" else "valid",
                        "pool_formula": "" if mode == "none" else f"... = {pool_h}",
                        "pool_h": pool_h,
                        "pool_w": pool_w,
                        "receptive_field": "3",
                        "jump": str(stride),
                        "mean": round(float(rng.uniform(0, 500)), 6),
                        "std": round(float(rng.uniform(0, 100)), 6),
                        "min": 0.0,
                        "max": 1020.0,
                        "zero_fraction": round(float(rng.uniform()), 6),
                        "compute_seconds": 0.1,
                    }
                )
    return rows
