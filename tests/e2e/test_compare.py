"""`convsweep compare` on two real sweeps, and compare.html in a real browser.

Two small sweeps run through the CLI against the server (the second on fewer images, other strides and
pools); ``convsweep compare`` then runs as a user's shell runs it.  In Chromium: no request leaves the
file, every picture is decoded, one table row per configuration matched in both sizes.csv (counted
here with pandas), and a header click sorts.  A tampered copy and a folder without a manifest are
refused with one line and exit 2.
"""

from __future__ import annotations

import re
import shutil

import pandas as pd
import pytest

from tests.e2e.conftest import run_cli, small_sweep_args, stop_process

pytestmark = pytest.mark.e2e

KEY = ["resize", "stride", "padding", "pad_mode", "dilation", "map", "pool_mode", "pool_size"]


def _sample_pictures(folder):
    return {path.relative_to(folder).as_posix() for path in (folder / "samples").rglob("*.png")}


def test_compare_two_real_sweeps_in_the_terminal_and_in_chromium(prefect_server, idx_dataset, tmp_path, browser_page):
    out, cache = tmp_path / "out", tmp_path / "cache"
    env = prefect_server.env(COLUMNS="200")
    sweep_a = small_sweep_args(idx_dataset, out, "a", cache)
    # Later options win: B reads 30 of the 40 images, with conv strides 1 and 3, max pooling and none.
    sweep_b = small_sweep_args(idx_dataset, out, "b", cache, "--stop", "30", "--strides", "1,3")
    sweep_b += ["--pool-modes", "max,none"]
    for args in (sweep_a, sweep_b):
        result = run_cli(args, env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]

    result = run_cli(["compare", str(out / "a"), str(out / "b" / "manifest.json")], env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 or " " not in line.strip() for line in lines), result.stdout
    rows_a, rows_b = (pd.read_csv(out / name / "sizes.csv", dtype=str, keep_default_na=False) for name in "ab")
    matched = rows_a[KEY].merge(rows_b[KEY], on=KEY)
    assert len(matched) == 2 * 3  # stride 1 x (valid, same) x max 2x2, three maps each
    summary = f"Rows: {len(matched)} matched by configuration and map, {len(matched)} differ"
    assert summary in result.stdout
    # The parameters that differ head the lines of their table.
    assert {"stop", "strides", "pool_modes", "images"} <= {line.split()[0] for line in lines if line.strip()}
    html = out / "compare-a-vs-b.html"
    assert html.is_file()

    # The same sweep with itself: nothing differs.
    itself = run_cli(["compare", str(out / "a"), str(out / "a"), "--out", str(tmp_path)], env=env, cwd=tmp_path)
    assert itself.returncode == 0 and "No differences:" in itself.stdout, itself.stdout + itself.stderr

    page = browser_page
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(html.as_uri())
    page.wait_for_load_state("load")
    assert [url for url in requests if not url.startswith(("file:", "data:"))] == []
    images = page.eval_on_selector_all("img", "els => els.map(e => [e.complete, e.naturalWidth, e.naturalHeight])")
    paired = _sample_pictures(out / "a") & _sample_pictures(out / "b")
    assert len(paired) == 2 * 2 * 7  # stride-1 conv settings x samples 0, 1 x (input, 3 maps, 3 max-pooled)
    assert len(images) == 2 * len(paired)
    assert all(complete and width > 0 and height > 0 for complete, width, height in images)
    # Samples 0 and 1 are the same images in both (B stops early, it starts at the same place), and a sample's
    # pictures depend on that image alone: every pair is the same bytes, as the manifests' sha256 say.
    assert page.locator("table.pictures td.same").count() == 2 * len(paired)
    assert page.locator("table.pictures td.differs").count() == 0
    assert page.locator("#matched tbody tr").count() == len(matched)

    headers = page.eval_on_selector_all("#matched thead th", "els => els.map(e => e.textContent)")
    column = headers.index("Δ mean")

    def deltas() -> list[float]:
        return page.eval_on_selector_all(
            "#matched tbody tr", f"rows => rows.map(r => Number(r.cells[{column}].textContent))"
        )

    header = page.locator("#matched thead th", has_text=re.compile(r"^Δ mean$"))
    header.click()
    assert header.get_attribute("aria-sort") == "ascending"
    assert deltas() == sorted(deltas()) and len(set(deltas())) > 1
    header.click()
    assert deltas() == sorted(deltas(), reverse=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(tmp_path / "compare.png"), full_page=True)
    assert (tmp_path / "compare.png").stat().st_size > 0

    # Refused: a tampered copy, and a folder without a manifest (one line, exit 2, nothing written).
    tampered = tmp_path / "tampered"
    shutil.copytree(out / "b", tampered)
    picture = tampered / sorted(paired)[0]
    data = bytearray(picture.read_bytes())
    data[-5] ^= 0xFF
    picture.write_bytes(bytes(data))
    for b, message in ((tampered, "sha256 differs"), (idx_dataset, "no manifest.json")):
        refused = run_cli(["compare", str(out / "a"), str(b)], env=env, cwd=tmp_path)
        assert refused.returncode == 2 and refused.stdout == ""
        (line,) = refused.stderr.splitlines()
        assert line.startswith(f"convsweep: error: B={str(b)!r} holds no complete sweep") and message in line
    assert not (tmp_path / "compare-a-vs-tampered.html").exists()


def test_compare_while_a_rerun_rewrites_b_never_reads_a_half_updated_sweep(prefect_server, idx_dataset, tmp_path):
    """Issue 30 item 6: compares in a loop during a rerun of B with one more stride."""
    import subprocess
    import sys

    out, cache = tmp_path / "out", tmp_path / "cache"
    env = prefect_server.env(COLUMNS="200")
    for name in "ab":
        done = run_cli(small_sweep_args(idx_dataset, out, name, cache), env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
    rerun = subprocess.Popen(
        [sys.executable, "-m", "convsweep.cli", *small_sweep_args(idx_dataset, out, "b", cache, "--strides", "1,2,3")],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    outcomes: list[str] = []
    try:
        while rerun.poll() is None:
            compared = run_cli(["compare", str(out / "a"), str(out / "b")], env=env, cwd=tmp_path)
            if compared.returncode == 0:
                outcomes.append("ok")
                continue
            [line] = compared.stderr.strip().splitlines()
            assert compared.returncode == 2 and line.endswith("is writing it now; retry when it ends"), line
            outcomes.append("writing")
    finally:
        stop_process(rerun)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert outcomes, "no compare ran while the rerun wrote B"
    after = run_cli(["compare", str(out / "a"), str(out / "b")], env=env, cwd=tmp_path)
    assert after.returncode == 0, after.stderr
