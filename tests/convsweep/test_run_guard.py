"""The run guard's quiet exits: an interrupt that Python cannot propagate prints nothing once stopping."""

from __future__ import annotations

from types import SimpleNamespace

from convsweep import run_guard


def test_unraisable_interrupt_is_silent_once_stopping_and_other_errors_still_print(monkeypatch):
    seen = []
    monkeypatch.setattr(run_guard, "_original_unraisablehook", seen.append)
    interrupt = SimpleNamespace(exc_value=KeyboardInterrupt())
    error = SimpleNamespace(exc_value=ValueError("a real problem"))
    monkeypatch.setattr(run_guard, "_received", None)
    run_guard._quiet_unraisable(interrupt)  # not stopping: Python's usual report
    assert seen == [interrupt]
    monkeypatch.setattr(run_guard, "_received", 2)
    run_guard._quiet_unraisable(interrupt)  # stopping: silent
    run_guard._quiet_unraisable(error)  # a real error is still reported
    assert seen == [interrupt, error]


def _heartbeat_in_a_flow_run_block() -> int | None:
    from prefect.settings import get_current_settings

    with run_guard.heartbeats_only_if_asked():
        return get_current_settings().flows.heartbeat_frequency


def test_heartbeats_only_if_asked_off_by_default(monkeypatch):
    from prefect.settings import get_current_settings

    for variable in ("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "PREFECT_RUNNER_HEARTBEAT_FREQUENCY"):
        monkeypatch.delenv(variable, raising=False)
    assert get_current_settings().flows.heartbeat_frequency == 180  # Prefect 3.9's default, outside the block
    assert _heartbeat_in_a_flow_run_block() is None
    assert get_current_settings().flows.heartbeat_frequency == 180  # restored


def test_heartbeats_only_if_asked_kept_when_the_user_set_them(monkeypatch):
    from prefect.settings import temporary_settings

    with temporary_settings(updates={"flows.heartbeat_frequency": 60}):
        assert _heartbeat_in_a_flow_run_block() == 60
