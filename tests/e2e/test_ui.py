"""A sweep run against a real Prefect server, checked through its API and in its UI (headless Chromium)."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest

from tests.e2e.conftest import CHUNK_SIZE, IDX_IMAGES, run_cli, small_sweep_args, table_rows

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


@pytest.fixture(scope="module")
def two_runs(prefect_server, idx_dataset, tmp_path_factory):
    """The same small sweep run twice through the CLI against the server (the second from the cache)."""
    work = tmp_path_factory.mktemp("ui")
    args = small_sweep_args(idx_dataset, work / "out", SWEEP, work / "cache")
    results = [run_cli(args, env=prefect_server.env(), cwd=work) for _ in range(2)]
    for result in results:
        assert result.returncode == 0, result.stderr[-3000:]
        assert "Traceback" not in result.stderr + result.stdout
    runs = prefect_server.sweep_flow_runs(SWEEP)
    assert len(runs) == 2, [run["name"] for run in runs]
    return work, runs


def test_sweep_flow_runs_complete_with_every_task_run_recorded(prefect_server, two_runs):
    _, (first, second) = two_runs
    for run in (first, second):
        assert run["state"]["type"] == "COMPLETED", run["state"]
        assert run["name"] == f"sweep-idx-test-{CONV_SETTINGS * 2}cfg"  # 4 conv settings x 2 pools
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
