"""The sweep's outputs that span every configuration: the tasks the flow calls.

Each output is made in one place:

* the rows and ``sizes.csv`` — :mod:`convsweep.tasks.reporting.rows` (:func:`build_rows`, :func:`write_sizes`);
* what the report says — :mod:`convsweep.tasks.reporting.model` (one :class:`~convsweep.tasks.reporting.model.Report`);
* how it is laid out — :mod:`convsweep.tasks.reporting.pages` and the templates in ``tasks/reporting/templates``
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

from convsweep.tasks.io import files
from convsweep.tasks.model.records import ArtifactsRecord, DatasetRecord, LearnedRecord, ReportFiles, SampleRecord
from convsweep.tasks.prefect_glue.artifact_table import table_artifact
from convsweep.tasks.prefect_glue.artifacts import artifact_key
from convsweep.tasks.prefect_glue.caching import SweepCachePolicy
from convsweep.tasks.reporting import render, render_measures
from convsweep.tasks.reporting.model import build_report
from convsweep.tasks.reporting.pages import render_html, render_markdown, render_ui_report
from convsweep.tasks.reporting.rows import outputs_key


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

    With measure columns in the rows (``convsweep.tasks.reporting.rows.add_measures``) also measures.png.
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


@task(
    name="write-sizes",
    cache_policy=SweepCachePolicy(
        key_inputs=outputs_key, expected_outputs=lambda inputs: [Path(inputs["out_dir"]) / "sizes.csv"]
    ),
    result_serializer="json",
    persist_result=True,
)
def write_sizes(rows: list[dict[str, Any]], out_dir: str) -> str:
    """Write ``sizes.csv`` with pandas."""
    import pandas as pd

    return str(files.write_csv(Path(out_dir) / "sizes.csv", pd.DataFrame(rows)))


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
