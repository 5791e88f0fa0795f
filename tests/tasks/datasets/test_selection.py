"""Tests for convsweep.tasks.datasets.selection: chunks, and slice / class filter / limit against a literal loop."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convsweep.tasks.datasets import fingerprint, iter_chunks, open_dataset


@settings(max_examples=60, deadline=None, derandomize=True)
@given(n=st.integers(0, 200), chunk_size=st.integers(1, 64))
def test_iter_chunks_covers_range_in_order(n, chunk_size):
    chunks = list(iter_chunks(n, chunk_size))
    covered = [i for start, stop in chunks for i in range(start, stop)]
    assert covered == list(range(n))
    assert all(0 < stop - start <= chunk_size for start, stop in chunks)
    assert all(stop - start == chunk_size for start, stop in chunks[:-1])


@pytest.mark.parametrize(
    ("n", "chunk_size", "error", "message"),
    [
        (10, 0, ValueError, "chunk_size=0: must be at least 1"),
        (-1, 5, ValueError, "n=-1: must be at least 0"),
        (10, 2.5, TypeError, "chunk_size: expected an integer, got 2.5"),
    ],
)
def test_iter_chunks_bad_arguments(n, chunk_size, error, message):
    with pytest.raises(error) as raised:
        list(iter_chunks(n, chunk_size))
    assert message in str(raised.value)


def oracle_selection(labels, start, stop, limit, classes):
    """The documented order, written as a literal loop: slice, class filter, limit."""
    lo = 0 if start is None else start
    hi = len(labels) if stop is None else stop
    chosen = []
    for position in range(lo, hi):
        if classes is None or int(labels[position]) in classes:
            chosen.append(position)
    return chosen if limit is None else chosen[:limit]


@settings(max_examples=80, deadline=None, derandomize=True)
@given(
    split=st.sampled_from(["train", "test", "all"]),
    start=st.none() | st.integers(0, 49),
    stop=st.none() | st.integers(1, 50),
    limit=st.none() | st.integers(1, 60),
    classes=st.none() | st.sets(st.integers(0, 9), min_size=1, max_size=4),
)
def test_selection_matches_literal_loop(selection_folder, split, start, stop, limit, classes):
    folder, (train_images, train_labels), (test_images, test_labels) = selection_folder
    images = {"train": train_images, "test": test_images, "all": np.concatenate([train_images, test_images])}[split]
    labels = {"train": train_labels, "test": test_labels, "all": np.concatenate([train_labels, test_labels])}[split]
    lo, hi = (start or 0), (len(labels) if stop is None else stop)
    expected = oracle_selection(labels, start, stop, limit, classes) if lo < hi <= len(labels) else []
    arguments = dict(split=split, start=start, stop=stop, limit=limit, classes=sorted(classes) if classes else None)
    if not expected:
        with pytest.raises(ValueError):
            open_dataset(f"idx:{folder}", **arguments)
        return
    view = open_dataset(f"idx:{folder}", **arguments)
    assert view.indices.tolist() == expected
    np.testing.assert_array_equal(view.labels, labels[expected])
    np.testing.assert_array_equal(view.read(0, view.n), images[expected])
    assert view.fingerprint == fingerprint(images[expected], labels[expected])


def test_selection_classes_by_name_case_insensitive_or_number(keras_home, idx_data):
    _, (_, test_labels) = idx_data
    by_name = open_dataset("fashion_mnist", split="test", classes=["sandal", "Ankle boot"])
    by_text = open_dataset("fashion_mnist", split="test", classes="5, 9")
    by_number = open_dataset("fashion_mnist", split="test", classes=[5, np.int64(9)])
    expected = np.flatnonzero(np.isin(test_labels, [5, 9])).tolist()
    assert expected  # the fixture has both classes
    for view in (by_name, by_text, by_number):
        assert view.indices.tolist() == expected


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        (dict(split="validation"), ValueError, "split: unknown split 'validation'; expected one of train, test, all"),
        (dict(split=None), TypeError, "split: expected one of train, test, all, got NoneType"),
        (
            dict(start=30),
            ValueError,
            "start=30 is out of range: {spec} split=train has 30 images (start must be below 30)",
        ),
        (
            dict(stop=31),
            ValueError,
            "stop=31 is out of range: {spec} split=train has 30 images (stop must be at most 30)",
        ),
        (
            dict(start=5, stop=5),
            ValueError,
            "start=5, stop=5 selects no image of {spec} split=train (need start < stop)",
        ),
        (dict(start=-1), ValueError, "start=-1: must be at least 0"),
        (dict(start="3"), TypeError, "start: expected an integer, got '3'"),
        (dict(limit=0), ValueError, "limit=0: must be at least 1"),
        (dict(stop=True), TypeError, "stop: expected an integer, got True"),
        (
            dict(start=0, stop=1, classes=[3]),
            ValueError,
            "classes=[3] matches no image of {spec} split=train in positions 0:1",
        ),
        (dict(classes=[10]), ValueError, "classes=[10] matches no image of {spec} split=train in positions 0:30"),
        (
            dict(classes="Sandal"),
            ValueError,
            "classes: 'Sandal' is not a class of {spec} split=train (no class names; give label numbers)",
        ),
        (dict(classes=[]), ValueError, "classes=[] is empty; pass None to keep every class"),
        (dict(classes=[1.5]), TypeError, "classes: 1.5 is neither a label number nor a class name"),
        (dict(classes=object), TypeError, "classes: expected label numbers or class names, got type"),
    ],
)
def test_selection_bad_arguments_name_the_value(selection_folder, arguments, error, message):
    folder = selection_folder[0]
    with pytest.raises(error) as raised:
        open_dataset(f"idx:{folder}", **{"split": "train", **arguments})
    assert message.format(spec=f"idx:{folder}") in str(raised.value)


@pytest.mark.parametrize(
    ("classes", "message"),
    [
        ("Sandle", "classes: 'Sandle' is not a class of fashion_mnist split=test"),
        ([10], "classes: 10 is not a label of fashion_mnist split=test"),
    ],
)
def test_selection_unknown_class_lists_the_classes(keras_home, classes, message):
    with pytest.raises(ValueError) as error:
        open_dataset("fashion_mnist", classes=classes)
    assert str(error.value) == (
        f"{message} (0=T-shirt/top, 1=Trouser, 2=Pullover, 3=Dress, 4=Coat, 5=Sandal, 6=Shirt, "
        f"7=Sneaker, 8=Bag, 9=Ankle boot)"
    )
