"""Tests for convsweep.tasks.datasets.view: reading a view in chunks agrees with read_images."""

from __future__ import annotations

import numpy as np
import pytest

from convsweep.tasks.datasets import fingerprint, iter_chunks, open_dataset, read_images


def test_view_read_chunks_and_load_agree(selection_folder):
    folder = selection_folder[0]
    view = open_dataset(f"idx:{folder}", split="all", start=10, stop=45, classes=[1, 4, 7])
    data = read_images(f"idx:{folder}", split="all", start=10, stop=45, classes=[1, 4, 7])
    chunks = list(view.iter_chunks(4))
    assert [(start, stop) for start, stop, _ in chunks] == list(iter_chunks(view.n, 4))
    np.testing.assert_array_equal(np.concatenate([images for _, _, images in chunks]), data.images)
    assert data.fingerprint == view.fingerprint == fingerprint(data.images, data.labels)
    block = view.read(1, 3)
    assert block.flags.writeable and block.flags.owndata
    block[:] = 0  # a copy: the memoised arrays are untouched
    np.testing.assert_array_equal(view.read(1, 3), data.images[1:3])
    with pytest.raises(ValueError) as error:
        view.read(2, view.n + 1)
    assert str(error.value) == (
        f"start=2, stop={view.n + 1}: out of range for a selection of {view.n} "
        f"images (need 0 <= start <= stop <= {view.n})"
    )
