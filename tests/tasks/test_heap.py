"""glibc's mmap threshold is fixed once per process for images computed in bands."""

from __future__ import annotations

import sys

import pytest

from convsweep.tasks.io import heap


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_return_large_frees_sets_the_threshold_once(monkeypatch):
    calls = []
    monkeypatch.setattr(heap, "_done", [])
    monkeypatch.setattr(heap, "_set_threshold", lambda: calls.append(1) or True)
    assert heap.return_large_frees() and heap.return_large_frees()
    assert calls == [1]


def test_set_threshold_on_this_libc_reports_whether_it_took():
    assert heap._set_threshold() is sys.platform.startswith("linux")
