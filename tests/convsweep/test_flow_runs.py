"""convsweep/flow_runs.py: waiting for the API to record a run."""

from __future__ import annotations

import pytest
from prefect.client.schemas.objects import State, StateType

from convsweep import flow_runs


class FakeRun:
    """A task run as the API returns it: an id and a state (None before its first state event)."""

    def __init__(self, index: int, state_name: str | None) -> None:
        self.id = index
        self.state = None if state_name is None else State(type=STATE_TYPES[state_name], name=state_name)


STATE_TYPES = {"Completed": StateType.COMPLETED, "Cached": StateType.COMPLETED, "Running": StateType.RUNNING}


class ScriptedApi:
    """What the API records over (fake) time: ``script`` maps a second to the runs it holds from then on."""

    def __init__(self, monkeypatch, script: dict[float, list[str | None]], *, drained: bool = True) -> None:
        self.now = 0.0
        self.script = sorted(script.items())
        self.reads = 0
        monkeypatch.setattr(flow_runs, "drain_events", lambda: drained)
        monkeypatch.setattr(flow_runs, "recorded_task_runs", self.read)
        monkeypatch.setattr(flow_runs.time, "monotonic", lambda: self.now)
        monkeypatch.setattr(flow_runs.time, "sleep", self.sleep)

    def read(self, flow_run_id):
        self.reads += 1
        held = [states for second, states in self.script if second <= self.now][-1]
        return [FakeRun(index, name) for index, name in enumerate(held)]

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_wait_until_recorded_returns_once_every_task_run_is_final(monkeypatch):
    api = ScriptedApi(
        monkeypatch, {0: ["Completed", "Running"], 1: ["Completed", "Cached", "Running"], 2: ["Completed"] * 3}
    )
    runs = flow_runs.wait_until_recorded("flow-run-id", 3)
    assert len(runs) == 3 and api.now >= 2


def test_wait_until_recorded_keeps_waiting_while_the_api_makes_progress(monkeypatch):
    # One more task run recorded every 50 s: slower than nothing-for-60-s, so it never stalls;
    # 4 minutes in all, beyond any fixed 60 s wait.
    script = {50.0 * step: ["Completed"] * step + ["Running"] * (5 - step) for step in range(6)}
    said = []
    api = ScriptedApi(monkeypatch, script)
    runs = flow_runs.wait_until_recorded("flow-run-id", 5, say=said.append)
    assert len(runs) == 5 and api.now >= 250
    assert said == ["waiting for the Prefect API to record the task runs (0 of 5 so far)"]


def test_wait_until_recorded_fails_when_the_api_stops_recording(monkeypatch):
    api = ScriptedApi(monkeypatch, {0: ["Completed", "Running"], 10: ["Completed", "Completed", "Running", None]})
    with pytest.raises(RuntimeError) as raised:
        flow_runs.wait_until_recorded("flow-run-id", 5)
    assert str(raised.value) == (
        "the Prefect API recorded 2 of 5 task runs of flow run flow-run-id, none more in the last 60 s "
        "(1 still Running, 1 still without a state, 1 not in the API)"
    )
    assert 70 <= api.now <= 75  # the last progress at 10 s, then 60 s without any


def test_wait_until_recorded_gives_up_at_its_limit_even_with_progress(monkeypatch):
    script = {float(second): ["Completed"] * second + ["Running"] for second in range(0, 100)}
    api = ScriptedApi(monkeypatch, script, drained=False)
    with pytest.raises(
        RuntimeError, match=r"recorded \d+ of 1000 .* not all within 30 s .*; the client could not send all its events"
    ):
        flow_runs.wait_until_recorded("flow-run-id", 1000, limit_seconds=30)
    assert 30 <= api.now <= 32


def _sweep_folder(tmp_path, files: list[str]) -> dict:
    """A finished sweep's result as the CLI holds it: a small sizes.csv and a manifest listing ``files``."""
    import csv
    import json

    from tests.helpers.sweep_rows import ONE, synthetic_rows

    rows = synthetic_rows(**ONE)
    with open(tmp_path / "sizes.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (tmp_path / "manifest.json").write_text(json.dumps({"files": [{"path": path} for path in files]}))
    return {
        "name": "t",
        "csv": str(tmp_path / "sizes.csv"),
        "manifest": str(tmp_path / "manifest.json"),
        "n_images": 300,
        "configurations": 1,
        "rows": len(rows),
        "task_runs": 9,
        "cached_task_runs": 0,
        "output_dir": str(tmp_path),
    }


def _printed(result: dict) -> str:
    import io

    from rich.console import Console

    out = io.StringIO()
    flow_runs._print_sweep_summary(Console(file=out, width=80), result)
    return out.getvalue()


def test_print_sweep_summary_lists_the_learned_files_and_the_accuracy_when_trained(tmp_path):
    files = ["report.html", "report.md", "sizes.csv", "summary.png", "learned.png", "learned.csv"]
    files += ["training.png", "model.keras", "measures.png", "maps/a/sobel.npy", "samples/0.png", "contact/c.png"]
    result = {**_sweep_folder(tmp_path, files), "model_test_accuracy": 0.81234, "model_test_images": 2000}
    text = _printed(result)
    assert "trained CNN: test accuracy 0.8123 on 2,000 test images" in text
    listed = " ".join(text.split("outputs in")[1].split()).split("(")[1]
    assert listed == (
        "report.html, report.md, sizes.csv, manifest.json, summary.png, learned.csv, learned.png, "
        "measures.png, model.keras, training.png, contact/, maps/, samples/)"
    )


def test_print_sweep_summary_lists_only_what_was_written_without_training(tmp_path):
    text = _printed(_sweep_folder(tmp_path, ["report.html", "report.md", "sizes.csv", "summary.png"]))
    assert "accuracy" not in text
    assert "(report.html, report.md, sizes.csv, manifest.json, summary.png)" in text
    assert all(len(line) <= 80 for line in text.splitlines() if line != str(tmp_path))  # the folder stays whole


def test_print_sweep_summary_probe_says_its_rows_and_image_counts(tmp_path):
    import csv

    result = _sweep_folder(tmp_path, ["report.html", "measures.png"])
    with open(result["csv"], newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:  # as add_measures writes them: filled on the magnitude row only
        filled = row["map"] == "sobel"
        row.update(probe_accuracy="0.81" if filled else "", probe_features="9" if filled else "")
        row.update(probe_train_images="300" if filled else "", probe_test_images="200" if filled else "")
    with open(result["csv"], "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    text = " ".join(_printed(result).split())
    assert (
        "probe: a linear probe per configuration, on its sobel rows only, fitted on 300 train images, scored on 200 test images"
        in text
    )
