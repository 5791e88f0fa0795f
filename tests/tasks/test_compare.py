"""tasks/reporting/compare.py: rows matched by configuration and map, deltas of every shared column, pictures paired."""

from __future__ import annotations

import copy
import io

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convsweep.tasks.io.sweep_folder import check_sweep_folder
from convsweep.tasks.reporting.compare import (
    column_changes,
    compare_parameters,
    compare_rows,
    compare_sweeps,
    format_delta,
    pair_pictures,
    read_rows,
    row_key,
)
from tests.helpers.sweep_folder import PARAMETERS, write_sweep_folder
from tests.helpers.sweep_rows import ONE, synthetic_rows

SMALL = dict(ONE, strides=[1, 2], paddings=["valid", "same"], pools=[("max", 2), ("avg", 2), ("none", None)])


def rows(**overrides):
    return synthetic_rows(**{**SMALL, **overrides})


def csv_text(table) -> str:
    buffer = io.StringIO()
    pd.DataFrame(table).to_csv(buffer, index=False)
    return buffer.getvalue()


def keys(table) -> set:
    return {(row["stride"], row["padding"], row["map"], row["pool_mode"]) for row in table}


def test_compare_rows_of_a_sweep_with_itself_reports_no_difference():
    table = rows()
    result = compare_rows(table, copy.deepcopy(table))
    assert len(result.matched) == len(table) == 2 * 2 * 3 * 3
    assert result.only_a == result.only_b == ()
    assert result.differing_columns == [] and result.differing_rows == []
    assert all(cell.same and cell.delta in (0.0, None) for row in result.matched for cell in row.cells.values())


def test_compare_rows_csv_text_equals_the_rows_it_was_written_from():
    table = rows()
    result = compare_rows(read_rows(csv_text(table)), table)
    assert len(result.matched) == len(table)
    assert result.differing_columns == []  # '-130.0' and -130.0, '1' and 1 are the same value


def test_compare_rows_one_changed_cell_is_the_only_difference_with_its_delta():
    a = rows()
    b = copy.deepcopy(a)
    b[5]["mean"] = a[5]["mean"] + 2.5
    result = compare_rows(a, b)
    assert [column.name for column in result.differing_columns] == ["mean"]
    (row,) = result.differing_rows
    assert row.key == row_key(a[5]) and row.changed() == ["mean"]
    assert row.cells["mean"].delta == pytest.approx(b[5]["mean"] - a[5]["mean"])
    assert row.cells["mean"].delta == pytest.approx(2.5)
    assert "std" in {column.name for column in result.equal_columns}
    (change,) = column_changes(result)
    assert change.rows == 1 and change.largest is row


def test_compare_rows_only_in_a_and_only_in_b_by_configuration():
    a = rows(strides=[1, 2])
    b = rows(strides=[1, 3], pools=[("max", 2), ("max", 3)])
    result = compare_rows(a, b)
    assert {(row.key[0], row.key[2]) for row in result.matched} == {
        (conv, "max2-s2-pvalid") for conv in ("rnative-s1-pvalid-zeros-d1", "rnative-s1-psame-zeros-d1")
    }
    assert len(result.matched) == len(keys(a) & keys(b)) == 2 * 3
    assert {row_key(row.row) for row in result.only_a} == {row_key(row) for row in a} - {row_key(row) for row in b}
    assert {row_key(row.row) for row in result.only_b} == {row_key(row) for row in b} - {row_key(row) for row in a}
    # stride varies over the two sweeps, so the tables show it; the other conv fields go to one sentence.
    assert result.setting_columns == ("stride", "padding", "map", "pool")
    assert result.constant_settings == "resize native, pad mode zeros, dilation 1"
    assert result.matched[0].words == "stride 1, padding valid · sobel_h · max 2×2"


def test_compare_rows_a_new_measure_column_in_both_gets_a_delta_without_being_named():
    a, b = rows(), rows()
    for index, (row_a, row_b) in enumerate(zip(a, b, strict=True)):
        row_a["shift_1px"], row_b["shift_1px"] = 0.25, 0.25 + (0.5 if index == 0 else 0.0)
        row_b["probe_accuracy"] = 0.9  # only in B
    result = compare_rows(a, b)
    column = next(column for column in result.columns if column.name == "shift_1px")
    assert column.numeric
    assert result.matched[0].cells["shift_1px"].delta == pytest.approx(0.5)
    assert [row.changed() for row in result.differing_rows] == [["shift_1px"]]
    assert result.only_b_columns == ("probe_accuracy",) and result.only_a_columns == ()


def test_compare_rows_text_column_differs_without_delta():
    a, b = rows(), rows()
    for row in b:
        row["dataset"] = "idx:/data/other"
    result = compare_rows(a, b)
    (column,) = result.differing_columns
    assert column.name == "dataset" and not column.numeric
    cell = result.matched[0].cells["dataset"]
    assert (cell.a, cell.b, cell.delta, cell.same) == ("idx:/data/mnist", "idx:/data/other", None, False)


def test_compare_rows_timings_get_deltas_but_are_not_differences():
    a, b = rows(), rows()
    for row in b:
        row["compute_seconds"] = 0.35
    result = compare_rows(a, b)
    assert [column.name for column in result.differing_columns] == ["compute_seconds"]
    assert result.differing_rows == []
    assert result.matched[0].cells["compute_seconds"].delta == pytest.approx(0.25)
    assert result.matched[0].changed(timings=True) == ["compute_seconds"]


def test_compare_rows_empty_cells_equal_each_other_and_differ_from_a_value():
    a, b = rows(), rows()
    a[0]["mean"] = b[0]["mean"] = None
    a[1]["mean"], b[1]["mean"] = None, 3.0
    result = compare_rows(read_rows(csv_text(a)), read_rows(csv_text(b)))
    assert result.matched[0].cells["mean"].same
    cell = result.matched[1].cells["mean"]
    assert not cell.same and cell.delta is None and (cell.a, cell.b) == ("", "3.0")


def test_compare_rows_two_rows_for_one_configuration_refused():
    table = rows()
    with pytest.raises(ValueError, match=r"^B: sizes.csv has two rows for rnative-s1-pvalid-zeros-d1 / sobel_h"):
        compare_rows(table, table + table[:1])


def test_compare_rows_row_without_settings_refused():
    table = rows()
    broken = [dict(row) for row in table]
    del broken[0]["stride"]
    with pytest.raises(ValueError, match=r"^A: sizes.csv line 2 names no configuration"):
        compare_rows(broken, table)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    keep_a=st.sets(st.integers(0, 35)),
    keep_b=st.sets(st.integers(0, 35)),
)
def test_compare_rows_swapping_a_and_b_negates_deltas_and_swaps_sides(seed, keep_a, keep_b):
    a = [row for index, row in enumerate(rows(seed=seed)) if index not in keep_a]
    b = [row for index, row in enumerate(rows(seed=seed + 1)) if index not in keep_b]
    forward, backward = compare_rows(a, b), compare_rows(b, a)
    assert {row.key for row in forward.matched} == {row.key for row in backward.matched}
    assert {row.key for row in forward.only_a} == {row.key for row in backward.only_b}
    assert {row.key for row in forward.only_b} == {row.key for row in backward.only_a}
    back = {row.key: row for row in backward.matched}
    for row in forward.matched:
        for name, cell in row.cells.items():
            other = back[row.key].cells[name]
            assert (cell.a, cell.b, cell.same) == (other.b, other.a, other.same)
            if cell.delta is not None:
                assert cell.delta == pytest.approx(-other.delta)
                assert cell.delta == pytest.approx(float(cell.b) - float(cell.a))


def test_compare_parameters_differ_shared_absent_and_the_data_read():
    a = {"parameters": {"strides": [1, 2], "name": "a", "keep_maps": False}, "code_version": "c1", "dataset": {}}
    b = {
        "parameters": {"strides": [1, 2], "name": "b", "keep_maps": False, "probe": True},
        "code_version": "c1",
        "dataset": {},
    }
    found = {parameter.name: parameter for parameter in compare_parameters(a, b)}
    assert found["strides"].same and found["strides"].a == "1, 2"
    assert found["keep_maps"].same and found["keep_maps"].a == "off"
    assert (found["name"].a, found["name"].b, found["name"].same) == ("a", "b", False)
    assert (found["probe"].a, found["probe"].b) == ("absent", "on")
    assert found["code version"].same


def test_pair_pictures_pairs_common_conv_settings_samples_and_stages_marking_same_bytes(tmp_path):
    table_a = rows(strides=[1, 2])
    table_b = rows(strides=[1, 3])
    a = check_sweep_folder(write_sweep_folder(tmp_path / "a", table_a, samples=(0, 1), seed=1), argument="A")
    b = check_sweep_folder(write_sweep_folder(tmp_path / "b", table_b, samples=(1, 2), seed=2), argument="B")
    # One picture the same bytes in both.
    same = "samples/rnative-s1-pvalid-zeros-d1/1-input.png"
    (tmp_path / "b" / same).write_bytes((tmp_path / "a" / same).read_bytes())
    b = b.__class__(b.folder, b.manifest, {**b.files, same: a.files[same]}, b.sizes_csv)
    pairs = pair_pictures(a, b, rows_a=read_rows(a.sizes_csv), rows_b=read_rows(b.sizes_csv))
    # Stride 1 only (the conv settings in both), sample 1 only, every stage: input, 3 maps, 3 maps x 2 pools.
    assert {pair.conv for pair in pairs} == {"rnative-s1-pvalid-zeros-d1", "rnative-s1-psame-zeros-d1"}
    assert {pair.sample for pair in pairs} == {1}
    assert len(pairs) == 2 * (1 + 3 + 3 * 2)
    assert [pair.stage for pair in pairs[:5]] == ["input", "sobel_h", "sobel_v", "sobel", "sobel_h-max2-s2-pvalid"]
    assert pairs[4].title == "sobel_h · max 2×2"
    assert [pair.stage for pair in pairs if pair.same] == ["input"]
    assert all(pair.a.is_file() and pair.b.is_file() for pair in pairs)


def test_compare_sweeps_of_a_folder_with_itself_differs_in_nothing(tmp_path):
    folder = write_sweep_folder(tmp_path / "a", rows())
    a, b = check_sweep_folder(folder, argument="A"), check_sweep_folder(folder / "manifest.json", argument="B")
    comparison = compare_sweeps(a, b)
    assert not comparison.differs
    assert comparison.differing_parameters == [] and len(comparison.shared_parameters) == len(PARAMETERS) + 3
    assert len(comparison.pictures) == 4 * 2 * (1 + 3 + 3 * 2) and comparison.differing_pictures == []


def test_compare_sweeps_other_data_differs(tmp_path):
    a = check_sweep_folder(write_sweep_folder(tmp_path / "a", rows(seed=1)), argument="A")
    b = check_sweep_folder(
        write_sweep_folder(tmp_path / "b", rows(seed=2), parameters={**PARAMETERS, "name": "b"}, seed=5),
        argument="B",
    )
    comparison = compare_sweeps(a, b)
    assert comparison.differs
    assert [parameter.name for parameter in comparison.differing_parameters] == ["name"]
    assert {column.name for column in comparison.rows.differing_columns} == {"mean", "std", "zero_fraction"}
    assert len(comparison.differing_pictures) == len(comparison.pictures)


@pytest.mark.parametrize(("delta", "text"), [(None, ""), (0.0, "0"), (0.25, "+0.25"), (-3.0, "-3"), (1e-7, "+1e-07")])
def test_format_delta_signed_short(delta, text):
    assert format_delta(delta) == text
