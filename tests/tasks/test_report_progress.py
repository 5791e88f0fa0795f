"""The progress artifact: batched updates, none for cached chunks but the final 100 %."""

from __future__ import annotations

import pytest

from tasks import report


@pytest.fixture
def artifact_calls(monkeypatch):
    """Record the progress values sent to the API instead of sending them."""
    sent: list[float] = []
    monkeypatch.setattr(report, "create_progress_artifact", lambda **kwargs: "artifact-id")
    monkeypatch.setattr(report, "update_progress_artifact", lambda artifact_id, progress: sent.append(progress))
    monkeypatch.setattr(report.Progress, "INTERVAL_SECONDS", 1e9)  # only the 10 % steps count here
    return sent


def test_progress_computed_chunks_update_every_tenth(artifact_calls):
    progress = report.Progress("t", total=42)
    for _ in range(42):
        progress.advance()
    # 42 chunks: an update each time another 10 % is done (5 chunks = 11.9 %), and at 100 %
    assert artifact_calls == pytest.approx([100 * k / 42 for k in (5, 10, 15, 20, 25, 30, 35, 40, 42)])


def test_progress_cached_chunks_only_report_the_end(artifact_calls):
    progress = report.Progress("t", total=42)
    seen = []
    report.progress_listeners.append(lambda done, total: seen.append(done))
    try:
        for _ in range(42):
            progress.advance(cached=True)
    finally:
        report.progress_listeners.clear()
    assert artifact_calls == [100.0]
    assert seen == list(range(1, 43))  # the terminal's progress bar still moves with every chunk
