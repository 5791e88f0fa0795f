"""`convsweep compare A B` in this process: the summary fits 80 columns, the page goes where it says, refusals exit 2."""

from __future__ import annotations

import pytest

from convsweep.cli import main
from tests.helpers.sweep_folder import PARAMETERS, write_sweep_folder
from tests.helpers.sweep_rows import ONE, synthetic_rows


def run_in_process(capsys, *args: str) -> tuple[int, str, str]:
    """``convsweep ARGS`` in this process: exit code (0 when main returns), stdout, stderr."""
    try:
        main(list(args))
    except SystemExit as exited:
        code = 0 if exited.code is None else int(exited.code)
    else:
        code = 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def two_sweeps(tmp_path):
    rows_a = synthetic_rows(**dict(ONE, strides=[1, 2], paddings=["valid", "same"]), seed=1)
    rows_b = synthetic_rows(**dict(ONE, strides=[1, 3], pools=[("max", 2), ("none", None)]), seed=2)
    root = tmp_path / "outputs"
    a = write_sweep_folder(root / "a", rows_a, parameters={**PARAMETERS, "strides": [1, 2]}, seed=1)
    b = write_sweep_folder(root / "b", rows_b, parameters={**PARAMETERS, "name": "b", "strides": [1, 3]}, seed=2)
    return a, b


def test_compare_cli_summary_fits_80_columns_and_writes_next_to_b(two_sweeps, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # a wide terminal: the summary still keeps to 80
    a, b = two_sweeps
    code, out, err = run_in_process(capsys, "compare", str(a), str(b / "manifest.json"))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    # Every line fits, but a path longer than a line: it stays whole (copyable) on its own line.
    assert all(len(line) <= 80 or " " not in line.strip() for line in lines)
    assert any(line.split()[:3] == ["strides", "1,", "2"] for line in lines)  # a parameter that differs, A then B
    assert "Rows: 3 matched by configuration and map, 3 differ (in mean, std, zero_fraction)" in out
    assert "Only in A: 9 row(s)" in out and "Only in B: 9 row(s)" in out
    html = b.parent / "compare-a-vs-b.html"
    assert html.is_file() and f"compare.html: {html}" in " ".join(line.strip() for line in lines)
    assert not (a / "compare-a-vs-b.html").exists() and not (b / "compare-a-vs-b.html").exists()


def test_compare_cli_a_sweep_with_itself_reports_no_differences(two_sweeps, capsys, tmp_path):
    a, _ = two_sweeps
    code, out, _ = run_in_process(capsys, "compare", str(a), str(a), "--out", str(tmp_path))
    assert code == 0
    assert "No differences:" in out and "0 differ" in out
    assert "parameter that differs" not in out and "Only in" not in out
    assert (tmp_path / "compare-a-vs-a.html").is_file()


def test_compare_cli_out_file_path(two_sweeps, capsys, tmp_path):
    a, b = two_sweeps
    target = tmp_path / "pages" / "mine.html"
    code, _, _ = run_in_process(capsys, "compare", str(a), str(b), "-o", str(target))
    assert code == 0 and target.is_file()


def test_compare_cli_folder_without_manifest_exits_2_with_one_line(two_sweeps, capsys):
    a, b = two_sweeps
    (b / "manifest.json").unlink()
    code, out, err = run_in_process(capsys, "compare", str(a), str(b))
    assert code == 2 and out == ""
    assert err.splitlines() == [
        f"convsweep: error: B={str(b)!r} holds no complete sweep: no manifest.json "
        "(a sweep writes it last; is a sweep still writing it, or was it interrupted?)"
    ]


def test_compare_cli_tampered_file_exits_2_with_one_line(two_sweeps, capsys):
    a, b = two_sweeps
    (a / "sizes.csv").write_text((a / "sizes.csv").read_text() + "\n")
    code, out, err = run_in_process(capsys, "compare", str(a), str(b))
    assert code == 2 and out == ""
    (line,) = err.splitlines()
    assert line.startswith(f"convsweep: error: A={str(a)!r} holds no complete sweep: 1 file(s) do not match")
    assert "sizes.csv: size differs" in line
    assert not list(a.parent.glob("compare-*.html"))  # refused before writing anything


def test_compare_cli_json_for_scripts_has_the_summary_and_every_changed_cell(two_sweeps, capsys):
    import json

    a, b = two_sweeps
    code, out, err = run_in_process(capsys, "compare", str(a), str(b), "--json")
    assert (code, err) == (0, "")
    data = json.loads(out)  # the whole output is one JSON document
    assert data["a"]["name"] == "a" and data["b"]["name"] == "b" and data["differs"] is True
    assert {"name": "strides", "a": "1, 2", "b": "1, 3"} in data["parameters_differing"]
    assert data["rows_matched"] == 3 and len(data["rows_differing"]) == 3
    assert len(data["rows_only_a"]) == 9 and len(data["rows_only_b"]) == 9
    changed = data["rows_differing"][0]
    assert set(changed) == {"conv", "map", "pool", "words", "cells"}
    assert {"mean", "std", "zero_fraction"} <= set(changed["cells"])
    mean = changed["cells"]["mean"]
    assert mean["delta"] == pytest.approx(float(mean["b"]) - float(mean["a"]))
    assert data["html"] == str(b.parent / "compare-a-vs-b.html")
