"""report.html in a real browser: self-contained (no network), every picture decoded, the table sortable."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from convsweep.tasks.io import files
from convsweep.tasks.model.records import DatasetRecord, SampleRecord
from convsweep.tasks.report import write_report
from convsweep.tasks.reporting import render
from convsweep.tasks.reporting.pages import HTML_IMAGE_MAX_WIDTH
from tests.helpers.sweep_rows import BIG, synthetic_rows

pytestmark = pytest.mark.e2e

DATASET = DatasetRecord.parse(
    {
        "spec": "idx:/data/mnist",
        "split": "test",
        "selection": {"split": "test", "limit": 100},
        "n": 100,
        "height": 28,
        "width": 28,
        "fingerprint": "ab" * 32,
        "source": "synthetic rows",
        "class_names": None,
    }
)


def _wide_contact_sheet(out: Path) -> SampleRecord:
    """A contact sheet wider than the HTML cap (17 columns at 110 dpi), as a write-samples record."""
    rng = np.random.default_rng(3)
    cells = [("input", rng.integers(0, 255, (28, 28), dtype=np.uint8))]
    cells += [
        (f"map {index}\nmax 2×2 / stride 2", rng.integers(0, 255, (13, 13), dtype=np.uint8)) for index in range(16)
    ]
    figure = render.contact_sheet([("#0\nlabel 7", cells), ("#1\nlabel 2", cells)], title="rnative-s1-pvalid-zeros-d1")
    try:
        path = files.write_figure(out / "contact" / "rnative-s1-pvalid-zeros-d1.png", figure, dpi=110)
    finally:
        render.close(figure)
    return SampleRecord.parse(
        {
            "conv": "rnative-s1-pvalid-zeros-d1",
            "classes": {},
            "contact": str(path),
            "images": {},
            "scaling": {"0-sobel": 1020.0},
        }
    )


def test_report_html_is_self_contained_and_sortable(tmp_path, browser_page):
    out = tmp_path / "big"
    rows = synthetic_rows(**BIG)
    record = _wide_contact_sheet(out)
    written = write_report.fn("big", DATASET, rows, str(out), [record])
    html_path = Path(written.html)
    assert html_path == out / "report.html"
    text = html_path.read_text()
    # No URL leaves the file: no http(s), no protocol-relative links, no external src/href at all.
    outside_data = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", text)
    assert not re.search(r"https?:|//[a-z]|url\(|@import", outside_data, re.IGNORECASE)
    assert not re.search(r'(src|href)="(?!data:image/png;base64,)', text)
    assert DATASET.fingerprint in text and "conv strides" in text and "max 3×3 / stride 3" in text

    # Rewriting gives the same bytes, from the records or from their JSON (a cached result's form).
    first = text
    write_report.fn("big", DATASET.to_json(), rows, str(out), [record.to_json()])
    assert html_path.read_text() == first

    page = browser_page
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(html_path.as_uri())
    page.wait_for_load_state("load")
    assert [url for url in requests if not url.startswith(("file:", "data:"))] == []

    images = page.eval_on_selector_all("img", "els => els.map(e => [e.complete, e.naturalWidth, e.naturalHeight])")
    assert len(images) == 2  # the summary and one contact sheet
    for complete, width, height in images:
        assert complete and width > 0 and height > 0
        assert width <= HTML_IMAGE_MAX_WIDTH
    assert max(width for _, width, _ in images) == HTML_IMAGE_MAX_WIDTH  # the wide sheet was downscaled

    body_rows = page.locator("table.sizes tbody tr")
    assert body_rows.count() == len(rows)
    headers = page.eval_on_selector_all("table.sizes thead th", "els => els.map(e => e.textContent)")
    # Every column of sizes.csv, compute_seconds included: in the table, or (the same in every row) above it.
    kept = ("kernel", "map", "channel")  # convsweep.tasks.reporting.model.ROW_NAMES: they name a row
    assert headers == [column for column in rows[0] if len({str(row[column]) for row in rows}) > 1 or column in kept]
    constant = page.locator("p.constant").text_content() or ""
    assert all(f"{column} " in constant for column in rows[0] if column not in headers)
    column = headers.index("mean")

    def column_values():
        return page.eval_on_selector_all(
            "table.sizes tbody tr", f"rows => rows.map(r => Number(r.cells[{column}].textContent))"
        )

    assert column_values() != sorted(column_values())
    header = page.locator("table.sizes thead th", has_text=re.compile(r"^mean$"))
    header.click()
    assert header.get_attribute("aria-sort") == "ascending"
    assert column_values() == sorted(row["mean"] for row in rows)
    header.click()
    assert header.get_attribute("aria-sort") == "descending"
    assert column_values() == sorted((row["mean"] for row in rows), reverse=True)
    # A text column sorts too.
    page.locator("table.sizes thead th", has_text=re.compile(r"^padding$")).click()
    padding_column = headers.index("padding")
    paddings = page.eval_on_selector_all(
        "table.sizes tbody tr", f"rows => rows.map(r => r.cells[{padding_column}].textContent)"
    )
    assert paddings[0] == "1" and paddings[-1] == "valid"

    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(tmp_path / "report.png"), full_page=False)
    assert (tmp_path / "report.png").stat().st_size > 0
