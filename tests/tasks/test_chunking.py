"""Chunk sizes from the memory budget (convsweep.tasks.plan.chunking): pure, deterministic, bounded."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convsweep.tasks.model import ConvSetting, PoolSetting, parse_parameters
from convsweep.tasks.plan.chunking import MB, TASK_OVERHEAD_BYTES, band_rows, image_bytes, images_per_chunk, plan_chunks

SOBEL = {"sobel_h": [[1, 2, 1], [0, 0, 0], [-1, -2, -1]], "sobel_v": [[1, 0, -1], [2, 0, -2], [1, 0, -1]]}
VALID = ConvSetting(resize=None, stride=(1, 1), padding="valid", pad_mode="zeros", dilation=(1, 1))
MAX2 = PoolSetting("max", (2, 2), (2, 2), "valid")


def test_image_bytes_of_one_kernel_and_max_pooling_by_hand():
    # 100x100 uint8 input (10,000 B); one 98x98 float32 map (38,416 B); conv2d's padded copy is
    # below its 512 KB working set; max pooling: the 98x98 float32 map as canvas + the 49x49 result.
    expected = 10_000 + 4 * 98 * 98 + (4 * 98 * 98 + 4 * 49 * 49)
    assert image_bytes((100, 100), [VALID], {"box": [[1] * 3] * 3}, [MAX2]) == expected == 96_436


def test_images_per_chunk_is_what_fits_the_budget_after_the_task_overhead():
    per_image = image_bytes((100, 100), [VALID], SOBEL, [MAX2])
    expected = (384 * MB - TASK_OVERHEAD_BYTES - 2 * 100 * 100) // per_image
    assert images_per_chunk((100, 100), [VALID], SOBEL, [MAX2], memory_budget_mb=384) == expected


def test_default_sweep_on_mnist_sized_images_keeps_chunks_of_chunk_size():
    sweep = parse_parameters()
    chunks = plan_chunks(
        25_000,
        (28, 28),
        sweep.conv_settings,
        sweep.kernel_matrices,
        sweep.pool_settings,
        memory_budget_mb=sweep.memory_budget,
        chunk_size=sweep.chunk_size,
    )
    assert chunks == [(0, 10_000), (10_000, 20_000), (20_000, 25_000)]


def test_default_sweep_on_megapixel_images_holds_tens_of_images_per_chunk():
    sweep = parse_parameters()
    per_chunk = images_per_chunk(
        (1024, 1024), sweep.conv_settings, sweep.kernel_matrices, sweep.pool_settings, memory_budget_mb=384
    )
    # ~26 MB per image: 1 MB input, 3 float32 maps (12 MB), avg pooling's float64 copies (~12.5 MB)
    assert 5 <= per_chunk <= 12
    assert image_bytes((1024, 1024), sweep.conv_settings, sweep.kernel_matrices, sweep.pool_settings) * per_chunk <= (
        384 * MB
    )


@settings(max_examples=100, deadline=None)
@given(
    n=st.integers(1, 500),
    side=st.integers(8, 3000),
    budget=st.integers(64, 2048),
    chunk_size=st.integers(1, 10_000),
)
def test_plan_chunks_cover_the_selection_in_equal_chunks_within_chunk_size(n, side, budget, chunk_size):
    chunks = plan_chunks(n, (side, side), [VALID], SOBEL, [MAX2], memory_budget_mb=budget, chunk_size=chunk_size)
    assert chunks[0][0] == 0 and chunks[-1][1] == n
    assert all(stop == next_start for (_, stop), (next_start, _) in zip(chunks, chunks[1:], strict=False))
    lengths = {stop - start for start, stop in chunks[:-1]}
    assert len(lengths) <= 1 and all(0 < stop - start <= chunk_size for start, stop in chunks)
    again = plan_chunks(n, (side, side), [VALID], SOBEL, [MAX2], memory_budget_mb=budget, chunk_size=chunk_size)
    assert again == chunks  # deterministic: cache keys are built on these


def test_band_rows_is_none_when_one_image_fits_whole():
    assert band_rows((1024, 1024), VALID, SOBEL, [MAX2], memory_budget_mb=384) is None


def test_band_rows_for_a_huge_image_fit_the_budget():
    rows = band_rows((10_000, 10_000), VALID, SOBEL, [MAX2], memory_budget_mb=384)
    assert rows is not None and 16 <= rows < 10_000


def test_plan_chunks_refuses_a_budget_too_small_for_one_band_before_any_work():
    with pytest.raises(ValueError, match=r"memory_budget=64 MB is too small for 20000x20000 images .* at least \d+ MB"):
        plan_chunks(1, (20_000, 20_000), [VALID], SOBEL, [MAX2], memory_budget_mb=64, chunk_size=10)


def test_memory_budget_is_a_sweep_parameter_with_a_default():
    assert parse_parameters().memory_budget == 384
    assert parse_parameters(memory_budget="512").memory_budget == 512
    with pytest.raises(ValueError, match="memory_budget"):
        parse_parameters(memory_budget=0)


def test_plan_chunks_refuses_ceil_mode_where_images_need_bands():
    settings = parse_parameters(dataset="sample", strides=[1], paddings=["valid"], pool_ceil_mode=True)
    plan = dict(
        conv_settings=settings.conv_settings,
        kernels=settings.kernel_matrices,
        pools=settings.pool_settings,
        chunk_size=10_000,
    )
    assert plan_chunks(100, (28, 28), memory_budget_mb=384, **plan) == [(0, 100)]  # whole images: fine
    with pytest.raises(ValueError, match="pool_ceil_mode=True with 3000x3000 images"):
        plan_chunks(1, (3000, 3000), memory_budget_mb=100, **plan)
