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

import html
import json
import time
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
from tasks import artifacts, files, render
from tasks.artifacts import artifact_key
from tasks.caching import SweepCachePolicy
from tasks.compute import merge_summaries
from tasks.model import ConvSetting, PoolSetting, conv_label, padding_label, pair_label, to_plain

SIGNED_SCALING = "gray = 127.5 + 127.5 * x / max|x| (zero is mid-gray)"
MAGNITUDE_SCALING = "gray = 255 * x / max(x)"


def _axis_formula(
    n: int, k: int, *, stride: int, before: int, after: int, dilation: int = 1, ceil_mode: bool = False
) -> str:
    return conv_core.conv_formula(
        n, k, stride=stride, pad_before=before, pad_after=after, dilation=dilation, ceil_mode=ceil_mode
    )


def _formula(
    size: tuple[int, int], kernel: tuple[int, int], stride, pads, dilation=(1, 1), *, ceil_mode: bool = False
) -> str:
    top, bottom, left, right = pads
    height = _axis_formula(
        size[0], kernel[0], stride=stride[0], before=top, after=bottom, dilation=dilation[0], ceil_mode=ceil_mode
    )
    if (
        size[1] == size[0]
        and kernel[1] == kernel[0]
        and stride[1] == stride[0]
        and (left, right) == (top, bottom)
        and dilation[1] == dilation[0]
    ):
        return height
    width = _axis_formula(
        size[1], kernel[1], stride=stride[1], before=left, after=right, dilation=dilation[1], ceil_mode=ceil_mode
    )
    return f"H: {height}; W: {width}"


def _plain(value: Any) -> Any:
    # INTERIM (until the report is rebuilt on the typed records): records and settings as plain JSON.
    from tasks.model.plain import to_plain

    return to_plain(value)


def build_rows(
    *,
    dataset: Any,
    kernels: dict[str, Any],
    conv_settings: list[Any],
    pools: list[Any],
    chunk_records: dict[str, list[Any]],
) -> list[dict[str, Any]]:
    """One row per (conv setting, map, pool setting), shapes checked against ``output_size``.

    ``chunk_records`` maps a conv label to the records of all its chunks.
    """
    from tasks.model import magnitude_pairs

    dataset, conv_settings, pools = _plain(dataset), _plain(conv_settings), _plain(pools)
    chunk_records = _plain(chunk_records)
    magnitudes = magnitude_pairs(kernels)
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
                        pool_formula=_formula((conv_h, conv_w), size, pstride, ppads, ceil_mode=pool_setting.ceil_mode),
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
    """report.md (links relative to ``out_dir``); with ``embed_images``, the Prefect UI's report artifact.

    The artifact (:func:`render_ui_report`) shows the pictures themselves as
    downscaled PNG data URIs; report.md links the files beside it.
    """
    if embed_images:
        return render_ui_report(name=name, dataset=dataset, rows=rows, out_dir=out_dir, sample_records=sample_records)

    def relative(path: str | Path) -> str:
        return str(Path(path).resolve().relative_to(out_dir.resolve()))

    lines = [
        f"# convsweep: {name}",
        "",
        f"- dataset: `{dataset['spec']}` split `{dataset['split']}`, {dataset['n']} images of "
        f"{dataset['height']}x{dataset['width']} ({dataset['source']})",
        f"- fingerprint: `{dataset['fingerprint']}`",
        f"- {len(rows)} rows (configuration x output map) in [sizes.csv](sizes.csv)",
        "- the same report in one self-contained file: [report.html](report.html)",
        f"- output folder: `{out_dir.resolve()}`",
        "",
        "## Summary",
        "",
        f"![summary]({relative(out_dir / 'summary.png')})",
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
        lines += [f"### {record['conv']}", "", f"![contact sheet]({relative(record['contact'])})"]
        scales = ", ".join(
            f"{stage}: {scale:.4g}"
            for stage, scale in sorted(record["scaling"].items())
            if not stage.endswith("-input")
        )
        lines += ["", f"scales: {scales}", ""]
    return "\n".join(lines)


# The report artifact: pictures downscaled to these widths (PNG data URIs), so that the
# artifact of the default sweep stays well under 2 MB however large the files are.
UI_SUMMARY_MAX_WIDTH = 1100
UI_CONTACT_MAX_WIDTH = 900
# ... and at most this many bytes of markdown: further conv settings are named, not shown.
UI_REPORT_BUDGET_BYTES = 1_800_000


def _setting_words(rows: list[dict[str, Any]]) -> tuple[dict[str, str], dict[str, str]]:
    """{pool label: 'max 2×2 / stride 2'} and {conv label: 'native size · conv stride 2 · ...'}, from the rows.

    The labels are rebuilt from the rows' cells the way ``PoolSetting.label`` and
    ``ConvSetting.label`` write them (same pair and padding labels).
    """
    pools: dict[str, str] = {}
    convs: dict[str, str] = {}
    for row in rows:
        if row["pool_mode"] != "none":
            size, stride, padding = str(row["pool_size"]), str(row["pool_stride"]), str(row["pool_padding"])
            label = f"{row['pool_mode']}{size}-s{stride}-p{padding}"
            # Short words for a table cell that cannot wrap: 'max 2×2', 'avg 3×3 s2 pad same'.
            words = f"{row['pool_mode']} {size.replace('x', '×') if 'x' in size else f'{size}×{size}'}"
            words += "" if stride == size else f" s{stride}"
            words += "" if padding == "valid" else f" pad {padding}"
            pools[label] = words
        conv = f"r{row['resize']}-s{row['stride']}-p{row['padding']}-{row['pad_mode']}-d{row['dilation']}"
        convs[conv] = render.conv_text(
            resize=row["resize"],
            stride=row["stride"],
            padding=row["padding"],
            pad_mode=row["pad_mode"],
            dilation=row["dilation"],
        )
    return pools, convs


def _stage_title(stage: str, pools: dict[str, str]) -> str:
    """'sobel · max 2×2 / stride 2' for the stage 'sobel-<pool label>'; 'input', 'sobel_h' as they are."""
    for label, words in pools.items():
        if stage.endswith(f"-{label}"):
            return f"{stage[: -len(label) - 1]} · {words}"
    return stage


def sample_grid(
    record: dict[str, Any], *, pool_words: dict[str, str], sample_labels: dict[int, str] | None = None
) -> list[str]:
    """Markdown lines: one conv setting's sample maps as a table, a row per stage, a column per sample.

    Maps are enlarged with nearest-neighbour (:func:`tasks.artifacts.map_cell_uri`);
    each row's label names the stage and its true size (``13×13``); each picture's
    gray scale (max|x| or max) is its tooltip, and one caption line under the table
    gives their range for the signed maps and for the magnitudes.
    """
    by_sample: dict[int, dict[str, str]] = {}
    for key, path in record["images"].items():
        index, stage = key.split("-", 1)
        by_sample.setdefault(int(index), {})[stage] = path
    if not by_sample:
        return []
    samples = sorted(by_sample)
    labels = sample_labels or {}
    heads = [f"#{index} {labels[index]}" if index in labels else f"#{index}" for index in samples]
    lines = ["| stage | " + " | ".join(heads) + " |", "|---|" + "---|" * len(samples)]
    for stage in by_sample[samples[0]]:
        cells = []
        true_size = ""
        for index in samples:
            uri, _, _, true_h, true_w = artifacts.map_cell_uri(by_sample[index][stage])
            scale = record["scaling"].get(f"{index}-{stage}")
            tooltip = "as read" if stage == "input" or scale is None else f"gray scale {scale:.4g}"
            cells.append(f'![#{index} {stage}]({uri} "#{index} {stage}: {tooltip}")')
            true_size = f"{true_h}×{true_w}"
        lines.append("| " + " | ".join([f"**{_stage_title(stage, pool_words)}** {true_size}", *cells]) + " |")
    scales = {stage: scale for stage, scale in record["scaling"].items() if not stage.endswith("-input")}
    if scales:
        lines += [
            "",
            f"*gray scale of each picture (hover it): {min(scales.values()):.4g} to {max(scales.values()):.4g}*",
        ]
    return lines


def render_ui_report(
    *,
    name: str,
    dataset: dict[str, Any],
    rows: list[dict[str, Any]],
    out_dir: Path,
    sample_records: list[dict[str, Any]],
    sample_labels: dict[int, str] | None = None,
    budget_bytes: int = UI_REPORT_BUDGET_BYTES,
) -> str:
    """The report artifact: facts, the summary figure, each conv setting's sample grid and contact sheet.

    Pictures are PNG data URIs (the UI cannot reach files): the summary and the
    contact sheets downscaled to :data:`UI_SUMMARY_MAX_WIDTH` / :data:`UI_CONTACT_MAX_WIDTH`,
    the sample maps enlarged with nearest-neighbour into one labelled grid per conv
    setting (``sample_labels``: {index: 'Sandal'} names the columns).  Conv settings
    whose pictures would take the text past ``budget_bytes`` are listed by their
    files instead.  File paths are shown as code.
    """
    folder = out_dir.resolve()
    pool_words, conv_words = _setting_words(rows)
    lines = [
        f"# convsweep: {name}",
        "",
        f"- dataset `{dataset['spec']}` · split `{dataset['split']}` · {dataset['n']:,} images of "
        f"{dataset['height']}×{dataset['width']}",
        f"- source: {dataset['source']}",
        f"- fingerprint `{dataset['fingerprint']}`",
        f"- output folder `{folder}`: `sizes.csv` ({len(rows)} rows, every column), `report.html` "
        "(this report in one file, sortable table), `report.md`, `summary.png`, `contact/`, `samples/`",
        "",
        "## Parameters",
        "",
        *[f"- {key}: {value}" for key, value in sweep_parameters(rows)],
        "",
        "## Summary",
        "",
    ]
    summary = folder / "summary.png"
    if summary.exists():
        uri, _, _ = artifacts.png_data_uri(summary, max_width=UI_SUMMARY_MAX_WIDTH)
        lines += [f"![summary figure]({uri})", "", f"`{summary}`", ""]
    lines += [
        "## Sample maps",
        "",
        f"Every map enlarged (nearest-neighbour: each pixel a square) to at least {artifacts.MAP_CELL_PIXELS} px; "
        "its true size is in its row, its gray scale in its tooltip. Signed kernel responses: "
        f"`{SIGNED_SCALING}`; magnitudes: `{MAGNITUDE_SCALING}`; the input as read. "
        "Under each table, the conv setting's contact sheet: the same maps at their true relative size.",
        "",
    ]
    used = sum(len(line.encode()) + 1 for line in lines)
    left_out = []
    for record in sample_records:
        section = [f"### {record['conv']}", ""]
        if record["conv"] in conv_words:
            section += [conv_words[record["conv"]], ""]
        section += sample_grid(record, pool_words=pool_words, sample_labels=sample_labels)
        section += [""]
        contact = Path(record["contact"])
        if contact.exists():
            uri, _, _ = artifacts.png_data_uri(contact, max_width=UI_CONTACT_MAX_WIDTH)
            section += [f"![contact sheet {record['conv']}]({uri})", ""]
        section += [f"contact sheet (every map at its true size relative to the input): `{contact}`", ""]
        size = sum(len(line.encode()) + 1 for line in section)
        if used + size > budget_bytes:
            # Past the budget: the setting's files are named, its pictures stay out of the artifact.
            left_out.append(record)
            continue
        lines += section
        used += size
    if left_out:
        lines += [
            "### Not shown here",
            "",
            f"The pictures of {len(left_out)} more conv setting(s) would take this artifact past "
            f"{budget_bytes / 1e6:.1f} MB; they are in `{folder / 'report.html'}` and in these files:",
            "",
            *[f"- {record['conv']}: `{record['contact']}`" for record in left_out],
            "",
        ]
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


# Timings differ run to run; sizes.csv keeps them, the page stays byte-identical across reruns.
HTML_LEFT_OUT_COLUMNS = ("compute_seconds",)


def _sizes_table(rows: list[dict[str, Any]]) -> str:
    columns = [column for column in (rows[0] if rows else []) if column not in HTML_LEFT_OUT_COLUMNS]
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
    summary_uri, summary_w, summary_h = artifacts.png_data_uri(summary_path, max_width=HTML_IMAGE_MAX_WIDTH)
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
        uri, width, height = artifacts.png_data_uri(record["contact"], max_width=HTML_IMAGE_MAX_WIDTH)
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

    dataset, sample_records = _plain(dataset), _plain(sample_records)

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


# The table artifact leads with what a reader compares across the sweep; any other column
# that varies follows in sizes.csv's order, and the constant ones go to its description.
TABLE_LEADING_COLUMNS = [
    "kernel",
    "map_kind",
    "resize",
    "stride",
    "padding",
    "pad_mode",
    "dilation",
    "pool_mode",
    "pool_size",
    "pool_stride",
    "pool_padding",
    "conv_h",
    "conv_w",
    "pool_h",
    "pool_w",
    "mean",
    "std",
    "min",
    "max",
    "zero_fraction",
]


def table_artifact(name: str, rows: list[dict[str, Any]], out_dir: str | Path) -> tuple[list[dict[str, Any]], str]:
    """The table artifact's rows (only the columns that vary, leading ones first) and its description.

    The description names every column that is the same in every row (``dataset idx:/... ·
    split test · 10,000 images of 28×28 · kernel_h 3 ...``); sizes.csv keeps every column.
    """
    varying, constant = artifacts.split_constant_columns(
        rows, leading=[column for column in TABLE_LEADING_COLUMNS if rows and column in rows[0]], omit=("map",)
    )
    table = [{column: row[column] for column in varying} for row in rows]
    facts = []
    if {"dataset", "split", "n_images", "input_h", "input_w"} <= set(constant):
        facts.append(
            f"dataset `{constant.pop('dataset')}` · split {constant.pop('split')} · "
            f"{constant.pop('n_images'):,} images of {constant.pop('input_h')}×{constant.pop('input_w')}"
        )
    facts += [f"{column} {value}" if value != "" else f"{column} (empty)" for column, value in constant.items()]
    csv_path = (Path(out_dir) / "sizes.csv").resolve()
    description = (
        f"Sweep **{name}**: {len(rows)} rows, the {len(varying)} columns that vary across the sweep. "
        f"The same in every row: {' · '.join(facts)}. Every column: `{csv_path}`."
    )
    return to_plain(table), description


def _sample_labels(sample_records: list[dict[str, Any]]) -> dict[int, str]:
    """{sample index: its class name, or 'label 7'}, as write-samples found them; empty when unlabelled.

    Read from the records, not the dataset: a warm run then never opens the data (for Keras
    datasets, that alone meant importing Keras: ~1.5 s).
    """
    return {int(index): text for record in sample_records for index, text in record.get("classes", {}).items()}


@task(name="publish-artifacts", persist_result=False)
def publish_artifacts(
    name: str,
    dataset: dict[str, Any],
    rows: list[dict[str, Any]],
    out_dir: str,
    sample_records: list[dict[str, Any]],
) -> dict[str, Any]:
    """The sweep's table and markdown artifacts, on every run, so each flow run shows them in the UI.

    Returns the artifact keys and the report's size in bytes (the flow logs them).
    """
    dataset, sample_records = _plain(dataset), _plain(sample_records)
    table, description = table_artifact(name, rows, out_dir)
    create_table_artifact(table=table, key=artifact_key(name, "sizes"), description=description)
    markdown = render_ui_report(
        name=name,
        dataset=dataset,
        rows=rows,
        out_dir=Path(out_dir),
        sample_records=sample_records,
        sample_labels=_sample_labels(sample_records),
    )
    create_markdown_artifact(
        markdown=markdown,
        key=artifact_key(name, "report"),
        description=f"report of sweep {name}: summary figure, sample maps, contact sheets",
    )
    return {
        "sizes": artifact_key(name, "sizes"),
        "report": artifact_key(name, "report"),
        "report_bytes": len(markdown.encode()),
        "table_columns": len(table[0]) if table else 0,
    }


# In-process observers of sweep progress (the CLI's progress bar): callables (done, total).
progress_listeners: list[Any] = []


class Progress:
    """A progress artifact for the sweep, advanced as chunk tasks finish; also tells ``progress_listeners``.

    Each artifact update is an API call (~40 ms against a local server), so the artifact is
    updated at most every :attr:`STEP` of the total or every :attr:`INTERVAL_SECONDS`, only
    for chunks computed now (a cached chunk moves the listeners, not the artifact), and
    always at 100 %.
    """

    STEP = 0.10
    INTERVAL_SECONDS = 1.0

    def __init__(self, name: str, total: int) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.artifact_id = create_progress_artifact(
            progress=0.0, key=artifact_key(name, "progress"), description=f"chunks of sweep {name} finished"
        )
        self._published_fraction = 0.0
        self._published_at = time.monotonic()

    def advance(self, count: int = 1, *, cached: bool = False) -> None:
        self.done += count
        fraction = min(self.done / self.total, 1.0)
        finished = fraction >= 1.0
        due = (
            fraction - self._published_fraction >= self.STEP
            or time.monotonic() - self._published_at >= self.INTERVAL_SECONDS
        )
        if finished or (due and not cached):
            update_progress_artifact(self.artifact_id, progress=100.0 * fraction)
            self._published_fraction = fraction
            self._published_at = time.monotonic()
        for listener in list(progress_listeners):
            listener(self.done, self.total)
