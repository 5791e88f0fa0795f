"""The sweep's outputs that span every configuration: the tasks the flow calls.

Each output is made in one place:

* the rows and ``sizes.csv`` — :mod:`tasks.rows` (:func:`build_rows`, :func:`write_sizes`);
* what the report says — :mod:`tasks.report_model` (one :class:`~tasks.report_model.Report`);
* how it is laid out — :mod:`tasks.report_pages` and the templates in ``tasks/templates``
  (report.md, report.html, the UI's report artifact);
* here, the tasks: :func:`write_report` (``summary.png``, ``report.md``, ``report.html``;
  cached like the compute tasks, so a rerun rewrites nothing) and :func:`publish_artifacts`
  (the table and markdown artifacts for the Prefect UI, on every run; keys follow the sweep
  name, so the UI shows their history).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from tasks import artifacts, files, render, render_measures
from tasks.artifacts import artifact_key
from tasks.caching import SweepCachePolicy
from tasks.model import CONV_COLUMNS, POOL_COLUMNS, to_plain
from tasks.model.records import ArtifactsRecord, DatasetRecord, LearnedRecord, ReportFiles, SampleRecord
from tasks.report_model import build_report
from tasks.report_pages import HTML_IMAGE_MAX_WIDTH, render_html, render_markdown, render_ui_report
from tasks.rows import build_rows, outputs_key, write_sizes

__all__ = [
    "HTML_IMAGE_MAX_WIDTH",
    "build_rows",
    "publish_artifacts",
    "table_artifact",
    "write_report",
    "write_sizes",
]


def _measured(rows: list[dict[str, Any]]) -> bool:
    return bool(rows) and bool({"probe_accuracy", "shift_right"} & set(rows[0]))


@task(
    name="write-report",
    cache_policy=SweepCachePolicy(
        key_inputs=outputs_key,
        expected_outputs=lambda inputs: [
            Path(inputs["out_dir"]) / "summary.png",
            Path(inputs["out_dir"]) / "report.md",
            Path(inputs["out_dir"]) / "report.html",
            *([Path(inputs["out_dir"]) / "measures.png"] if _measured(inputs["rows"]) else []),
        ],
    ),
    result_serializer="json",
    persist_result=True,
)
def write_report(
    name: str,
    dataset: DatasetRecord,
    rows: list[dict[str, Any]],
    out_dir: str,
    sample_records: list[SampleRecord],
    learned: LearnedRecord | None = None,
) -> ReportFiles:
    """Write summary.png, report.md and the self-contained report.html (records or their JSON).

    With measure columns in the rows (``tasks.rows.add_measures``) also measures.png.
    """
    import pandas as pd

    report = build_report(
        name=name, dataset=dataset, rows=rows, out_dir=out_dir, sample_records=sample_records, learned=learned
    )
    folder = Path(out_dir)
    figure = render.summary_figure(pd.DataFrame(rows), title=report.summary_title)
    try:
        summary_path = files.write_figure(folder / "summary.png", figure, dpi=100)
    finally:
        render.close(figure)
    measures_path = None
    if report.measures is not None:
        measures = render_measures.measures_figure(pd.DataFrame(rows), title=report.summary_title)
        try:
            measures_path = str(files.write_figure(folder / "measures.png", measures, dpi=100))
        finally:
            render.close(measures)
    report_path = files.write_text(folder / "report.md", render_markdown(report))
    html_path = files.write_text(folder / "report.html", render_html(report))
    return ReportFiles(
        summary=str(summary_path), report=str(report_path), html=str(html_path), rows=len(rows), measures=measures_path
    )


# The table artifact leads with what a reader compares across the sweep; any other column
# that varies follows in sizes.csv's order, and the constant ones go to its description.
TABLE_LEADING_COLUMNS = [
    "kernel",
    "channels",  # a sweep that is not purely grey: which channel a row is of
    "channel",
    "map_kind",
    *CONV_COLUMNS,
    *POOL_COLUMNS,
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


@task(name="publish-artifacts", persist_result=False)
def publish_artifacts(
    name: str,
    dataset: DatasetRecord,
    rows: list[dict[str, Any]],
    out_dir: str,
    sample_records: list[SampleRecord],
    learned: LearnedRecord | None = None,
) -> ArtifactsRecord:
    """The sweep's table and markdown artifacts, on every run, so each flow run shows them in the UI.

    Returns the artifact keys and the report's size in bytes (the flow logs them).
    """
    table, description = table_artifact(name, rows, out_dir)
    create_table_artifact(table=table, key=artifact_key(name, "sizes"), description=description)
    report = build_report(
        name=name, dataset=dataset, rows=rows, out_dir=out_dir, sample_records=sample_records, learned=learned
    )
    markdown = render_ui_report(report)
    create_markdown_artifact(
        markdown=markdown,
        key=artifact_key(name, "report"),
        description=f"report of sweep {name}: summary figure, sample maps, contact sheets",
    )
    return ArtifactsRecord(
        sizes=artifact_key(name, "sizes"),
        report=artifact_key(name, "report"),
        report_bytes=len(markdown.encode()),
        table_columns=len(table[0]) if table else 0,
    )
