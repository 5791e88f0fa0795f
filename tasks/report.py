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
import html
import json
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
from tasks import files, render
from tasks.caching import SweepCachePolicy
from tasks.compute import merge_summaries
from tasks.model import ConvSetting, PoolSetting, conv_label, padding_label, pair_label, to_plain

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
    if (
        size[1] == size[0]
        and kernel[1] == kernel[0]
        and stride[1] == stride[0]
        and (left, right) == (top, bottom)
        and dilation[1] == dilation[0]
    ):
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
                    "conv_formula": _formula((input_h, input_w), (kernel_h, kernel_w), stride, pads, dilation),
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
    return render.png_data_uri(path)  # a preview of at most render.EMBED_MAX_SIDE px: never a full-size image


def _markdown_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(str(row[column]) for column in columns) + " |")
    return "\n".join(lines)


REPORT_COLUMNS = [
    "kernel",
    "resize",
    "stride",
    "padding",
    "pad_mode",
    "dilation",
    "conv_h",
    "conv_w",
    "pool_mode",
    "pool_size",
    "pool_h",
    "pool_w",
    "conv_formula",
    "mean",
    "std",
    "max",
    "zero_fraction",
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
        *([] if embed_images else ["- the same report in one self-contained file: [report.html](report.html)"]),
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
            f"{stage}: {scale:.4g}"
            for stage, scale in sorted(record["scaling"].items())
            if not stage.endswith("-input")
        )
        lines += ["", f"scales: {scales}", ""]
    return "\n".join(lines)


# report.html: one file, no server, no network: pictures as PNG data URIs (downscaled
# to at most this width), CSS and the table-sorting script inline.
HTML_IMAGE_MAX_WIDTH = 1600

_HTML_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em auto; max-width: 1700px;
       padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 1.6em; }
table.facts { border-collapse: collapse; }
table.facts th { text-align: left; padding: 2px 1em 2px 0; vertical-align: top; font-weight: 600; }
table.facts td { padding: 2px 0; }
code { background: #f3f3f3; padding: 0 0.25em; border-radius: 3px; word-break: break-all; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; color: #555; }
details summary { cursor: pointer; }
.table-wrap { max-height: 80vh; overflow: auto; border: 1px solid #ccc; }
table.sizes { border-collapse: collapse; font-size: 12px; white-space: nowrap; }
table.sizes th, table.sizes td { border: 1px solid #ddd; padding: 2px 6px; }
table.sizes td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.sizes thead th { position: sticky; top: 0; background: #eef; cursor: pointer; user-select: none; }
table.sizes thead th:hover { background: #dde; }
table.sizes thead th[aria-sort="ascending"]::after { content: " \\25B2"; }
table.sizes thead th[aria-sort="descending"]::after { content: " \\25BC"; }
table.sizes tbody tr:nth-child(even) { background: #fafafa; }
"""

_HTML_SCRIPT = """
document.querySelectorAll("table.sizes").forEach(function (table) {
  var headers = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(headers, function (header, column) {
    header.title = "click to sort";
    header.addEventListener("click", function () {
      var ascending = header.getAttribute("aria-sort") !== "ascending";
      Array.prototype.forEach.call(headers, function (other) { other.removeAttribute("aria-sort"); });
      header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      function key(row) {
        var text = row.cells[column].textContent.trim();
        var number = Number(text);
        return text !== "" && !isNaN(number) ? [0, number] : [1, text];
      }
      rows.sort(function (a, b) {
        var ka = key(a), kb = key(b), order;
        if (ka[0] !== kb[0]) { order = ka[0] - kb[0]; }
        else if (ka[0] === 0) { order = ka[1] - kb[1]; }
        else { order = ka[1].localeCompare(kb[1], undefined, {numeric: true}); }
        if (order === 0) { order = a.dataset.index - b.dataset.index; return order; }
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def _capped_png_uri(path: str | Path, max_width: int = HTML_IMAGE_MAX_WIDTH) -> tuple[str, int, int]:
    """A PNG as a data URI, at most ``max_width`` pixels wide; returns (uri, width, height).

    Wider pictures are downscaled (area averaging) and re-encoded, as 8-bit gray when the
    picture is gray and opaque (the contact sheets), which keeps them a fraction of RGBA's size.
    """
    import cv2

    data = Path(path).read_bytes()
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise RuntimeError(f"could not read {path} as an image")
    height, width = image.shape[:2]
    if width > max_width:
        if image.ndim == 3 and image.shape[2] == 4 and bool((image[:, :, 3] == 255).all()):
            image = image[:, :, :3]
        if (
            image.ndim == 3
            and image.shape[2] == 3
            and bool((image[:, :, 0] == image[:, :, 1]).all() and (image[:, :, 1] == image[:, :, 2]).all())
        ):
            image = image[:, :, 0]
        height = max(1, round(height * max_width / width))
        width = max_width
        image = cv2.resize(np.ascontiguousarray(image), (width, height), interpolation=cv2.INTER_AREA)
        ok, encoded = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        if not ok:
            raise RuntimeError(f"OpenCV could not encode {path} as PNG")
        data = encoded.tobytes()
    return "data:image/png;base64," + base64.b64encode(data).decode(), width, height


def _distinct(rows: list[dict[str, Any]], column: str) -> list[str]:
    return list(dict.fromkeys(str(row[column]) for row in rows))


def sweep_parameters(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The sweep's parameters as (name, value) pairs, read back from its rows."""
    maps = []
    for row in rows:
        entry = f"{row['map']} ({row['kernel_h']}×{row['kernel_w']}{', magnitude' if row['map_kind'] == 'magnitude' else ''})"
        if entry not in maps:
            maps.append(entry)
    pools = list(
        dict.fromkeys(
            render.pool_text(
                str(row["pool_mode"]), str(row["pool_size"]), str(row["pool_stride"]), str(row["pool_padding"])
            )
            for row in rows
        )
    )
    conv_count = len({(row["resize"], row["stride"], row["padding"], row["pad_mode"], row["dilation"]) for row in rows})
    return [
        ("maps", ", ".join(maps)),
        ("resize", ", ".join(_distinct(rows, "resize"))),
        ("conv strides", ", ".join(_distinct(rows, "stride"))),
        ("paddings", ", ".join(_distinct(rows, "padding"))),
        ("pad modes", ", ".join(_distinct(rows, "pad_mode"))),
        ("dilations", ", ".join(_distinct(rows, "dilation"))),
        ("pooling", ", ".join(pools)),
        ("configurations", f"{conv_count} conv settings × {len(pools)} pool settings = {conv_count * len(pools)}"),
    ]


def _facts_table(pairs: list[tuple[str, str]]) -> str:
    cells = "".join(f"<tr><th>{html.escape(key)}</th><td>{value}</td></tr>" for key, value in pairs)
    return f'<table class="facts">{cells}</table>'


def _sizes_table(rows: list[dict[str, Any]]) -> str:
    columns = list(rows[0]) if rows else []
    head = "".join(f'<th scope="col">{html.escape(column)}</th>' for column in columns)
    body = []
    for index, row in enumerate(rows):
        cells = []
        for column in columns:
            value = row[column]
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            cells.append(f'<td class="num">{value}</td>' if numeric else f"<td>{html.escape(str(value))}</td>")
        body.append(f'<tr data-index="{index}">{"".join(cells)}</tr>')
    return (
        f'<div class="table-wrap"><table class="sizes" id="sizes"><thead><tr>{head}</tr></thead>'
        f"<tbody>\n{chr(10).join(body)}\n</tbody></table></div>"
    )


def render_html(
    *,
    name: str,
    dataset: dict[str, Any],
    rows: list[dict[str, Any]],
    out_dir: Path,
    summary_path: Path,
    sample_records: list[dict[str, Any]],
) -> str:
    """report.html: self-contained (pictures as data URIs, inline CSS and JS, no URL outside the file)."""

    def relative(path: str | Path) -> str:
        return str(Path(path).resolve().relative_to(out_dir.resolve()))

    def code(text: Any) -> str:
        return f"<code>{html.escape(str(text))}</code>"

    selection = {key: value for key, value in (dataset.get("selection") or {}).items() if value is not None}
    dataset_facts = [
        ("dataset", code(dataset["spec"])),
        ("split", code(dataset["split"])),
        ("selection", code(json.dumps(selection, sort_keys=True))),
        ("images", f"{dataset['n']} of {dataset['height']}×{dataset['width']}"),
        ("source", html.escape(str(dataset["source"]))),
        ("classes", html.escape(", ".join(dataset["class_names"])) if dataset.get("class_names") else "no class names"),
        ("fingerprint", code(dataset["fingerprint"])),
        ("output folder", code(out_dir.resolve())),
    ]
    parameters = [(key, html.escape(value)) for key, value in sweep_parameters(rows)]
    summary_uri, summary_w, summary_h = _capped_png_uri(summary_path)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>convsweep: {html.escape(name)}</title>",
        f"<style>{_HTML_STYLE}</style>",
        "</head><body>",
        f"<h1>convsweep: {html.escape(name)}</h1>",
        "<h2>Dataset</h2>",
        _facts_table(dataset_facts),
        "<h2>Sweep parameters</h2>",
        _facts_table(parameters),
        "<h2>Summary</h2>",
        f'<figure><img alt="summary figure" src="{summary_uri}" width="{summary_w}" height="{summary_h}">'
        f"<figcaption>{html.escape(relative(summary_path))}</figcaption></figure>",
        "<h2>Sample images</h2>",
        f"<p>Signed kernel responses: {code(SIGNED_SCALING)}; magnitudes: {code(MAGNITUDE_SCALING)}; "
        "the input is shown as read. Every map is drawn at its true size relative to the others. "
        "Pictures wider than "
        f"{HTML_IMAGE_MAX_WIDTH} px are shown downscaled; the full-size files are named under them.</p>",
    ]
    for record in sample_records:
        uri, width, height = _capped_png_uri(record["contact"])
        scales = ", ".join(
            f"{stage}: {scale:.4g}"
            for stage, scale in sorted(record["scaling"].items())
            if not stage.endswith("-input")
        )
        parts += [
            f"<h3>{html.escape(record['conv'])}</h3>",
            f'<figure><img alt="contact sheet {html.escape(record["conv"])}" src="{uri}" width="{width}" '
            f'height="{height}"><figcaption>{html.escape(relative(record["contact"]))}'
            f"<details><summary>gray scale of every picture (max|x| or max)</summary>{html.escape(scales)}</details>"
            "</figcaption></figure>",
        ]
    parts += [
        "<h2>Output sizes and statistics</h2>",
        f"<p>{len(rows)} rows (configuration × output map), as in {code('sizes.csv')}. "
        "Click a column header to sort; click again to reverse.</p>",
        _sizes_table(rows),
        f"<script>{_HTML_SCRIPT}</script>",
        "</body></html>",
        "",
    ]
    return "\n".join(parts)


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
        expected_outputs=lambda inputs: [
            Path(inputs["out_dir"]) / "summary.png",
            Path(inputs["out_dir"]) / "report.md",
            Path(inputs["out_dir"]) / "report.html",
        ],
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
    """Write summary.png, report.md and the self-contained report.html."""
    import pandas as pd

    folder = Path(out_dir)
    title = f"convsweep: {name} — {dataset['spec']} ({dataset['split']}, {dataset['n']} images)"
    figure = render.summary_figure(pd.DataFrame(rows), title=title)
    try:
        summary_path = files.write_figure(folder / "summary.png", figure, dpi=100)
    finally:
        render.close(figure)
    report_text = render_report(
        name=name, dataset=dataset, rows=rows, out_dir=folder, sample_records=sample_records, embed_images=False
    )
    report_path = files.write_text(folder / "report.md", report_text)
    html_text = render_html(
        name=name, dataset=dataset, rows=rows, out_dir=folder, summary_path=summary_path, sample_records=sample_records
    )
    html_path = files.write_text(folder / "report.html", html_text)
    return {"summary": str(summary_path), "report": str(report_path), "html": str(html_path), "rows": len(rows)}


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
            name=name,
            dataset=dataset,
            rows=rows,
            out_dir=Path(out_dir),
            sample_records=sample_records,
            embed_images=True,
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
