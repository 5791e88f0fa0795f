"""tasks/plan/plan.py: the sweep plan, made once from the parameters and the described data (no Prefect)."""

from __future__ import annotations

import pytest

from convsweep.tasks.datasets.identity_index import describe
from convsweep.tasks.model import parse_parameters
from convsweep.tasks.model.records import DatasetRecord
from convsweep.tasks.plan.plan import plan_sweep
from tests.helpers.idx import make_split, write_idx_folder


@pytest.fixture
def idx_folder(tmp_path):
    """20 seeded 28x28 test images."""
    return write_idx_folder(tmp_path / "idx", test=make_split(20, seed=3))


def planned(tmp_path, idx_folder, **parameters):
    settings = parse_parameters(dataset=f"idx:{idx_folder}", out=str(tmp_path / "out"), name="p", **parameters)
    data = DatasetRecord.parse(describe(settings.dataset, settings.selection(), tmp_path / "out" / ".cache"))
    return settings, plan_sweep(settings, data)


def test_plan_chunks_times_conv_settings_are_the_chunk_task_runs(tmp_path, idx_folder):
    # 20 images in chunks of 8 -> 3 chunks; strides 1,2 x paddings valid,same x dilations 1,2 -> 8 conv settings.
    settings, plan = planned(tmp_path, idx_folder, chunk_size=8, strides=[1, 2], dilations=[1, 2])
    assert [chunk.bounds for chunk in plan.chunks] == [(0, 8), (8, 16), (16, 20)]
    assert len(plan.conv_settings) == 8 and plan.chunk_task_runs == 8 * 3
    assert plan.largest_chunk == 8
    assert plan.conv_settings == settings.conv_settings and plan.pool_settings == settings.pool_settings
    _, limited = planned(tmp_path, idx_folder, chunk_size=8, strides=[1, 2], dilations=[1, 2], limit=8)
    assert limited.chunk_task_runs == 8 * 1


def test_plan_fingerprints_each_chunk_by_its_content(tmp_path, idx_folder):
    _, plan = planned(tmp_path, idx_folder, chunk_size=8)
    fingerprints = [chunk.fingerprint for chunk in plan.chunks]
    assert len(set(fingerprints)) == 3 and all(len(value) == 64 for value in fingerprints)
    # The same data, planned again (now from the identity index): the same keys.
    _, again = planned(tmp_path, idx_folder, chunk_size=8)
    assert [chunk.fingerprint for chunk in again.chunks] == fingerprints


def test_plan_keeps_only_the_samples_the_selection_has(tmp_path, idx_folder):
    _, plan = planned(tmp_path, idx_folder, samples=[0, 3, 19, 20, 500])
    assert plan.samples == (0, 3, 19) and plan.samples_fingerprint is not None
    _, none = planned(tmp_path, idx_folder, samples=[500])
    assert none.samples == () and none.samples_fingerprint is None


def test_plan_maps_dir_only_with_keep_maps(tmp_path, idx_folder):
    _, plan = planned(tmp_path, idx_folder)
    assert plan.maps_dir(plan.conv_settings[0]) is None
    _, keeping = planned(tmp_path, idx_folder, keep_maps=True)
    conv = keeping.conv_settings[0]
    assert keeping.maps_dir(conv) == str(tmp_path / "out" / "p" / "maps" / conv.label)


def test_plan_refuses_a_kernel_larger_than_the_images(tmp_path, idx_folder):
    with pytest.raises(ValueError, match="impossible settings for 28x28 images"):
        planned(tmp_path, idx_folder, resize=[2])


def test_plan_refuses_ceil_mode_with_images_in_bands(tmp_path, idx_folder):
    # 100 MB computes 3000x3000 images in bands of rows; the row pooler has no ceil mode.
    with pytest.raises(ValueError, match="pool_ceil_mode=True"):
        planned(tmp_path, idx_folder, memory_budget=100, pool_ceil_mode=True, resize=[3000])
