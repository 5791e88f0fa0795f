"""The chunk statistics: summarize per chunk, merge_summaries over chunks == numpy over the whole."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from convsweep.conv_core.stats import merge_summaries, summarize


def whole(values: np.ndarray) -> dict[str, float]:
    flat = values.astype(np.float64).ravel()
    return {
        "count": flat.size,
        "mean": flat.mean(),
        "std": flat.std(),
        "min": flat.min(),
        "max": flat.max(),
        "zeros": int(np.count_nonzero(flat == 0)),
    }


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=8),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    scale=st.sampled_from([1.0, 255.0, 1e4]),
    zero_share=st.floats(min_value=0.0, max_value=0.9),
)
def test_merge_summaries_equals_numpy_over_the_concatenated_chunks(sizes, seed, scale, zero_share):
    rng = np.random.default_rng(seed)
    chunks = []
    for size in sizes:
        values = (rng.standard_normal((size, 3, 2)) * scale).astype(np.float32)
        values[rng.random(values.shape) < zero_share] = 0
        chunks.append(values)
    merged = merge_summaries([summarize(chunk) for chunk in chunks])
    expected = whole(np.concatenate(chunks))
    assert merged["count"] == expected["count"]
    assert merged["zeros"] == expected["zeros"]
    assert merged["min"] == expected["min"] and merged["max"] == expected["max"]
    tolerance = 1e-12 * scale * max(1.0, float(np.sqrt(expected["count"])))
    assert abs(merged["mean"] - expected["mean"]) <= tolerance
    assert abs(np.sqrt(merged["m2"] / merged["count"]) - expected["std"]) <= tolerance


def test_merge_summaries_single_chunk_is_unchanged():
    part = summarize(np.array([[0.0, 1.0], [2.0, 3.0]], np.float32))
    assert merge_summaries([part]) == part
    assert part == {"count": 4, "mean": 1.5, "m2": 5.0, "min": 0.0, "max": 3.0, "zeros": 1}


def test_merge_summaries_order_of_chunks_does_not_matter_beyond_rounding():
    rng = np.random.default_rng(7)
    parts = [summarize(rng.standard_normal(50).astype(np.float32)) for _ in range(5)]
    forward, backward = merge_summaries(parts), merge_summaries(parts[::-1])
    assert forward["count"] == backward["count"] and forward["zeros"] == backward["zeros"]
    assert np.isclose(forward["mean"], backward["mean"], rtol=0, atol=1e-12)
    assert np.isclose(forward["m2"], backward["m2"], rtol=1e-12)


# --- bounded memory: statistics in blocks, images in bands of rows --------------------------

import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402
from unittest import mock  # noqa: E402

import convsweep.conv_core.stats as stats  # noqa: E402
import convsweep.tasks.chunk.maps as compute  # noqa: E402
from convsweep.conv_core.stats import RunningSummary  # noqa: E402
from convsweep.tasks.chunk.maps import chunk_record  # noqa: E402
from convsweep.tasks.model import ConvSetting, PoolSetting  # noqa: E402


@settings(max_examples=100, deadline=None)
@given(
    pieces=st.lists(st.integers(0, 30), min_size=1, max_size=10),
    block=st.integers(1, 25),
    seed=st.integers(0, 2**32 - 1),
)
def test_running_summary_depends_on_the_values_not_on_how_they_are_cut(pieces, block, seed):
    values = np.random.default_rng(seed).normal(size=sum(pieces) + 1).astype(np.float32)
    with mock.patch.object(stats, "STATS_BLOCK", block):
        at_once = RunningSummary()
        at_once.add(values)
        cut = RunningSummary()
        position = 0
        for length in [*pieces, 1]:
            cut.add(values[position : position + length])
            position += length
        assert cut.result() == at_once.result()


def test_running_summary_of_one_block_is_summarize():
    values = np.arange(12, dtype=np.float32).reshape(3, 4) - 5
    running = RunningSummary()
    running.add(values[:1])
    running.add(values[1:])
    assert running.result() == summarize(values)


def test_running_summary_of_several_blocks_is_close_to_numpy():
    values = np.random.default_rng(3).normal(2.0, 3.0, size=1000)
    with mock.patch.object(stats, "STATS_BLOCK", 64):
        running = RunningSummary()
        running.add(values)
        result = running.result()
    assert result["count"] == 1000
    assert abs(result["mean"] - values.mean()) < 1e-12
    assert abs(result["m2"] / 1000 - values.var()) < 1e-10


KERNELS = {
    "sobel_h": [[1, 2, 1], [0, 0, 0], [-1, -2, -1]],
    "sobel_v": [[1, 0, -1], [2, 0, -2], [1, 0, -1]],
    "blur5": [[0.04] * 5] * 5,  # not an integer kernel: float64 arithmetic inside conv2d
}


def _fits(pool: PoolSetting, map_size: tuple[int, int]) -> bool:
    try:
        pool.output(map_size)
    except ValueError:
        return False
    return True


@st.composite
def chunk_cases(draw):
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = draw(st.sampled_from(["valid", "same", "full", (1, 0, 2, 1)]))
    pad_mode = draw(st.sampled_from(["zeros", "reflect", "replicate"]))
    height, width = draw(st.integers(12, 24)), draw(st.integers(12, 24))
    resize = draw(st.sampled_from([None, (15, 13)]))
    conv = ConvSetting(resize=resize, stride=stride, padding=padding, pad_mode=pad_mode, dilation=dilation)
    # Every kernel's map (they differ in size: 3x3 and 5x5 kernels); a pool must fit them all,
    # as a sweep checks before it runs (SweepParameters.check_shapes).
    map_sizes = {conv.output(resize or (height, width), np.shape(matrix))[1] for matrix in KERNELS.values()}
    pools = [PoolSetting("none", None, None, None)]
    for _ in range(draw(st.integers(1, 3))):
        size = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        pool_stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        pool_padding = draw(st.sampled_from(["valid", "same", (size[0] // 2, 0, 0, size[1] // 2)]))
        pool = PoolSetting(draw(st.sampled_from(["max", "avg"])), size, pool_stride, pool_padding)
        if all(_fits(pool, map_size) for map_size in map_sizes):
            pools.append(pool)
    images = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).integers(
        0, 256, size=(draw(st.integers(1, 3)), height, width), dtype=np.uint8
    )
    return images, conv, list(dict.fromkeys(pools)), draw(st.integers(1, 4)), draw(st.integers(5, 200))


@settings(max_examples=60, deadline=None)
@given(chunk_cases())
def test_chunk_record_in_bands_equals_the_whole_chunk_with_its_maps(case):
    images, conv, pools, band, block = case
    plain_conv, plain_pools = conv, pools
    with tempfile.TemporaryDirectory() as folder, mock.patch.object(stats, "STATS_BLOCK", block):
        whole = chunk_record(
            images, conv=plain_conv, kernels=KERNELS, pools=plain_pools, chunk=(0, len(images)), maps_dir=f"{folder}/a"
        )
        banded = chunk_record(
            images,
            conv=plain_conv,
            kernels=KERNELS,
            pools=plain_pools,
            chunk=(0, len(images)),
            maps_dir=f"{folder}/b",
            band=band,
        )
        assert banded == whole
        for name in ("sobel_h", "sobel_v", "blur5", "sobel"):
            written = Path(folder, "b", name, f"0000000-{len(images):07d}.npy").read_bytes()
            assert written == Path(folder, "a", name, f"0000000-{len(images):07d}.npy").read_bytes()
    assert set(whole.maps) == {"sobel_h", "sobel_v", "blur5", "sobel"}


def test_chunk_record_in_bands_of_one_row_on_an_analytic_image():
    # A vertical step at column 4: sobel_v (p[x] - p[x + 2]) * 4 is -1020 at conv columns 2 and 3, else 0.
    images = np.zeros((1, 8, 8), np.uint8)
    images[:, :, 4:] = 255
    conv = ConvSetting(resize=None, stride=(1, 1), padding="valid", pad_mode="zeros", dilation=(1, 1))
    pools = [PoolSetting("max", (2, 2), (2, 2), "valid")]
    record = chunk_record(images, conv=conv, kernels=KERNELS, pools=pools, chunk=(0, 1), band=1)
    stats = record.maps["sobel_v"]["max2-s2-pvalid"]
    assert stats.conv_shape == (6, 6)
    assert stats.pool_shape == (3, 3)
    # 2x2 max pooling: columns (0, 1) -> 0, (2, 3) -> -1020, (4, 5) -> 0 on each of the 3 pooled rows
    assert (stats.min, stats.max, stats.zeros, stats.count) == (-1020.0, 0.0, 6, 9)
    assert stats.mean == -1020.0 / 3


# --- channels: compute_maps and stream_maps with a channel axis ------------------------------

import pytest  # noqa: E402

from convsweep import conv_core  # noqa: E402


def _colour_case():
    rng = np.random.default_rng(18)
    images = rng.integers(0, 256, (2, 17, 15, 3), dtype=np.uint8)
    conv = ConvSetting(resize=(14, 13), stride=(2, 1), padding="same", pad_mode="reflect", dilation=(1, 2))
    return images, conv


def test_compute_maps_each_is_the_grey_maps_of_every_channel():
    images, conv = _colour_case()
    resized, maps = compute.compute_maps(images, conv=conv, kernels=KERNELS, channels="each")
    assert resized.shape == (2, 14, 13, 3)
    for channel in range(3):
        grey_resized, grey = compute.compute_maps(
            np.ascontiguousarray(images[..., channel]), conv=conv, kernels=KERNELS
        )
        np.testing.assert_array_equal(resized[..., channel], grey_resized)
        for name in grey:
            np.testing.assert_array_equal(maps[name][..., channel], grey[name])


def test_compute_maps_sum_sums_the_channel_responses_then_takes_the_magnitude():
    images, conv = _colour_case()
    _, each = compute.compute_maps(images, conv=conv, kernels=KERNELS, channels="each")
    _, summed = compute.compute_maps(images, conv=conv, kernels=KERNELS, channels="sum")
    for name in ("sobel_h", "sobel_v"):  # integer kernels on uint8: exact either way
        np.testing.assert_array_equal(summed[name], each[name].sum(axis=-1))
    np.testing.assert_array_equal(summed["sobel"], conv_core.sobel_magnitude(summed["sobel_h"], summed["sobel_v"]))


@pytest.mark.parametrize("channels", ["each", "sum"])
def test_stream_maps_with_channels_equal_the_whole_image(channels):
    images, conv = _colour_case()
    pools = [PoolSetting("max", (2, 2), (2, 2), "valid"), PoolSetting("avg", (3, 3), (2, 2), "same")]
    resized, maps = compute.compute_maps(images[:1], conv=conv, kernels=KERNELS, channels=channels)
    pieces: dict = {}
    for name, label, rows in compute.stream_maps(
        resized[0], setting=conv, kernels=KERNELS, pools=pools, band=3, channels=channels
    ):
        pieces.setdefault((name, label), []).append(rows)
    for name, whole in maps.items():
        np.testing.assert_array_equal(np.concatenate(pieces[(name, None)]), whole[0])
        for pool in pools:
            want = conv_core.pool2d(
                whole[0],
                pool.size,
                stride=pool.stride,
                mode=pool.mode,
                padding=pool.padding,
                channels_last=channels == "each",
            )
            np.testing.assert_array_equal(np.concatenate(pieces[(name, pool.label)]), want)
