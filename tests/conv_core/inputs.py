"""Inputs shared by the conv_core property tests: dtypes, seeded random images, hypothesis settings."""

import numpy as np
from hypothesis import settings

PROPERTY = settings(max_examples=500, deadline=None, derandomize=True, database=None)

DTYPES = ["uint8", "int16", "float32", "float64"]


def random_images(rng, dtype, shape):
    if dtype == "uint8":
        return rng.integers(0, 256, shape).astype(np.uint8)
    if dtype == "int16":
        return rng.integers(-32768, 32768, shape).astype(np.int16)
    return rng.uniform(-100, 100, shape).astype(dtype)
