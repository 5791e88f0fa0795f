"""The sweep's picture task: every stage of a few sample images, for one conv setting.

Writes, under the sweep's folder,

* ``samples/<conv label>/<index>-<stage>.png``: the input (after resize), each
  kernel's map, each magnitude, and each map after each pool setting;
* ``contact/<conv label>.png``: one matplotlib contact sheet of all of them,

and returns the paths and the gray scaling of every picture.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from prefect import task

from tasks import files, render
from tasks.caching import SweepCachePolicy
from tasks.compute import apply_pool, compute_maps, open_selection
from tasks.model import (
    ConvSetting,
    PoolSetting,
    conv_label,
    magnitude_pairs,
    map_names,
    padding_label,
    pair_label,
    pool_label,
)


def sample_paths(
    out_dir: str | Path, conv: dict[str, Any], kernels: dict[str, Any], pools: list[dict], samples: list[int]
) -> dict[str, Path]:
    """Every file the task writes, by stage name ``<index>-<stage>``, plus ``contact``."""
    label = conv_label(conv)
    folder = Path(out_dir) / "samples" / label
    maps = map_names(kernels)
    stages = (
        ["input"] + maps + [f"{name}-{pool_label(pool)}" for name in maps for pool in pools if pool["mode"] != "none"]
    )
    paths = {f"{index}-{stage}": folder / f"{index}-{stage}.png" for index in samples for stage in stages}
    paths["contact"] = Path(out_dir) / "contact" / f"{label}.png"
    return paths


def _sample_key(inputs: dict[str, Any]) -> dict[str, Any]:
    # The sample images' own content and labels (tasks.datasets.identity_index) when given, so
    # that images appended to the dataset leave the pictures cached; else the whole selection's.
    content = inputs.get("samples_fingerprint")
    return {
        "content": content if content else {"selection": inputs["dataset"]["fingerprint"]},
        "class_names": inputs["dataset"].get("class_names"),
        "conv": inputs["conv"],
        "kernels": inputs["kernels"],
        "pools": inputs["pools"],
        "samples": inputs["samples"],
        "out_dir": str(Path(inputs["out_dir"]).resolve()),
    }


def _sample_outputs(inputs: dict[str, Any]) -> list[Path]:
    return list(
        sample_paths(inputs["out_dir"], inputs["conv"], inputs["kernels"], inputs["pools"], inputs["samples"]).values()
    )


def _samples_run_name() -> str:
    from prefect.runtime import task_run

    return f"samples-{conv_label(task_run.parameters['conv'])}"


def _pool_words(pool: dict[str, Any]) -> str:
    setting = PoolSetting.from_plain(pool)
    if setting.mode == "none":
        return "no pooling"
    return render.pool_text(
        setting.mode, pair_label(setting.size), pair_label(setting.stride), padding_label(setting.padding)
    )


def _sheet_title(conv: dict[str, Any]) -> str:
    setting = ConvSetting.from_plain(conv)
    words = render.conv_text(
        resize="native" if setting.resize is None else pair_label(setting.resize),
        stride=pair_label(setting.stride),
        padding=padding_label(setting.padding),
        pad_mode=setting.pad_mode,
        dilation=pair_label(setting.dilation),
    )
    return f"{setting.label}: {words}\nevery map at its true size relative to the others (one image pixel, one length)"


def _row_label(view: Any, dataset: dict[str, Any], index: int) -> str:
    """'#3' plus the sample's class: its name where the dataset has names, else 'label 7'."""
    labels = getattr(view, "labels", None)
    if labels is None:
        return f"#{index}"
    label = int(labels[index])
    names = dataset.get("class_names")
    if names and 0 <= label < len(names):
        return f"#{index}\n{names[label]}"
    return f"#{index}\nlabel {label}"


@task(
    name="write-samples",
    task_run_name=_samples_run_name,
    cache_policy=SweepCachePolicy(key_inputs=_sample_key, expected_outputs=_sample_outputs),
    result_serializer="json",
    persist_result=True,
)
def write_samples(
    dataset: dict[str, Any],
    conv: dict[str, Any],
    kernels: dict[str, Any],
    pools: list[dict[str, Any]],
    samples: list[int],
    out_dir: str,
    samples_fingerprint: str | None = None,
) -> dict[str, Any]:
    """PNGs of every stage for ``samples`` (indices into the selection) and a contact sheet.

    ``samples_fingerprint`` (the content fingerprint of those images) only keys the cache.
    """
    paths = sample_paths(out_dir, conv, kernels, pools, samples)
    view = open_selection(dataset)
    images = np.stack([view.read(index, index + 1)[0] for index in samples])
    resized, maps = compute_maps(images, conv=conv, kernels=kernels)
    magnitudes = set(magnitude_pairs(kernels))
    column_titles = {
        f"{name}-{pool_label(pool)}": f"{name}\n{_pool_words(pool)}".replace(" / ", "\n/ ")
        for name in maps
        for pool in pools
    }
    scaling: dict[str, float] = {}
    sheet_rows = []
    for position, index in enumerate(samples):
        cells = []
        stage_images: list[tuple[str, np.ndarray, bool]] = [("input", resized[position], False)]
        for name, feature_map in maps.items():
            stage_images.append((name, feature_map[position], name not in magnitudes))
        for name, feature_map in maps.items():
            for pool in pools:
                if pool["mode"] == "none":
                    continue
                pooled = apply_pool(feature_map[position : position + 1], pool)[0]
                stage_images.append((f"{name}-{pool_label(pool)}", pooled, name not in magnitudes))
        for stage, values, signed in stage_images:
            gray, scale = render.to_gray(values, signed=signed)
            files.write_png(paths[f"{index}-{stage}"], gray)
            scaling[f"{index}-{stage}"] = scale
            cells.append((column_titles.get(stage, stage), gray))
        sheet_rows.append((_row_label(view, dataset, index), cells))
    figure = render.contact_sheet(sheet_rows, title=_sheet_title(conv))
    try:
        files.write_figure(paths["contact"], figure, dpi=110)
    finally:
        render.close(figure)
    return {
        "conv": conv_label(conv),
        "contact": str(paths["contact"]),
        "images": {stage: str(path) for stage, path in paths.items() if stage != "contact"},
        "scaling": scaling,
    }
