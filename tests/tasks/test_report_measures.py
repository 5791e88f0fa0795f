"""The measures in the report: measures.png, the per-configuration table in report.md/html and the UI report."""

from __future__ import annotations

from convsweep.tasks.analysis.probe import ProbeRecord
from convsweep.tasks.measures import measure_shift
from convsweep.tasks.model import parse_parameters
from convsweep.tasks.model.records import ReportFiles
from convsweep.tasks.report import write_report
from convsweep.tasks.reporting.model import build_report
from convsweep.tasks.reporting.pages import render_ui_report
from convsweep.tasks.reporting.rows import add_measures
from tests.tasks import test_report
from tests.tasks.test_report import rows_for

edge_dataset = test_report.edge_dataset  # the fixture: ten 28x28 images of an edge


def test_report_with_measures_shows_the_figure_and_one_row_per_configuration(edge_dataset, tmp_path):
    _, data = edge_dataset
    settings = parse_parameters(dataset=data.spec, strides=[1, 2], paddings=["valid"], pool_modes=["max", "avg"])
    kernels = {name: [list(row) for row in matrix] for name, matrix in settings.kernel_matrices.items()}
    pools = list(settings.pool_settings)
    shifts = [measure_shift.fn(data, conv, kernels, pools, 5) for conv in settings.conv_settings]
    probes = [
        ProbeRecord(conv=conv.label, pool=pool.label, accuracy=0.5 + 0.1 * index, features=10 * (index + 1),
                    n_train=8, n_test=2, iterations=4, converged=True)
        for index, (conv, pool) in enumerate((conv, pool) for conv in settings.conv_settings for pool in pools)
    ]  # fmt: skip
    rows = add_measures(rows_for(data, settings, [(0, 10)]), shift_records=shifts, probe_records=probes)
    out = tmp_path / "out"
    out.mkdir()
    written = ReportFiles.parse(write_report.fn("t", data, rows, str(out), []))
    assert written.measures == str(out / "measures.png") and (out / "measures.png").stat().st_size > 10_000
    html = (out / "report.html").read_text()
    measures_table = html.split('id="measures"')[1].split("</table>")[0]
    assert measures_table.count("<tr data-index") == 4  # 2 conv settings x 2 pool settings
    assert 'alt="measures figure" src="data:image/png;base64,' in html
    markdown = (out / "report.md").read_text()
    assert "![measures](measures.png)" in markdown and "| 0.8 | 40 |" in markdown
    ui = render_ui_report(build_report(name="t", dataset=data, rows=rows, out_dir=out, sample_records=[]))
    assert "![measures figure](data:image/png;base64," in ui


def test_report_without_measures_has_no_measures_section(edge_dataset, tmp_path):
    _, data = edge_dataset
    settings = parse_parameters(dataset=data.spec, strides=[1], paddings=["valid"], pool_modes=["max"])
    written = ReportFiles.parse(write_report.fn("t", data, rows_for(data, settings, [(0, 10)]), str(tmp_path), []))
    assert written.measures is None and not (tmp_path / "measures.png").exists()
    assert 'id="measures"' not in (tmp_path / "report.html").read_text()
