"""The sweep's outputs that span every configuration.

* :func:`build_rows` — one row per configuration and output map, from the chunk
  records (pure; asserts every shape against ``conv_core.output_size``);
* :func:`write_sizes` — ``sizes.csv`` (pandas) and :func:`write_report` —
  ``summary.png``, ``report.md``: cached like the compute tasks, so a rerun
  rewrites nothing;
* :func:`publish_artifacts` — the table and markdown artifacts for the Prefect UI,
  on every run (keys follow the sweep name, so the UI shows their history);
* :class:`Progress` — the progress artifact, updated as chunks finish.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import numpy as np
from prefect import task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

import conv_core
from tasks.model import ConvSetting, PoolSetting, conv_label, pair_label, padding_label, to_plain
from tasks import files, render
from tasks.caching import SweepCachePolicy
from tasks.compute import merge_summaries

SIGNED_SCALING = "gray = 127.5 + 127.5 * x / max|x| (zero is mid-gray)"
MAGNITUDE_SCALING = "gray = 255 * x / max(x)"


def artifact_key(sweep_name: str, what: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    return re.sub(r"[^a-z0-9-]+", "-", f"{sweep_name}-{what}".lower()).strip("-")


def _axis_formula(n: int, k: int, *, stride: int, before: int, after: int, dilation: int = 1) -> str:
    return conv_core.conv_formula(n, k, stride=stride, pad_before=before, pad_after=after, dilation=dilation)


def _formula(size: tuple[int, int], kernel: tuple[int, int], stride, pads, dilation=(1, 1)) -> str:
    top, bottom, left, right = pads
    height = _axis_formula(size[0], kernel[0], stride=stride[0], before=top, after=bottom, dilation=dilation[0])
    if size[1] == size[0] and kernel[1] == kernel[0] and stride[1] == stride[0] and (left, right) == (top, bottom) and dilation[1] == dilation[0]:
        return height
    width = _axis_formula(size[1], kernel[1], stride=stride[1], before=left, after=right, dilation=dilation[1])
    return f"H: {height}; W: {width}"


def build_rows(
    *,
    dataset: dict[str, Any],
    kernels: dict[str, Any],
    magnitudes: dict[str, tuple[str, str]],
    conv_settings: list[dict[str, Any]],
    pools: list[dict[str, Any]],
    chunk_records: dict[str, list[dict[str, Any]]],
) -> list[dict[str, Any]]:
    """One row per (conv setting, map, pool setting), shapes checked against ``output_size``.

    ``chunk_records`` maps a conv label to the records of all its chunks.
    """
    rows: list[dict[str, Any]] = []
    for conv in conv_settings:
        label = conv_label(conv)
        setting = ConvSetting.from_plain(conv)
        records = chunk_records[label]
        input_h, input_w = records[0]["input_shape"]
        stride, dilation = setting.stride, setting.dilation
        seconds = sum(record["seconds"] for record in records)
        for map_name in list(kernels) + list(magnitudes):
            source_kernel = magnitudes[map_name][0] if map_name in magnitudes else map_name
            kernel_h, kernel_w = np.asarray(kernels[source_kernel]).shape
            pads, (conv_h, conv_w) = setting.output((input_h, input_w), (kernel_h, kernel_w))
            for pool in pools:
                pool_setting = PoolSetting.from_plain(pool)
                plabel = pool_setting.label
                parts = [record["maps"][map_name][plabel] for record in records]
                produced_conv = {tuple(part["conv_shape"]) for part in parts}
                produced_pool = {tuple(part["pool_shape"]) for part in parts}
                if produced_conv != {(conv_h, conv_w)}:
                    raise RuntimeError(
                        f"{label} {map_name}: conv produced {sorted(produced_conv)} but output_size says {(conv_h, conv_w)}"
                    )
                stats = merge_summaries(parts)
                row: dict[str, Any] = {
                    "dataset": dataset["spec"],
                    "split": dataset["split"],
                    "n_images": dataset["n"],
                    "input_h": dataset["height"],
                    "input_w": dataset["width"],
                    "resize": "native" if setting.resize is None else pair_label(setting.resize),
                    "conv_input_h": input_h,
                    "conv_input_w": input_w,
                    "map": map_name,
                    "kernel": map_name,
                    "map_kind": "magnitude" if map_name in magnitudes else "kernel",
                    "kernel_h": kernel_h,
                    "kernel_w": kernel_w,
                    "stride": pair_label(stride),
                    "stride_y": stride[0],
                    "stride_x": stride[1],
                    "padding": padding_label(setting.padding),
                    "pad_top": pads[0],
                    "pad_bottom": pads[1],
                    "pad_left": pads[2],
                    "pad_right": pads[3],
                    "pad_mode": setting.pad_mode,
                    "dilation": pair_label(dilation),
                    "conv_h": conv_h,
                    "conv_w": conv_w,
                    "conv_formula": _formula(
                        (input_h, input_w), (kernel_h, kernel_w), stride, pads, dilation
                    ),
                }
                effective = ((kernel_h - 1) * dilation[0] + 1, (kernel_w - 1) * dilation[1] + 1)
                layers_y = [(effective[0], stride[0])]
                layers_x = [(effective[1], stride[1])]
                ppads, (pool_h, pool_w) = pool_setting.output((conv_h, conv_w))
                if pool_setting.mode == "none":
                    row.update(pool_mode="none", pool_size="", pool_stride="", pool_padding="", pool_formula="")
                else:
                    size, pstride = pool_setting.size, pool_setting.stride
                    row.update(
                        pool_mode=pool_setting.mode,
                        pool_size=pair_label(size),
                        pool_stride=pair_label(pstride),
                        pool_padding=padding_label(pool_setting.padding),
                        pool_formula=_formula((conv_h, conv_w), size, pstride, ppads),
                    )
                    layers_y.append((size[0], pstride[0]))
                    layers_x.append((size[1], pstride[1]))
                if produced_pool != {(pool_h, pool_w)}:
                    raise RuntimeError(
                        f"{label} {map_name} {plabel}: pooling produced {sorted(produced_pool)} "
                        f"but output_size says {(pool_h, pool_w)}"
                    )
                rf_y, jump_y = conv_core.receptive_field(layers_y)
                rf_x, jump_x = conv_core.receptive_field(layers_x)
                std = float(np.sqrt(stats["m2"] / stats["count"])) if stats["count"] else 0.0
                row.update(
                    pool_h=pool_h,
                    pool_w=pool_w,
                    receptive_field=pair_label((rf_y, rf_x)),
                    jump=pair_label((jump_y, jump_x)),
                    mean=round(stats["mean"], 6),
                    std=round(std, 6),
                    min=round(stats["min"], 6),
                    max=round(stats["max"], 6),
                    zero_fraction=round(stats["zeros"] / stats["count"], 6) if stats["count"] else 0.0,
                    compute_seconds=round(seconds, 4),
                )
                rows.append(row)
    return rows


def _data_uri(path: str | Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def _markdown_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(str(row[column]) for column in columns) + " |")
    return "\n".join(lines)


REPORT_COLUMNS = [
    "kernel", "resize", "stride", "padding", "pad_mode", "dilation", "conv_h", "conv_w",
    "pool_mode", "pool_size", "pool_h", "pool_w", "conv_formula", "mean", "std", "max", "zero_fraction",
]


def render_report(
    *,
    name: str,
    dataset: dict[str, Any],
    rows: list[dict[str, Any]],
    out_dir: Path,
    sample_records: list[dict[str, Any]],
    embed_images: bool,
) -> str:
    """report.md (links relative to ``out_dir``); with ``embed_images`` small images are inlined for the UI."""

    def relative(path: str | Path) -> str:
        return str(Path(path).resolve().relative_to(out_dir.resolve()))

    csv_link = (out_dir / "sizes.csv").resolve() if embed_images else "sizes.csv"
    summary = (
        f"summary figure: `{(out_dir / 'summary.png').resolve()}`"
        if embed_images
        else f"![summary]({relative(out_dir / 'summary.png')})"
    )
    lines = [
        f"# convsweep: {name}",
        "",
        f"- dataset: `{dataset['spec']}` split `{dataset['split']}`, {dataset['n']} images of "
        f"{dataset['height']}x{dataset['width']} ({dataset['source']})",
        f"- fingerprint: `{dataset['fingerprint']}`",
        f"- {len(rows)} rows (configuration x output map) in [sizes.csv]({csv_link})",
        f"- output folder: `{out_dir.resolve()}`",
        "",
        "## Summary",
        "",
        summary,
        "",
        "## Output sizes and statistics",
        "",
        _markdown_table(rows, REPORT_COLUMNS),
        "",
        "## Sample images",
        "",
        f"Signed kernel responses: `{SIGNED_SCALING}`; magnitudes: `{MAGNITUDE_SCALING}`; "
        "the input is shown as read. The scale (max|x| or max) of every picture is listed under it.",
        "",
    ]
    for record in sample_records:
        lines += [f"### {record['conv']}", ""]
        if embed_images:
            # Small per-stage PNGs (a few hundred bytes each) inline; the contact sheet by path.
            first_index = min(int(stage.split("-", 1)[0]) for stage in record["images"]) if record["images"] else None
            for stage, path in record["images"].items():
                if first_index is not None and stage.startswith(f"{first_index}-"):
                    lines.append(f"![{stage}]({_data_uri(path)})")
            lines += ["", f"contact sheet: `{record['contact']}`"]
        else:
            lines.append(f"![contact sheet]({relative(record['contact'])})")
        scales = ", ".join(
            f"{stage}: {scale:.4g}" for stage, scale in sorted(record["scaling"].items()) if not stage.endswith("-input")
        )
        lines += ["", f"scales: {scales}", ""]
    return "\n".join(lines)


def _outputs_key(inputs: dict[str, Any]) -> dict[str, Any]:
    # Everything a file below depends on; the compute seconds in the rows come from the
    # cached chunk records, so a rerun over cached chunks gives the same key.
    return {**inputs, "out_dir": str(Path(inputs["out_dir"]).resolve())}


@task(
    name="write-sizes",
    cache_policy=SweepCachePolicy(
        key_inputs=_outputs_key, expected_outputs=lambda inputs: [Path(inputs["out_dir"]) / "sizes.csv"]
    ),
    result_serializer="json",
    persist_result=True,
)
def write_sizes(rows: list[dict[str, Any]], out_dir: str) -> str:
    """Write ``sizes.csv`` with pandas."""
    import pandas as pd

    return str(files.write_csv(Path(out_dir) / "sizes.csv", pd.DataFrame(rows)))


@task(
    name="write-report",
    cache_policy=SweepCachePolicy(
        key_inputs=_outputs_key,
        expected_outputs=lambda inputs: [Path(inputs["out_dir"]) / "summary.png", Path(inputs["out_dir"]) / "report.md"],
    ),
    result_serializer="json",
    persist_result=True,
)
def write_report(
    name: str,
    dataset: dict[str, Any],
    rows: list[dict[str, Any]],
    out_dir: str,
    sample_records: list[dict[str, Any]],
) -> dict[str, Any]:
    """Write summary.png and report.md."""
    import pandas as pd

    folder = Path(out_dir)
    figure = render.summary_figure(pd.DataFrame(rows))
    try:
        summary_path = files.write_figure(folder / "summary.png", figure, dpi=100)
    finally:
        render.close(figure)
    report_text = render_report(
        name=name, dataset=dataset, rows=rows, out_dir=folder, sample_records=sample_records, embed_images=False
    )
    report_path = files.write_text(folder / "report.md", report_text)
    return {"summary": str(summary_path), "report": str(report_path), "rows": len(rows)}


@task(name="publish-artifacts", persist_result=False)
def publish_artifacts(
    name: str,
    dataset: dict[str, Any],
    rows: list[dict[str, Any]],
    out_dir: str,
    sample_records: list[dict[str, Any]],
) -> None:
    """The sweep's table and markdown artifacts, on every run, so each flow run shows them in the UI."""
    create_table_artifact(
        table=to_plain(rows), key=artifact_key(name, "sizes"), description=f"sizes.csv of sweep {name}"
    )
    create_markdown_artifact(
        markdown=render_report(
            name=name, dataset=dataset, rows=rows, out_dir=Path(out_dir), sample_records=sample_records, embed_images=True
        ),
        key=artifact_key(name, "report"),
        description=f"report of sweep {name}",
    )


# In-process observers of sweep progress (the CLI's progress bar): callables (done, total).
progress_listeners: list[Any] = []


class Progress:
    """A progress artifact for the sweep, advanced as chunk tasks finish; also tells ``progress_listeners``."""

    def __init__(self, name: str, total: int) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.artifact_id = create_progress_artifact(
            progress=0.0, key=artifact_key(name, "progress"), description=f"chunks of sweep {name} finished"
        )

    def advance(self, count: int = 1) -> None:
        self.done += count
        update_progress_artifact(self.artifact_id, progress=100.0 * self.done / self.total)
        for listener in list(progress_listeners):
            listener(self.done, self.total)
