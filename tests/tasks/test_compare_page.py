"""tasks/reporting/compare_page.py: compare.html is one self-contained file, one table row per matched configuration."""

from __future__ import annotations

import re

from convsweep.tasks.io.sweep_folder import check_sweep_folder
from convsweep.tasks.reporting.compare import compare_sweeps
from convsweep.tasks.reporting.compare_page import matched_table, write_compare_html
from tests.helpers.sweep_folder import PARAMETERS, write_sweep_folder
from tests.helpers.sweep_rows import ONE, synthetic_rows


def _comparison(tmp_path, *, same: bool = False):
    rows_a = synthetic_rows(**dict(ONE, strides=[1, 2], pools=[("max", 2), ("none", None)]), seed=1)
    rows_b = synthetic_rows(**dict(ONE, strides=[1, 3], pools=[("max", 2), ("avg", 2)]), seed=2)
    a = write_sweep_folder(tmp_path / "a", rows_a, seed=1)
    b = a if same else write_sweep_folder(tmp_path / "b", rows_b, parameters={**PARAMETERS, "name": "b"}, seed=2)
    return compare_sweeps(check_sweep_folder(a, argument="A"), check_sweep_folder(b, argument="B"))


def test_compare_html_self_contained_with_a_row_per_matched_configuration(tmp_path):
    comparison = _comparison(tmp_path)
    path = write_compare_html(comparison, tmp_path / "out" / "compare.html")
    text = path.read_text()
    outside_data = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", text)
    assert not re.search(r"https?:|//[a-z]|url\(|@import", outside_data, re.IGNORECASE)
    assert not re.search(r'(src|href)="(?!data:image/png;base64,)', text)
    matched = re.search(r'<table class="sizes" id="matched">(.*?)</table>', text, re.S)
    assert matched is not None
    assert matched.group(1).count("<tr data-index=") == len(comparison.rows.matched) == 3  # stride 1, max 2x2
    assert '<th scope="col">Δ mean</th>' in matched.group(1)
    assert text.count("<img ") == 2 * len(comparison.pictures) == 2 * 2 * (1 + 3 + 3)
    assert "only-a" in text and "only-b" in text
    # Rendering again gives the same bytes; no temp file is left beside it.
    assert write_compare_html(comparison, path).read_text() == text
    assert [item.name for item in path.parent.iterdir()] == ["compare.html"]


def test_compare_html_of_a_sweep_with_itself_says_no_differences(tmp_path):
    comparison = _comparison(tmp_path, same=True)
    text = write_compare_html(comparison, tmp_path / "self.html").read_text()
    assert "No differences" in text and 'class="verdict differs"' not in text
    table = matched_table(comparison.rows)
    assert table.columns == ("stride", "map", "pool", "differences")  # no column differs: no A/B/Δ columns
    assert {row[-1].text for row in table.rows} == {"0"}
