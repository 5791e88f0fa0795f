"""convsweep.tasks.measures: shift sensitivity on analytic images, where the answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from convsweep.conv_core import kernels as kernel_library
from convsweep.tasks.analysis.shift import ShiftRecord, pool_jump, shift_sensitivity, shift_subset
from convsweep.tasks.model import ConvSetting, PoolSetting

IDENTITY = {"identity": kernel_library.get("identity").tolist()}
SOBEL = {name: kernel_library.get(name).tolist() for name in ("sobel_h", "sobel_v")}
NO_POOL = PoolSetting("none", None, None, None)
MAX2 = PoolSetting("max", (2, 2), (2, 2), "valid")
AVG2 = PoolSetting("avg", (2, 2), (2, 2), "valid")


def _conv(stride: int = 1, padding: str = "same") -> ConvSetting:
    return ConvSetting(resize=None, stride=(stride, stride), padding=padding, pad_mode="zeros", dilation=(1, 1))


def _impulses(positions: list[tuple[int, int]], size: int = 12) -> np.ndarray:
    images = np.zeros((len(positions), size, size), np.uint8)
    for index, (row, col) in enumerate(positions):
        images[index, row, col] = 200
    return images


def test_shift_inside_a_max_pool_window_keeping_the_maximum_changes_nothing():
    # Impulses at the top-left cell of a 2x2 window: one pixel right or down stays in the window.
    images = _impulses([(2, 2), (4, 6), (8, 0)])
    stats = shift_sensitivity(images, conv=_conv(), kernels=IDENTITY, pools=[MAX2, AVG2])["identity"]
    assert stats[MAX2.label].right == 0.0
    assert stats[MAX2.label].down == 0.0
    # Average pooling keeps the sum of the window, also unchanged; the unpooled map moves.
    assert stats[AVG2.label].right == 0.0


def test_shift_across_a_max_pool_window_edge_changes_the_map():
    # Impulses at the right cell of a window: one pixel right moves them into the next window.
    images = _impulses([(2, 3), (4, 7)])
    stats = shift_sensitivity(images, conv=_conv(), kernels=IDENTITY, pools=[MAX2])["identity"][MAX2.label]
    assert stats.right == pytest.approx(np.sqrt(2))  # the maximum left one cell and arrived in the next
    assert stats.down == 0.0


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_shift_by_the_jump_of_an_interior_pattern_is_exact(stride, padding):
    rng = np.random.default_rng(5)
    images = np.zeros((4, 40, 40), np.uint8)
    images[:, 12:24, 10:22] = rng.integers(1, 256, size=(4, 12, 12))  # far from every edge
    pools = [NO_POOL, MAX2, AVG2]
    result = shift_sensitivity(images, conv=_conv(stride, padding), kernels=SOBEL, pools=pools)
    assert set(result) == {"sobel_h", "sobel_v", "sobel"}
    for by_pool in result.values():
        for pool in pools:
            assert by_pool[pool.label].jump == 0.0
            assert by_pool[pool.label].jump_shift == pool_jump(_conv(stride, padding), pool)
            assert by_pool[pool.label].right > 0.0  # a 1 px shift is not a jump: the maps change


def test_identity_kernel_without_pool_equals_the_images_own_relative_change():
    rng = np.random.default_rng(6)
    images = rng.integers(0, 256, size=(5, 9, 11), dtype=np.uint8)
    stats = shift_sensitivity(images, conv=_conv(), kernels=IDENTITY, pools=[NO_POOL])["identity"][NO_POOL.label]
    pixels = images.astype(np.float64)
    right = np.zeros_like(pixels)
    right[:, :, 1:] = pixels[:, :, :-1]
    down = np.zeros_like(pixels)
    down[:, 1:, :] = pixels[:, :-1, :]
    norms = np.sqrt((pixels**2).sum(axis=(1, 2)))
    assert stats.right == pytest.approx(np.mean(np.sqrt(((pixels - right) ** 2).sum(axis=(1, 2))) / norms), abs=1e-6)
    assert stats.down == pytest.approx(np.mean(np.sqrt(((pixels - down) ** 2).sum(axis=(1, 2))) / norms), abs=1e-6)
    assert stats.measured == 5


def test_all_zero_images_are_left_out_of_the_mean():
    images = np.zeros((3, 8, 8), np.uint8)
    images[1, 2, 2] = 50
    stats = shift_sensitivity(images, conv=_conv(), kernels=IDENTITY, pools=[MAX2])["identity"][MAX2.label]
    assert stats.measured == 1 and stats.right == 0.0


def test_result_is_a_record_with_plain_json():
    images = _impulses([(2, 2)])
    maps = shift_sensitivity(images, conv=_conv(2), kernels=IDENTITY, pools=[MAX2])
    record = ShiftRecord(conv=_conv(2).label, images=1, maps=maps)
    assert ShiftRecord.parse(record.to_json()) == record


def test_shift_subset_is_seeded_sorted_and_bounded():
    first = shift_subset(1000, 10)
    assert first.tolist() == sorted(first.tolist()) and len(set(first.tolist())) == 10
    np.testing.assert_array_equal(first, shift_subset(1000, 10))
    assert shift_subset(5, 10).tolist() == [0, 1, 2, 3, 4]


def test_add_measures_puts_each_records_values_in_its_rows():
    from convsweep.tasks.analysis.probe import ProbeRecord
    from convsweep.tasks.reporting.rows import add_measures

    conv = _conv(2, "valid")
    maps = shift_sensitivity(_impulses([(2, 2), (5, 7)]), conv=conv, kernels=IDENTITY, pools=[MAX2, AVG2])
    shift = ShiftRecord(conv=conv.label, images=2, maps=maps)
    probes = [
        ProbeRecord(conv=conv.label, pool=pool.label, accuracy=accuracy, features=9, n_train=5, n_test=2,
                    iterations=3, converged=True)
        for pool, accuracy in ((MAX2, 0.75), (AVG2, 0.5))
    ]  # fmt: skip
    rows = [
        dict(resize="native", stride="2", padding="valid", pad_mode="zeros", dilation="1", map="identity",
             pool_mode=pool.mode, pool_size="2", pool_stride="2", pool_padding="valid", pool_formula="")
        for pool in (MAX2, AVG2)
    ]  # fmt: skip
    measured = add_measures(rows, shift_records=[shift.to_json()], probe_records=probes)
    assert [row["probe_accuracy"] for row in measured] == [0.75, 0.5]
    assert measured[0]["shift_right"] == maps["identity"][MAX2.label].right
    assert measured[1]["shift_jump_px"] == "4"
    assert "probe_accuracy" not in add_measures(rows, shift_records=[shift])[0]


def test_add_measures_probe_once_per_configuration_on_its_magnitude_row():
    from convsweep.tasks.analysis.probe import ProbeRecord
    from convsweep.tasks.reporting.rows import add_measures

    conv = _conv(1, "valid")
    probes = [
        ProbeRecord(conv=conv.label, pool=pool.label, accuracy=accuracy, features=9, n_train=300, n_test=300,
                    iterations=3, converged=True)
        for pool, accuracy in ((MAX2, 0.75), (AVG2, 0.5))
    ]  # fmt: skip
    rows = [
        dict(resize="native", stride="1", padding="valid", pad_mode="zeros", dilation="1", map=name, map_kind=kind,
             pool_mode=pool.mode, pool_size="2", pool_stride="2", pool_padding="valid", pool_formula="")
        for pool in (MAX2, AVG2)
        for name, kind in (("sobel_h", "kernel"), ("sobel_v", "kernel"), ("sobel", "magnitude"))
    ]  # fmt: skip
    measured = add_measures(rows, probe_records=probes)
    # The probe is fitted on all three maps: one figure a configuration, on its magnitude row only.
    assert [(row["map"], row["probe_accuracy"]) for row in measured] == [
        ("sobel_h", None), ("sobel_v", None), ("sobel", 0.75), ("sobel_h", None), ("sobel_v", None), ("sobel", 0.5),
    ]  # fmt: skip
    assert [row["probe_test_images"] for row in measured if row["map"] == "sobel"] == [300, 300]
    assert all(row["probe_features"] is None for row in measured if row["map"] != "sobel")
