"""The final table and the plain progress lines (convsweep/terminal.py), and both as a user sees them."""

from __future__ import annotations

import re

from convsweep.terminal import MAX_TABLE_ROWS, PlainProgress, summary_lines
from tests.convsweep.conftest import run_convsweep
from tests.helpers.sweep_rows import BIG, ONE, synthetic_rows


def as_csv_text(rows: list[dict]) -> list[dict[str, str]]:
    """Rows as csv.DictReader gives them: every cell as text, blank for None."""
    return [{key: "" if value is None else str(value) for key, value in row.items()} for row in rows]


def test_summary_lines_one_setting_puts_every_setting_in_the_header():
    lines = summary_lines(as_csv_text(synthetic_rows(**ONE)), title="sweep t", width=80)
    assert lines[0] == "sweep t"
    assert lines[1] == "same in every row: resize native, stride 1, padding valid, pad mode zeros,"
    assert lines[2] == "  dilation 1, pool max 2x2 stride 2"
    assert lines[3].split() == ["map", "conv", "pooled", "mean", "std", "max", "zero_frac"]
    assert [line.split()[:3] for line in lines[4:]] == [
        ["sobel_h", "26x26", "13x13"],
        ["sobel_v", "26x26", "13x13"],
        ["sobel", "26x26", "13x13"],
    ]


def test_summary_lines_big_sweep_fits_80_columns_and_groups_by_conv_setting():
    rows = as_csv_text(synthetic_rows(**BIG))  # 48 conv settings x 5 pool settings x 3 maps = 720 rows
    lines = summary_lines(rows, title="sweep big", width=80)
    assert max(len(line) for line in lines) <= 80
    assert not [line for line in lines if "…" in line]
    # Groups of 15 rows (3 maps x 5 pools) while the total stays within MAX_TABLE_ROWS.
    shown_groups = MAX_TABLE_ROWS // 15
    headings = [line for line in lines if line.startswith("resize ")]
    assert headings[:2] == [
        "resize native, stride 1, padding valid, pad mode zeros, dilation 1",
        "resize native, stride 1, padding valid, pad mode zeros, dilation 2",
    ]
    assert len(headings) == shown_groups
    assert (
        lines[-1]
        == f"+ {48 - shown_groups} more conv settings ({720 - 15 * shown_groups} rows): see sizes.csv or report.html"
    )
    pools = {re.split(r" {2,}", line.strip())[2] for line in lines if line.startswith("  sobel_h ")}
    assert pools == {"max 2x2 stride 2", "max 3x3 stride 3", "avg 2x2 stride 2", "avg 3x3 stride 3", "none"}


def test_summary_lines_too_narrow_for_a_table_wraps_rows_as_words():
    rows = as_csv_text(synthetic_rows(**ONE))
    lines = summary_lines(rows, title="sweep t", width=40)
    assert max(len(line) for line in lines) <= 40
    text = " ".join(" ".join(lines).split())
    for row in rows:
        assert f"map {row['map']}; conv 26x26;" in text


def test_plain_progress_prints_one_line_per_tenth():
    lines: list[str] = []
    progress = PlainProgress(lines.append, name="t")
    for done in range(0, 41):  # the flow's first report (0 done) carries the total
        progress.update(done, 40)
    assert lines[0] == "sweep t: 40 chunk tasks"
    assert [line.split(",")[0] for line in lines[1:]] == [
        f"sweep t: {4 * step}/40 chunks ({10 * step} %)" for step in range(1, 11)
    ]


def test_plain_progress_stage_training_gets_its_line_before_the_chunks():
    lines: list[str] = []
    progress = PlainProgress(lines.append, name="t")
    progress.stage("training a CNN (4 filters, 3 epochs)")
    progress.update(0, 2)
    assert lines == ["sweep t: training a CNN (4 filters, 3 epochs)", "sweep t: 2 chunk tasks"]


def test_plain_progress_few_chunks_prints_each():
    lines: list[str] = []
    progress = PlainProgress(lines.append, name="t")
    for done in (0, 1, 2, 3):
        progress.update(done, 3)
    assert [line.split(",")[0] for line in lines] == [
        "sweep t: 3 chunk tasks",
        "sweep t: 1/3 chunks (33 %)",
        "sweep t: 2/3 chunks (67 %)",
        "sweep t: 3/3 chunks (100 %)",
    ]


def test_sweep_cli_table_on_stdout_fits_80_columns_and_progress_on_stderr(tmp_path, env, idx_folder):
    done = run_convsweep(
        "sweep",
        "--dataset",
        f"idx:{idx_folder}",
        "--kernels",
        "scharr_h,scharr_v,laplacian",
        "--kernel",
        "ridge=-1,2,-1;-1,2,-1;-1,2,-1",
        "--chunk-size",
        "8",
        "--out",
        str(tmp_path / "o"),
        env={**env, "COLUMNS": "80"},
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    table = done.stdout.splitlines()
    assert max(len(line) for line in table) <= 80, done.stdout
    assert "…" not in done.stdout
    mapped = {line.split()[0] for line in table if line.startswith("  ")}
    assert mapped >= {"scharr_h", "scharr_v", "laplacian", "ridge", "scharr"}
    assert [line for line in table if line.startswith("stride ")] == [
        f"stride {stride}, padding {padding}" for stride in (1, 2, 3) for padding in ("valid", "same")
    ]
    assert "60 rows, " in done.stdout and "chunks (" not in done.stdout
    # 20 images in chunks of 8: 3 chunks x 6 conv settings; not a tty, so plain lines on stderr.
    progress = [line for line in done.stderr.splitlines() if line.startswith("sweep ")]
    assert progress[0] == "sweep idx-idx-test: 18 chunk tasks"
    assert 5 <= len(progress) - 1 <= 10 and progress[-1].startswith("sweep idx-idx-test: 18/18 chunks (100 %)")
    assert "sobel" not in done.stderr and "mean" not in done.stderr


def test_summary_lines_name_ceil_mode_in_the_header():
    """Ceil mode (read back from the rows' pool_formula, as sizes.csv has it) is said once, in the header."""
    rows = [with_ceil(row) for row in as_csv_text(synthetic_rows(**ONE))]
    text = " ".join(summary_lines(rows, title="sweep t", width=80)[1:3])
    assert "pool max 2x2 stride 2 ceil mode" in " ".join(text.split())
    big = [with_ceil(row) for row in as_csv_text(synthetic_rows(**BIG))]
    header = " ".join(line for line in summary_lines(big, title="t", width=80)[1:4] if not line.startswith("  map"))
    assert "pool ceil mode" in " ".join(header.split())


def with_ceil(row: dict[str, str]) -> dict[str, str]:
    """The row as a ceil-mode sweep writes it: its pool_formula rounds up."""
    return {**row, "pool_formula": f"ceil((26 - 2) / 2) + 1 {row['pool_formula']}" if row["pool_formula"] else ""}


def test_summary_lines_with_channels_name_each_rows_channel_after_its_map():
    from convsweep.tasks.reporting.rows import with_channel

    rows = synthetic_rows(**ONE)
    coloured = with_channel(rows, channels="each", channel="R") + with_channel(rows, channels="sum", channel="sum")
    lines = summary_lines(as_csv_text(coloured), title="sweep t", width=80)
    assert all(len(line) <= 80 for line in lines)
    header = next(index for index, line in enumerate(lines) if line.split()[:2] == ["map", "conv"])
    assert "channels each, sum: each map's rows per channel" in " ".join(lines[:header])
    assert [line.split()[:2] for line in lines[header + 1 :]] == [
        ["sobel_h", "R"],
        ["sobel_v", "R"],
        ["sobel", "R"],
        ["sobel_h", "sum"],
        ["sobel_v", "sum"],
        ["sobel", "sum"],
    ]
    keys = list(coloured[0])
    assert keys[keys.index("map") + 1 : keys.index("map") + 3] == ["channels", "channel"]


def test_summary_lines_with_measures_show_shift_and_probe_columns():
    rows = synthetic_rows(**ONE)
    for number, row in enumerate(rows):
        row.update(shift_right=0.25 + number / 100, probe_accuracy=0.9421)
    lines = summary_lines(as_csv_text(rows), title="sweep t", width=80)
    assert max(len(line) for line in lines) <= 80
    assert lines[3].split() == ["map", "conv", "pooled", "mean", "std", "max", "zero_frac", "shift", "probe"]
    assert [line.split()[-2:] for line in lines[4:]] == [["0.25", "0.9421"], ["0.26", "0.9421"], ["0.27", "0.9421"]]
