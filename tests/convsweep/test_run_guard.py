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
