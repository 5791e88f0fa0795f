"""The chunk statistics: summarize per chunk, merge_summaries over chunks == numpy over the whole."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.compute import merge_summaries, summarize


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
