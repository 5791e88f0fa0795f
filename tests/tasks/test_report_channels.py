"""The report of a colour sweep names its channels: parameters, tables, grid titles, pages; a grey one is unchanged."""

from __future__ import annotations

import numpy as np

from convsweep.tasks.io import files
from convsweep.tasks.model.records import DatasetRecord, SampleRecord
from convsweep.tasks.prefect_glue.artifact_table import table_artifact
from convsweep.tasks.reporting.model import build_report, stage_title
from convsweep.tasks.reporting.pages import render_html, render_markdown, render_ui_report
from convsweep.tasks.reporting.rows import with_channel
from tests.helpers.sweep_rows import ONE, synthetic_rows

DATASET = DatasetRecord.parse(
    dict(
        spec="skimage:astronaut",
        split="all",
        selection={"split": "all"},
        n=1,
        height=28,
        width=28,
        fingerprint="f",
        source="test",
    )
)


def colour_rows() -> list[dict]:
    rows = synthetic_rows(**ONE)
    return with_channel(rows, channels="each", channel="R") + with_channel(rows, channels="sum", channel="sum")


def sample_record(tmp_path, label: str) -> SampleRecord:
    rng = np.random.default_rng(0)
    images, scaling = {}, {}
    for key in ("0-input", "0-R:input", "0-R:sobel_h", "0-sum:sobel_h"):
        path = tmp_path / f"{key.replace(':', '_')}.png"
        shape = (8, 8, 3) if key.endswith("input") else (8, 8)
        files.write_png(path, rng.integers(0, 256, size=shape, dtype=np.uint8))
        images[key], scaling[key] = str(path), 1.0 if key.endswith("input") else 2.5
    files.write_png(tmp_path / "summary.png", np.zeros((10, 10), dtype=np.uint8))
    contact = tmp_path / "contact.png"
    files.write_png(contact, rng.integers(0, 256, size=(20, 30, 3), dtype=np.uint8))
    return SampleRecord(conv=label, classes={}, contact=str(contact), images=images, scaling=scaling, preview_factor=1)


def test_stage_title_of_a_channel_stage_ends_with_the_channel():
    pools = {"max2-s2-pvalid": "max 2×2"}
    assert stage_title("R:sobel-max2-s2-pvalid", pools) == "sobel · max 2×2 · R"
    assert stage_title("sum:sobel_h", pools) == "sobel_h · sum"
    assert stage_title("sobel-max2-s2-pvalid", pools) == "sobel · max 2×2"  # grey stages as before


def test_report_of_a_colour_sweep_names_the_channels_in_every_page(tmp_path):
    rows = colour_rows()
    label = "rnative-s1-pvalid-zeros-d1"
    record = sample_record(tmp_path, label)
    report = build_report(name="c", dataset=DATASET, rows=rows, out_dir=tmp_path, sample_records=[record])
    assert report.channels == ("each", "sum")
    assert ("channels", "each, sum") in report.parameters
    assert report.report_table.columns[:3] == ("kernel", "channels", "channel")
    section = report.samples[0]
    assert [row.title for row in section.grid] == ["input", "input · R", "sobel_h · R", "sobel_h · sum"]
    assert section.scales == "0-R:sobel_h: 2.5, 0-sum:sobel_h: 2.5"  # the inputs (RGB, a channel) have no scale
    assert [tooltip for _, _, tooltip in section.grid[1].pictures] == ["as read"]
    html, markdown, ui = render_html(report), render_markdown(report), render_ui_report(report)
    for page in (html, markdown, ui):
        assert "DepthwiseConv2D" in page and "Conv2D with the kernel repeated" in page
    assert "Channels (each, sum)" in html and "- channels (each, sum)" in markdown
    assert "| kernel | channels | channel |" in markdown
    table, _ = table_artifact("c", rows, tmp_path)
    assert list(table[0])[:3] == ["kernel", "channels", "channel"]


def test_report_of_a_grey_sweep_has_no_channel_words(tmp_path):
    rows = synthetic_rows(**ONE)
    files.write_png(tmp_path / "summary.png", np.zeros((10, 10), dtype=np.uint8))
    report = build_report(name="g", dataset=DATASET, rows=rows, out_dir=tmp_path, sample_records=[])
    assert report.channels == () and report.channel_note == ""
    assert "channels" not in dict(report.parameters) and "channel" not in report.report_table.columns
    for page in (render_html(report), render_markdown(report), render_ui_report(report)):
        assert "DepthwiseConv2D" not in page
