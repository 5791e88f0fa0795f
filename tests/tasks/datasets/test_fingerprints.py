"""Tests for convsweep.tasks.datasets.fingerprints: the documented byte layout, a golden value, bad input."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convsweep.tasks.datasets import fingerprint
from tests.helpers.idx import make_images


def oracle_fingerprint(images, labels=None) -> str:
    """The documented byte layout, hashed literally."""
    hasher = hashlib.sha256(b"convsweep-dataset-fingerprint-v1\n")
    for dim in images.shape:
        hasher.update(int(dim).to_bytes(8, "little", signed=True))
    if labels is None:
        hasher.update(b"\x00")
    else:
        hasher.update(b"\x01")
        for label in labels:
            hasher.update(int(label).to_bytes(8, "little", signed=True))
    for image in images:
        for row in image:
            hasher.update(bytes(int(value) for value in row))
    return hasher.hexdigest()


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    shape=st.tuples(st.integers(0, 4), st.integers(1, 5), st.integers(1, 5)),
    with_labels=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_fingerprint_equals_documented_byte_layout(shape, with_labels, seed):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=shape, dtype=np.uint8)
    labels = rng.integers(0, 10, size=shape[0]) if with_labels else None
    assert fingerprint(images, labels) == oracle_fingerprint(images, labels)


def test_fingerprint_golden_value_is_stable():
    # A literal (sha256sum of the documented bytes, computed outside this code): the
    # fingerprint must not change across versions, runs or machines.
    images = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    assert fingerprint(images, np.array([3, 1])) == ("2a6112e05d556da0158c02b4cde0ab01277bbc364b1d5995224855e5b2ed5261")


def test_fingerprint_changes_with_one_pixel_label_or_shape():
    images = make_images(5)
    labels = np.arange(5)
    base = fingerprint(images, labels)
    one_pixel = images.copy()
    one_pixel[3, 10, 10] ^= 1
    assert fingerprint(one_pixel, labels) != base
    assert fingerprint(images, labels[::-1].copy()) != base
    assert fingerprint(images, None) != base
    assert fingerprint(images.reshape(5, 14, 56), labels) != base  # same bytes, other shape
    assert fingerprint(images, labels.astype(np.uint8)) == base  # label dtype does not matter
    assert fingerprint(np.asfortranarray(images), labels) == base  # memory layout does not matter


@pytest.mark.parametrize(
    ("images", "labels", "error", "message"),
    [
        (np.zeros((2, 3, 3), np.float32), None, TypeError, "images: expected dtype uint8, got float32"),
        (np.zeros((3, 3), np.uint8), None, ValueError, "images: expected shape (n, height, width), got (3, 3)"),
        ([[[0]]], None, TypeError, "images: expected a numpy array, got list"),
        (np.zeros((2, 3, 3), np.uint8), np.zeros(3, int), ValueError, "labels: expected shape (2,)"),
        (np.zeros((2, 3, 3), np.uint8), np.zeros(2), TypeError, "labels: expected integers, got dtype float64"),
    ],
)
def test_fingerprint_bad_input_names_argument(images, labels, error, message):
    with pytest.raises(error) as raised:
        fingerprint(images, labels)
    assert message in str(raised.value)
