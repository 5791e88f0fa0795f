"""convsweep/flow_runs.py: what is known before the flow starts."""

from __future__ import annotations

from convsweep.flow_runs import sweep_preview


def test_sweep_preview_counts_conv_settings_times_chunks(idx_folder):
    # 20 images in chunks of 8 -> 3 chunks; strides 1,2 x paddings valid,same x dilations 1,2 -> 8 conv settings.
    parameters = dict(dataset=f"idx:{idx_folder}", chunk_size=8, strides=[1, 2], dilations=[1, 2], name="p")
    assert sweep_preview(parameters) == ("p", 8 * 3)
    assert sweep_preview({**parameters, "limit": 8}) == ("p", 8 * 1)


def test_sweep_preview_unknown_count_when_input_is_bad(tmp_path, idx_folder):
    assert sweep_preview(dict(dataset=f"idx:{idx_folder}", strides=[0], name="p")) == ("p", None)
    assert sweep_preview(dict(dataset=f"idx:{tmp_path}", name="p")) == ("p", None)  # no IDX files there
