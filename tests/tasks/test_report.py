"""build_rows: one row per (conv setting, map, pool setting), from the chunk records, checked against numpy;
and the report model's UI artifact (sample grids, byte budget, ceil-mode words)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from convsweep import conv_core
from convsweep.tasks.compute import process_chunk
from convsweep.tasks.load import describe_selection
from convsweep.tasks.model import parse_parameters
from convsweep.tasks.model.jobs import ChunkJob, SampleJob
from convsweep.tasks.model.records import ChunkRecord, DatasetRecord, SampleRecord
from convsweep.tasks.reporting.model import build_report
from convsweep.tasks.reporting.pages import render_ui_report
from convsweep.tasks.reporting.rows import build_rows
from tests.helpers.idx import write_idx_folder


@pytest.fixture
def edge_dataset(tmp_path):
    """Ten 28x28 images: a vertical edge, shifted one column per image (analytic, no noise)."""
    images = np.zeros((10, 28, 28), np.uint8)
    for index in range(10):
        images[index, :, 8 + index :] = 200
    labels = np.arange(10, dtype=np.uint8)
    folder = write_idx_folder(tmp_path / "edges", test=(images, labels))
    described = describe_selection.fn(
        f"idx:{folder}", {"split": "test", "start": None, "stop": None, "limit": None, "classes": None}
    )
    return images, DatasetRecord.parse(described)


def rows_for(data, settings, chunks):
    kernels = {name: [list(row) for row in matrix] for name, matrix in settings.kernel_matrices.items()}
    pools = tuple(settings.pool_settings)
    records = {
        conv.label: [
            ChunkRecord.parse(process_chunk.fn(ChunkJob(data, tuple(chunk), conv, kernels, pools))) for chunk in chunks
        ]
        for conv in settings.conv_settings
    }
    return build_rows(
        dataset=data,
        kernels=kernels,
        conv_settings=list(settings.conv_settings),
        pools=list(settings.pool_settings),
        chunk_records=records,
    )


def without_timing(rows):
    return [{key: value for key, value in row.items() if key != "compute_seconds"} for row in rows]


def test_build_rows_one_row_per_conv_map_and_pool(edge_dataset):
    _, data = edge_dataset
    settings = parse_parameters(
        dataset="sample", strides=[1, 2], paddings=["valid", "same"], pool_modes=["max", "none"]
    )
    rows = rows_for(data, settings, [(0, 10)])
    assert len(rows) == len(settings.conv_settings) * len(settings.map_names) * len(settings.pool_settings) == 4 * 3 * 2
    assert {row["map"] for row in rows} == {"sobel_h", "sobel_v", "sobel"}
    for row in rows:
        assert row["conv_h"] == conv_core.output_size(28, 3, stride=int(row["stride"]), padding=row["padding"])
        if row["pool_mode"] == "none":
            assert (row["pool_h"], row["pool_w"]) == (row["conv_h"], row["conv_w"])
        else:
            assert row["pool_h"] == conv_core.output_size(row["conv_h"], 2, stride=2)


def test_build_rows_chunked_equals_one_chunk(edge_dataset):
    _, data = edge_dataset
    settings = parse_parameters(dataset="sample", strides=[1, 3], paddings=["same"])
    one = rows_for(data, settings, [(0, 10)])
    three = rows_for(data, settings, [(0, 4), (4, 8), (8, 10)])
    for single, chunked in zip(without_timing(one), without_timing(three), strict=False):
        for key, value in single.items():
            if key in ("mean", "std"):
                assert chunked[key] == pytest.approx(value, abs=2e-6), key
            else:
                assert chunked[key] == value, key


def test_build_rows_statistics_equal_numpy_on_the_whole_batch(edge_dataset):
    images, data = edge_dataset
    settings = parse_parameters(dataset="sample", strides=[1], paddings=["valid"], pool_modes=["max"])
    rows = {row["map"]: row for row in rows_for(data, settings, [(0, 5), (5, 10)])}
    horizontal = conv_core.conv2d(images, conv_core.kernels.get("sobel_h"))
    vertical = conv_core.conv2d(images, conv_core.kernels.get("sobel_v"))
    expected = {
        "sobel_h": conv_core.pool2d(horizontal, 2),
        "sobel_v": conv_core.pool2d(vertical, 2),
        "sobel": conv_core.pool2d(conv_core.sobel_magnitude(horizontal, vertical), 2),
    }
    for name, pooled in expected.items():
        values = pooled.astype(np.float64)
        row = rows[name]
        assert row["mean"] == pytest.approx(round(values.mean(), 6), abs=1e-6)
        assert row["std"] == pytest.approx(round(values.std(), 6), abs=1e-6)
        assert row["min"] == round(values.min(), 6) and row["max"] == round(values.max(), 6)
        assert row["zero_fraction"] == round(np.count_nonzero(values == 0) / values.size, 6)
    # A vertical dark-to-bright edge: one kernel of the pair sees nothing, the other a negative response.
    responses = {name: (rows[name]["min"], rows[name]["max"]) for name in ("sobel_h", "sobel_v")}
    assert sorted(responses.values(), key=lambda pair: pair[0])[1] == (0, 0), responses
    assert min(low for low, _ in responses.values()) < 0 and rows["sobel"]["max"] > 0


def test_build_rows_pool_ceil_mode_keeps_the_overhanging_window(edge_dataset):
    _, data = edge_dataset
    floor = parse_parameters(dataset="sample", strides=[1], paddings=["valid"], pool_modes=["max"], pool_sizes=[3])
    ceil = parse_parameters(
        dataset="sample", strides=[1], paddings=["valid"], pool_modes=["max"], pool_sizes=[3], pool_ceil_mode=True
    )
    floor_row, ceil_row = rows_for(data, floor, [(0, 10)])[0], rows_for(data, ceil, [(0, 10)])[0]
    assert floor_row["conv_h"] == ceil_row["conv_h"] == 26
    assert floor_row["pool_h"] == 8 and ceil_row["pool_h"] == 9  # floor(23 / 3) + 1 vs ceil(23 / 3) + 1
    assert ceil_row["pool_formula"].startswith("ceil(") and floor_row["pool_formula"].startswith("floor(")
    assert [pool.label for pool in ceil.pool_settings] == ["max3-s3-pvalid-ceil"]


def ui_report_inputs(edge_dataset, tmp_path, **options):
    """Rows and sample records of a 2-stride sweep over the edge images (samples 0 and 1), files under tmp_path."""
    from convsweep.tasks.samples import write_samples

    _, data = edge_dataset
    settings = parse_parameters(dataset=data.spec, strides=[1, 2], paddings=["valid"], pool_modes=["max"], **options)
    rows = rows_for(data, settings, [(0, 10)])
    kernels = {name: [list(row) for row in matrix] for name, matrix in settings.kernel_matrices.items()}
    pools = tuple(settings.pool_settings)
    records = [
        SampleRecord.parse(write_samples.fn(SampleJob(data, conv, kernels, pools, (0, 1), str(tmp_path / "out"))))
        for conv in settings.conv_settings
    ]
    return data, rows, records


def ui_report(name, data, rows, out_dir, records, **options):
    report = build_report(name=name, dataset=data, rows=rows, out_dir=out_dir, sample_records=records)
    return render_ui_report(report, **options)


def test_ui_report_shows_sample_grids_with_labels_and_one_caption_line(edge_dataset, tmp_path):
    data, rows, records = ui_report_inputs(edge_dataset, tmp_path)
    # write-samples names each sample's class, so the report never reopens the dataset for it.
    assert [record.classes for record in records] == [{"0": "label 0", "1": "label 1"}] * 2
    markdown = ui_report("edges", data, rows, tmp_path / "out", records)
    # Per conv setting: a header row naming the samples, a row per stage (input, 3 maps, 3 pooled maps).
    assert markdown.count("| stage | #0 label 0 | #1 label 1 |") == 2
    assert "| **input** 28×28 | ![#0 input](data:image/png;base64," in markdown
    assert "| **sobel · max 2×2** 13×13 | " in markdown  # stride 1: 26 -> 13
    assert "| **sobel · max 2×2** 6×6 | " in markdown  # stride 2: 13 -> 6
    assert markdown.count("![#") == 2 * 2 * 7
    assert markdown.count("*gray scale of each picture (hover it):") == 2
    assert markdown.count("![contact sheet ") == 2
    assert "Not shown here" not in markdown


def test_ui_report_names_the_files_of_settings_past_its_byte_budget(edge_dataset, tmp_path):
    data, rows, records = ui_report_inputs(edge_dataset, tmp_path)
    full = ui_report("edges", data, rows, tmp_path / "out", records)
    first_setting_ends = len(full[: full.index(f"### {records[1].conv}")].encode())
    budget = first_setting_ends + 100  # bytes: room for the first conv setting only
    cut = ui_report("edges", data, rows, tmp_path / "out", records, budget_bytes=budget)
    assert len(cut.encode()) < len(full.encode()) and cut.count("![contact sheet ") == 1
    assert "### Not shown here" in cut
    assert f"- {records[1].conv}: `{records[1].contact}`" in cut


def test_ui_report_titles_and_parameters_name_ceil_mode(edge_dataset, tmp_path):
    """With --pool-ceil-mode the stage titles are words with 'ceil', not the raw pool labels."""
    data, rows, records = ui_report_inputs(edge_dataset, tmp_path, pool_ceil_mode=True)
    # The JSON forms work as well (a cached result comes back as JSON).
    markdown = ui_report("edges", data.to_json(), rows, tmp_path / "out", [record.to_json() for record in records])
    assert "| **sobel · max 2×2 ceil** 13×13 | " in markdown
    assert markdown.count("| **sobel · max 2×2 ceil** ") == 2  # one per conv setting
    assert "**sobel-max2-s2-pvalid-ceil**" not in markdown
    assert "- pooling: max 2×2 / stride 2 (ceil mode)" in markdown


def test_report_pages_without_samples_have_no_sample_section(edge_dataset, tmp_path):
    # --samples past the selection draws no picture: the reports do not announce a section that is empty.
    from convsweep.tasks.reporting.pages import render_html, render_markdown

    data, rows, records = ui_report_inputs(edge_dataset, tmp_path)
    (tmp_path / "out" / "summary.png").write_bytes(Path(records[0].contact).read_bytes())  # any PNG will do
    with_samples = build_report(name="edges", dataset=data, rows=rows, out_dir=tmp_path / "out", sample_records=records)
    assert "## Sample images" in render_markdown(with_samples)
    assert "<h2>Sample images</h2>" in render_html(with_samples)
    without = build_report(name="edges", dataset=data, rows=rows, out_dir=tmp_path / "out", sample_records=[])
    assert "Sample images" not in render_markdown(without)
    assert "Sample images" not in render_html(without)


def test_report_sizes_table_constant_columns_said_once_above_the_table(edge_dataset, tmp_path):
    import re

    from convsweep.tasks.reporting.pages import render_html, render_markdown

    data, rows, records = ui_report_inputs(edge_dataset, tmp_path)
    (tmp_path / "out" / "summary.png").write_bytes(Path(records[0].contact).read_bytes())
    report = build_report(name="edges", dataset=data, rows=rows, out_dir=tmp_path / "out", sample_records=[])
    html, markdown = render_html(report), render_markdown(report)
    columns = re.findall(r'<th scope="col">(.*?)</th>', html.split('id="sizes"')[1])
    constant = dict(report.sizes_table.constant)
    # Every column of sizes.csv is in the table or above it, never both; the table opens with what varies.
    assert sorted([*columns, *constant]) == sorted(rows[0])
    assert constant["resize"] == "native" and constant["dilation"] == "1" and "stride" not in constant
    assert "map" in columns and "mean" in columns and "resize" not in columns
    assert all(len({str(row[column]) for row in rows}) > 1 for column in columns if column != "map")
    assert "Same in every row (not repeated in the table): <code>" in html and "<code>resize</code> native, " in html
    header = next(line for line in markdown.splitlines() if line.startswith("| kernel"))
    assert "resize" not in header and "stride" in header
    assert "Same in every row (not repeated in the table): `" in markdown and "`resize` native, " in markdown
