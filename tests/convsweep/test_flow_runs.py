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


def test_run_failed_disk_full_without_a_file_names_the_out_folder():
    import errno

    from convsweep.flow_runs import _name_the_full_folder

    error = OSError(errno.ENOSPC, "No space left on device")
    text = _name_the_full_folder(f"OSError: {error}", error, "/data/out")
    assert text.startswith("OSError: [Errno 28] No space left on device, writing under --out /data/out")
    named = "OSError: [Errno 28] No space left on device: cannot write a.png into the folder /data/out/x"
    assert _name_the_full_folder(named, error, "/data/out") == named
    assert _name_the_full_folder("ValueError: x", ValueError("x"), "/data/out") == "ValueError: x"


def test_samples_drawn_default_samples_on_a_small_dataset_are_silent():
    import io

    from rich.console import Console

    from convsweep.flow_runs import _samples_drawn

    stream = io.StringIO()
    console = Console(file=stream, width=200)
    assert _samples_drawn(console, [0, 1, 2, 3], 2) is True
    assert stream.getvalue() == ""
    assert _samples_drawn(console, [0, 5], 2) is True
    assert "warning: samples 5: past the 2 selected images" in stream.getvalue()
