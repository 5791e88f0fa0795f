"""The report's three pages, rendered from one :class:`convsweep.tasks.reporting.model.Report` by the templates in ``tasks/reporting/templates``.

* :func:`render_markdown` — report.md (``report.md.j2``), links relative to the output folder;
* :func:`render_html` — report.html (``report.html.j2``): self-contained, pictures as PNG data
  URIs, ``report.css`` and ``report.js`` inlined;
* :func:`render_ui_report` — the Prefect UI's report artifact (``ui_report.md.j2``, one
  ``ui_samples.md.j2`` per conv setting while they fit its byte budget).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from convsweep.tasks.reporting import images as page_images
from convsweep.tasks.reporting.model import GridRow, Report

# report.html: pictures downscaled to at most this width.
HTML_IMAGE_MAX_WIDTH = 1600
# The report artifact: pictures downscaled to these widths (PNG data URIs), so that the
# artifact of the default sweep stays well under 2 MB however large the files are.
UI_SUMMARY_MAX_WIDTH = 1100
UI_CONTACT_MAX_WIDTH = 900
# ... and at most this many bytes of markdown: further conv settings are named, not shown.
UI_REPORT_BUDGET_BYTES = 1_800_000


@cache
def environment() -> Environment:
    """The templates' environment: HTML autoescaped, an undefined name an error, block tags on lines of their own."""
    env = Environment(
        loader=PackageLoader("convsweep.tasks.reporting", "templates"),
        autoescape=select_autoescape(["html", "html.j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals.update(asset=_asset, png=_png, grid_cells=_grid_cells)
    return env


def _asset(name: str) -> Markup:
    """A file of the templates folder (CSS, JS) as it is, to inline into a page."""
    loader = environment().loader
    assert loader is not None  # environment() always has the templates' loader
    source, _, _ = loader.get_source(environment(), name)
    return Markup(source)


def _png(path: str | Path, max_width: int) -> tuple[str, int, int]:
    return page_images.png_data_uri(path, max_width=max_width)


def _grid_cells(row: GridRow) -> tuple[str, list[tuple[int, str, str]]]:
    """A grid row's pictures enlarged (``page_images.map_cell_uri``): the map's true size 'H×W' and (index, URI, tooltip)."""
    cells = []
    true_size = ""
    for index, path, tooltip in row.pictures:
        uri, _, _, true_h, true_w = page_images.map_cell_uri(path)
        cells.append((index, uri, tooltip))
        true_size = f"{true_h}×{true_w}"
    return true_size, cells


def _render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def render_markdown(report: Report) -> str:
    """report.md."""
    return _render("report.md.j2", report=report)


def render_html(report: Report) -> str:
    """report.html: self-contained (pictures as data URIs, inline CSS and JS, no URL outside the file)."""
    return _render("report.html.j2", report=report, image_max_width=HTML_IMAGE_MAX_WIDTH)


def render_ui_report(report: Report, *, budget_bytes: int = UI_REPORT_BUDGET_BYTES) -> str:
    """The report artifact: facts, the summary figure, each conv setting's sample grid and contact sheet.

    Pictures are PNG data URIs (the UI cannot reach files): the summary and the contact sheets
    downscaled to :data:`UI_SUMMARY_MAX_WIDTH` / :data:`UI_CONTACT_MAX_WIDTH`, the sample maps
    enlarged with nearest-neighbour into one labelled grid per conv setting.  Conv settings whose
    pictures would take the text past ``budget_bytes`` are listed by their files instead.
    """
    context = dict(
        report=report,
        summary_width=UI_SUMMARY_MAX_WIDTH,
        contact_width=UI_CONTACT_MAX_WIDTH,
        map_cell_pixels=page_images.MAP_CELL_PIXELS,
        budget_bytes=budget_bytes,
    )
    used = len(_render("ui_report.md.j2", sections=[], left_out=[], **context).encode())
    sections, left_out = [], []
    for section in report.samples:
        text = _render("ui_samples.md.j2", section=section, **context)
        size = len(text.encode())
        if used + size > budget_bytes:
            # Past the budget: the setting's files are named, its pictures stay out of the artifact.
            left_out.append(section)
            continue
        sections.append(text)
        used += size
    return _render("ui_report.md.j2", sections=sections, left_out=left_out, **context)
