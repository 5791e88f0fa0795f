"""flows/task_runs.py: every task run a flow makes is counted, so the CLI's wait ends when the API has them all."""

from __future__ import annotations

from pathlib import Path

from prefect import task

import convsweep.flows.sweep
from convsweep.flows.sweep import sweep
from tests.helpers import api


@task(name="extra-step", persist_result=False)
def extra_step(value: int) -> int:
    return value + 1


def test_sweep_with_a_task_added_is_waited_for_without_a_stall(tmp_path: Path, idx_folder, monkeypatch):
    folder, _ = idx_folder
    original = convsweep.flows.sweep._write_manifest

    def with_an_extra_task(plan, runs, **inputs):
        # A copy of the flow with one task more, made the way every step is made.
        assert runs.call(extra_step, cached=False, value=1).result() == 2
        return original(plan, runs, **inputs)

    parameters = dict(
        dataset=f"idx:{folder}",
        out=str(tmp_path / "out"),
        name="added-task",
        chunk_size=16,
        strides=[1],
        paddings=["valid"],
        samples=[0],
    )
    state = sweep(**parameters, return_state=True)
    before = state.result()["task_runs"]
    monkeypatch.setattr(convsweep.flows.sweep, "_write_manifest", with_an_extra_task)
    state = sweep(**parameters, return_state=True)
    result = state.result()
    assert result["task_runs"] == before + 1
    # A count one too many would wait here for a task run that never comes, then fail the length check.
    runs = api.task_runs(state.state_details.flow_run_id, result["task_runs"], timeout=120)
    assert len(runs) == result["task_runs"]
    assert sum(run.name.startswith("extra-step") for run in runs) == 1
    # Run names straight from the task's job (task_run_name="{job.run_name}"), as the UI lists them.
    label = "rnative-s1-pvalid-zeros-d1"
    assert {run.name for run in runs if run.name.startswith(("chunk-", "samples-"))} == {
        *(f"chunk-{label}-{start}-{stop}" for start, stop in ((0, 16), (16, 32), (32, 40))),
        f"samples-{label}",
    }
    # 40 images in chunks of 16, one conv setting: load + 3 chunks + 1 samples + sizes, report, artifacts, manifest: counted, never written by hand
    assert before == 1 + 3 + 1 + 4
