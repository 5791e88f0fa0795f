"""The progress artifact: batched updates, none for cached chunks but the final 100 %."""

from __future__ import annotations

import pytest

from convsweep.tasks.prefect_glue import progress


@pytest.fixture
def artifact_calls(monkeypatch):
    """Record the progress values sent to the API (("create" | "update", percent)) instead of sending them."""
    sent: list[tuple[str, float]] = []

    def create(*, progress: float, key: str, description: str) -> str:
        sent.append(("create", progress))
        return "artifact-id"

    monkeypatch.setattr(progress, "create_progress_artifact", create)
    monkeypatch.setattr(
        progress, "update_progress_artifact", lambda artifact_id, progress: sent.append(("update", progress))
    )
    monkeypatch.setattr(progress.Progress, "INTERVAL_SECONDS", 1e9)  # only the 10 % steps count here
    return sent


def test_progress_computed_chunks_update_every_tenth(artifact_calls):
    tracker = progress.Progress("t", total=42)
    for _ in range(42):
        tracker.advance()
    # 42 chunks: an update each time another 10 % is done (5 chunks = 11.9 %), and at 100 %;
    # the first of them creates the artifact
    assert [call for call, _ in artifact_calls] == ["create"] + ["update"] * 8
    percents = [percent for _, percent in artifact_calls]
    assert percents == pytest.approx([100 * k / 42 for k in (5, 10, 15, 20, 25, 30, 35, 40, 42)])


def test_progress_cached_chunks_only_report_the_end(artifact_calls):
    seen = []
    with progress.reporting_to(lambda done, total: seen.append(done)):
        tracker = progress.Progress("t", total=42)
        for _ in range(42):
            tracker.advance(cached=True)
    assert artifact_calls == [("create", 100.0)]  # one API call for a sweep whose chunks are all cached
    # the total first (0 done), then the terminal's progress bar still moves with every chunk
    assert seen == list(range(0, 43))


def test_announce_stage_reaches_the_cli_only_inside_reporting_to():
    stages: list[str] = []
    progress.announce("training before anyone listens")  # no callback: nothing happens, nothing fails
    with progress.reporting_to(lambda done, total: None, stages.append):
        progress.announce("training a CNN (4 filters, 3 epochs)")
    progress.announce("after the block")
    assert stages == ["training a CNN (4 filters, 3 epochs)"]
