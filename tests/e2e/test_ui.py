"""Sweep and notebook runs against a real Prefect server, read back through its API and in its UI (headless Chromium).

What a user of the UI needs: run names and tags that say which sweep ran on what,
task names that say what they do, artifacts that show the pictures and the columns
that vary, log lines with the fingerprint and the files written, and the exit-code
rule (parameters wrong -> exit 2 and no flow run; data wrong once running -> a
Failed run and exit 1).
"""

from __future__ import annotations

import re
from collections import Counter

import pandas as pd
import pytest

from tests.e2e.conftest import CHUNK_SIZE, IDX_IMAGES, run_cli, small_sweep_args, table_rows
from tests.helpers.idx import make_split, write_idx_folder

SWEEP = "ui-check"
CONV_SETTINGS = 2 * 2  # strides 1,2 x paddings valid,same
CHUNKS = -(-IDX_IMAGES // CHUNK_SIZE)  # 3
# The compute task runs one sweep of this size makes: one per (conv setting, chunk), one
# per conv setting for the sample images.  The flow's other tasks (load, report, ...) run once.
EXPECTED_COMPUTE_RUNS = {"process_chunk": CONV_SETTINGS * CHUNKS, "write_samples": CONV_SETTINGS}
COMPUTE_TASKS = tuple(EXPECTED_COMPUTE_RUNS)
ONCE_TASKS = {"describe_selection", "write_report"}  # at least these


def check_composition(tasks: list[dict]) -> None:
    counts = Counter(task_of(task) for task in tasks)
    assert {name: counts[name] for name in COMPUTE_TASKS} == EXPECTED_COMPUTE_RUNS, counts
    others = {name: count for name, count in counts.items() if name not in COMPUTE_TASKS}
    assert ONCE_TASKS <= set(others) and set(others.values()) == {1}, counts


# Columns of sizes.csv that must show, identically, in the table artifact.
CHECKED_COLUMNS = ["kernel", "stride", "padding", "conv_h", "conv_w", "pool_mode", "pool_h", "pool_w", "conv_formula"]


def task_of(task_run: dict) -> str:
    """'process_chunk' from the task key 'process_chunk-e1d6dfba'."""
    return task_run["task_key"].rsplit("-", 1)[0]


def expected_run_name(idx_dataset) -> str:
    return f"{SWEEP} · idx/{idx_dataset.name} · test · {CONV_SETTINGS * 2} cfg"


@pytest.fixture(scope="module")
def two_runs(prefect_server, idx_dataset, tmp_path_factory):
    """The same small sweep run twice through the CLI against the server (the second from the cache)."""
    work = tmp_path_factory.mktemp("ui")
    args = small_sweep_args(idx_dataset, work / "out", SWEEP, work / "cache")
    # INFO: the run logger's lines go to the API (the fixture's default is WARNING).
    results = [run_cli(args, env=prefect_server.env(PREFECT_LOGGING_LEVEL="INFO"), cwd=work) for _ in range(2)]
    for result in results:
        assert result.returncode == 0, result.stderr[-3000:]
        assert "Traceback" not in result.stderr + result.stdout
    runs = prefect_server.sweep_flow_runs(SWEEP)
    assert len(runs) == 2, [run["name"] for run in runs]
    return work, runs


def test_sweep_flow_runs_complete_with_every_task_run_recorded(prefect_server, two_runs, idx_dataset):
    _, (first, second) = two_runs
    for run in (first, second):
        assert run["state"]["type"] == "COMPLETED", run["state"]
        assert run["name"] == expected_run_name(idx_dataset)  # 4 conv settings x 2 pools = 8 cfg
    first_tasks = prefect_server.task_runs(first["id"])
    check_composition(first_tasks)
    assert {task["state"]["name"] for task in first_tasks} == {"Completed"}


def test_second_run_shows_cached_task_runs(prefect_server, two_runs):
    _, (_, second) = two_runs
    tasks = prefect_server.task_runs(second["id"])
    check_composition(tasks)
    compute_states = {task["state"]["name"] for task in tasks if task_of(task) in COMPUTE_TASKS}
    assert compute_states == {"Cached"}
    assert sum(task["state"]["name"] == "Cached" for task in tasks) >= sum(EXPECTED_COMPUTE_RUNS.values())


def test_table_artifact_holds_the_sizes_rows_and_markdown_exists(prefect_server, two_runs):
    work, (first, _) = two_runs
    artifacts = {artifact["key"]: artifact for artifact in prefect_server.artifacts(first["id"])}
    assert {f"{SWEEP}-sizes", f"{SWEEP}-report"} <= set(artifacts), sorted(artifacts)

    table = artifacts[f"{SWEEP}-sizes"]
    assert table["type"] == "table"
    rows = pd.DataFrame(table_rows(table))
    csv = pd.read_csv(work / "out" / SWEEP / "sizes.csv")
    assert len(csv) == CONV_SETTINGS * 2 * 3  # x 2 pools x 3 maps (sobel_h, sobel_v, sobel)
    assert len(rows) == len(csv)
    for column in CHECKED_COLUMNS:
        assert rows[column].astype(str).tolist() == csv[column].astype(str).tolist(), column

    markdown = artifacts[f"{SWEEP}-report"]
    assert markdown["type"] == "markdown"
    assert f"# convsweep: {SWEEP}" in markdown["data"]
    assert "sizes.csv" in markdown["data"]


def test_ui_renders_the_flow_run_and_its_sizes_table(prefect_server, two_runs, browser_page, tmp_path):
    work, (first, second) = two_runs
    page = browser_page
    csv = pd.read_csv(work / "out" / SWEEP / "sizes.csv")

    # The flow run's page: its name and state, then its Artifacts tab.
    page.goto(f"{prefect_server.url}/runs/flow-run/{first['id']}", wait_until="networkidle")
    page.get_by_text(first["name"]).first.wait_for()
    page.get_by_text("Completed").first.wait_for()
    page.get_by_text("Artifacts", exact=True).first.click()
    page.get_by_text(f"{SWEEP}-report").first.wait_for()
    sizes_card = page.get_by_text(f"{SWEEP}-sizes").first
    sizes_card.wait_for()
    page.screenshot(path=str(tmp_path / "flow-run-artifacts.png"), full_page=True)

    # The table artifact's page, reached from the flow run: the sizes rows are rendered.
    sizes_card.click()
    page.wait_for_url("**/artifacts/artifact/**")
    table = page.locator("table").first
    table.wait_for()
    page.get_by_text(f"{len(csv)} Items").first.wait_for()
    rendered = table.inner_text()
    for header in ("kernel", "conv_h", "pool_h", "conv_formula"):
        assert header in rendered
    for formula in sorted(set(csv["conv_formula"])):
        assert formula in rendered, formula  # e.g. floor((28 + 1 + 1 - 3) / 1) + 1 = 28
    assert sorted(set(csv["kernel"])) == ["sobel", "sobel_h", "sobel_v"]
    for kernel in ("sobel_h", "sobel_v", "sobel"):
        assert kernel in rendered
    page.screenshot(path=str(tmp_path / "sizes-table.png"), full_page=True)
    assert (tmp_path / "sizes-table.png").stat().st_size > 10_000

    # The second run's task runs are shown as Cached.
    page.goto(f"{prefect_server.url}/runs/flow-run/{second['id']}", wait_until="networkidle")
    page.get_by_text("Task Runs", exact=True).first.click()
    page.get_by_text("chunk-rnative-s1-pvalid-zeros-d1-0-16").first.wait_for()
    # State badges (the run-state filter's hidden <option>s also say "Cached": visible ones only).
    cached_badges = page.get_by_text("Cached", exact=True).filter(visible=True)
    cached_badges.first.wait_for()
    cached = sum(task["state"]["name"] == "Cached" for task in prefect_server.task_runs(second["id"]))
    assert cached_badges.count() == cached >= sum(EXPECTED_COMPUTE_RUNS.values())  # 0 on the first run
    page.screenshot(path=str(tmp_path / "second-run-task-runs.png"), full_page=True)


# --- what the UI says about a run: names, tags, artifacts, logs ------------------------------


def test_sweep_runs_carry_tags_and_a_final_message_naming_the_outputs(two_runs):
    work, (first, second) = two_runs
    for run in (first, second):
        assert set(run["tags"]) == {"convsweep", f"sweep:{SWEEP}", "dataset:idx", "started-by:cli"}
        message = run["state"]["message"]
        assert message.startswith(f"{CONV_SETTINGS * 2} configurations over {IDX_IMAGES} images of idx:")
        assert str((work / "out" / SWEEP).resolve()) in message
    assert f"({CONV_SETTINGS * CHUNKS} cached," in second["state"]["message"]  # every chunk from the cache
    assert "(0 cached," in first["state"]["message"]


def test_report_artifact_shows_the_pictures_as_data_uris(prefect_server, two_runs):
    work, (first, _) = two_runs
    artifacts = {artifact["key"]: artifact for artifact in prefect_server.artifacts(first["id"])}
    markdown = artifacts[f"{SWEEP}-report"]["data"]
    pictures = re.findall(r"!\[([^\]]*)\]\((data:image/png;base64,[A-Za-z0-9+/=]+)", markdown)
    alts = [alt for alt, _ in pictures]
    # The summary, one contact sheet per conv setting, and the sample grid: 2 samples x 10 stages
    # (input, 3 maps, 3 maps x 2 pools) per conv setting.
    assert alts.count("summary figure") == 1
    assert sum(alt.startswith("contact sheet ") for alt in alts) == CONV_SETTINGS
    assert sum(alt.startswith("#") for alt in alts) == CONV_SETTINGS * 2 * 10
    assert "#0 input" in alts and "#1 sobel-avg2-s2-pvalid" in alts
    assert len(markdown.encode()) < 2_000_000
    # Paths are code, never bare links; the grid has one caption line of gray scales.
    assert "](/" not in markdown  # no link to a filesystem path (the browser cannot open it)
    assert f"output folder `{(work / 'out' / SWEEP).resolve()}`: `sizes.csv`" in markdown
    assert markdown.count("*gray scale of each picture (hover it):") == CONV_SETTINGS
    assert "scales:" not in markdown


def test_table_artifact_leads_with_the_columns_that_vary(prefect_server, two_runs, idx_dataset):
    work, (first, _) = two_runs
    artifacts = {artifact["key"]: artifact for artifact in prefect_server.artifacts(first["id"])}
    table = artifacts[f"{SWEEP}-sizes"]
    columns = list(table_rows(table)[0])
    # kernel, stride, padding and pooling vary here; conv/pool sizes and statistics follow.
    assert columns[:4] == ["kernel", "map_kind", "stride", "padding"]
    assert columns.index("pool_mode") < columns.index("conv_h") < columns.index("mean")
    csv = pd.read_csv(work / "out" / SWEEP / "sizes.csv")
    constant = [column for column in csv.columns if csv[column].nunique(dropna=False) == 1]
    assert constant and not set(constant) & set(columns)
    assert len(csv.columns) > len(columns)  # sizes.csv keeps every column
    description = table["description"]
    assert f"dataset `idx:{idx_dataset}` · split test · {IDX_IMAGES} images of 28×28" in description
    assert "pad_mode zeros" in description and "dilation 1" in description


def test_sweep_logs_name_the_fingerprint_the_cache_and_the_files(prefect_server, two_runs):
    work, (first, second) = two_runs
    folder = (work / "out" / SWEEP).resolve()
    first_logs, second_logs = prefect_server.logs(first["id"]), prefect_server.logs(second["id"])
    fingerprint = re.search(r"fingerprint ([0-9a-f]{64})", "\n".join(first_logs))
    assert fingerprint, first_logs
    assert any(line.startswith("dataset idx:") and f"{IDX_IMAGES} images of 28x28" in line for line in first_logs)
    misses = [line for line in first_logs if "cache miss, computed in" in line]
    hits = [line for line in second_logs if "cache hit (computed earlier in" in line]
    assert len(misses) == len(hits) == CONV_SETTINGS * CHUNKS
    assert all(f"record {(work / 'cache').resolve()}/records/" in line for line in misses + hits)
    assert f"sizes.csv written: {folder}/sizes.csv" in first_logs
    assert any(line.startswith("report written: ") and f"{folder}/report.html" in line for line in first_logs)
    assert f"sizes.csv unchanged (cache hit): {folder}/sizes.csv" in second_logs
    assert any(line.startswith(f"outputs in {folder}") for line in first_logs)


@pytest.fixture(scope="module")
def notebook_run(prefect_server, idx_dataset, tmp_path_factory):
    """`convsweep notebook` on image 3 of the IDX test split (label 6), against the server."""
    work = tmp_path_factory.mktemp("notebook-ui")
    args = ["notebook", "--dataset", f"idx:{idx_dataset}", "--split", "test", "--index", "3"]
    env = prefect_server.env(PREFECT_LOGGING_LEVEL="INFO")
    result = run_cli([*args, "--out", str(work / "out"), "--name", "nb-ui"], env=env, cwd=work)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = [run for run in prefect_server.flow_runs("notebook") if run["parameters"].get("name") == "nb-ui"]
    assert len(runs) == 1, [run["name"] for run in runs]
    return work, runs[0]


def test_notebook_run_is_named_by_image_and_its_tasks_by_what_they_do(prefect_server, notebook_run, idx_dataset):
    work, run = notebook_run
    assert run["state"]["type"] == "COMPLETED", run["state"]
    assert run["name"] == f"nb-ui · idx/{idx_dataset.name} · test #3 (label 6)"
    assert set(run["tags"]) == {"convsweep", "notebook", "dataset:idx", "started-by:cli"}
    assert str((work / "out" / "nb-ui").resolve()) in run["state"]["message"]
    names = {task["name"] for task in prefect_server.task_runs(run["id"])}
    assert {"convolve-sobel_h", "convolve-sobel_v", "pool-max", "pool-avg", "load-image-test-3"} <= names


def test_notebook_artifact_embeds_the_figure_and_lists_the_shapes(prefect_server, notebook_run):
    work, run = notebook_run
    artifacts = {artifact["key"]: artifact for artifact in prefect_server.artifacts(run["id"])}
    markdown = artifacts["nb-ui-report"]["data"]
    assert re.search(r"!\[figure\]\(data:image/png;base64,", markdown)
    for stage in ("resized", "horizontal", "vertical", "sobel", "max_pool", "avg_pool"):
        assert re.search(rf"!\[{stage}\]\(data:image/png;base64,", markdown), stage
    assert "| `resized` | 27 × 27 |" in markdown and "| `max_pool` | 12 × 12 |" in markdown
    logs = prefect_server.logs(run["id"])
    folder = (work / "out" / "nb-ui").resolve()
    assert any(line.startswith("files written: ") and f"{folder}/arrays.npz" in line for line in logs), logs


def test_exit_codes_parameters_before_the_run_data_while_it_runs(prefect_server, tmp_path):
    """A missing folder is a parameter error (exit 2, no flow run); a split the folder lacks fails the run (exit 1)."""
    before = len(prefect_server.flow_runs("sweep"))
    missing = run_cli(
        ["sweep", "--dataset", f"idx:{tmp_path / 'nowhere'}", "--out", str(tmp_path / "out"), "--name", "no-folder"],
        env=prefect_server.env(),
        cwd=tmp_path,
    )
    assert missing.returncode == 2, missing.stderr
    assert len(prefect_server.flow_runs("sweep")) == before

    test_only = write_idx_folder(tmp_path / "t10k-only", test=make_split(4, seed=1))
    no_split = run_cli(
        ["sweep", "--dataset", f"idx:{test_only}", "--split", "train", "--out", str(tmp_path / "out")]
        + ["--name", "no-split"],
        env=prefect_server.env(),
        cwd=tmp_path,
    )
    assert no_split.returncode == 1, no_split.stderr
    last = no_split.stderr.strip().splitlines()[-1]
    assert last.startswith("convsweep: error: DataMismatchError: split='train':") and "has no train split" in last
    (failed,) = prefect_server.sweep_flow_runs("no-split")
    assert failed["state"]["type"] == "FAILED"
    assert "has no train split" in failed["state"]["message"]


def test_ui_report_artifact_renders_its_pictures_at_a_visible_size(prefect_server, two_runs, browser_page, tmp_path):
    _, (first, _) = two_runs
    page = browser_page
    report = {artifact["key"]: artifact for artifact in prefect_server.artifacts(first["id"])}[f"{SWEEP}-report"]
    page.goto(f"{prefect_server.url}/artifacts/artifact/{report['id']}", wait_until="networkidle")
    page.locator('img[alt="summary figure"]').first.wait_for()
    page.wait_for_function("Array.from(document.images).every(image => image.complete)")
    shown = page.evaluate(
        """() => Array.from(document.images).filter(image => image.src.startsWith("data:image/png")).map(image => {
            const box = image.getBoundingClientRect();
            return {alt: image.alt, natural: image.naturalWidth, width: box.width, height: box.height};
        })"""
    )
    assert len(shown) == 1 + CONV_SETTINGS + CONV_SETTINGS * 2 * 10, [image["alt"] for image in shown]
    small = [image for image in shown if image["natural"] < 100 or image["width"] < 100 or image["height"] < 50]
    assert not small, small
    summary = next(image for image in shown if image["alt"] == "summary figure")
    assert summary["width"] >= 600  # the figure fills the artifact's column, downscaled from its file
    page.screenshot(path=str(tmp_path / "report-artifact-top.png"))
    page.locator('img[alt="#0 input"]').first.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "report-artifact-sample-grid.png"))
    page.locator('img[alt^="contact sheet "]').first.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "report-artifact-contact-sheet.png"))
    for name in ("report-artifact-top.png", "report-artifact-sample-grid.png", "report-artifact-contact-sheet.png"):
        assert (tmp_path / name).stat().st_size > 10_000
