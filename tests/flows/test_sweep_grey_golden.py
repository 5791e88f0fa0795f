"""A grey sweep's outputs are byte for byte those of the code before channels (commit 3d0c536)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers.grey_golden import grey_sweep_digests

GOLDEN = Path(__file__).with_name("grey_golden.json")


def test_sweep_grey_outputs_byte_identical_to_before_channels():
    expected = json.loads(GOLDEN.read_text())
    found = grey_sweep_digests()
    assert len(expected) > 90  # every picture, map, table and page of the sweep (the manifest aside)
    assert set(found) == set(expected)
    differing = sorted(path for path in expected if found[path] != expected[path])
    assert not differing, f"grey outputs that changed since before channels: {differing}"
