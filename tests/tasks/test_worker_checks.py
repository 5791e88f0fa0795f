"""A worker refuses a chunk whose pixels are not the key's, or a flow whose code is not its own."""

from __future__ import annotations

import numpy as np
import pytest

from tasks import worker_checks
from tasks.datasets.identity_index import part_fingerprint
from tasks.model.records import DatasetRecord
from tasks.worker_checks import ChunkContentMismatch, check_chunk_content

DATASET = DatasetRecord.parse(
    dict(
        spec="idx:/shared/data/mnist",
        split="test",
        selection={"split": "test"},
        n=6,
        height=5,
        width=4,
        fingerprint="f",
        source="test data",
    )
)


def images_and_labels(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(3, 5, 4), dtype=np.uint8), rng.integers(0, 10, size=3).astype(np.int64)


def test_same_pixels_and_labels_pass():
    images, labels = images_and_labels(1)
    check_chunk_content(images, labels, dataset=DATASET, chunk=(3, 6), expected=part_fingerprint(images, labels))


@pytest.mark.parametrize("change", ["one pixel", "one label", "no labels"])
def test_other_data_is_refused_with_one_line_naming_host_path_and_both_fingerprints(monkeypatch, change):
    images, labels = images_and_labels(1)
    expected = part_fingerprint(images, labels)
    other_images, other_labels = images.copy(), labels.copy()
    if change == "one pixel":
        other_images[2, 4, 3] ^= 1
    elif change == "one label":
        other_labels[0] = (other_labels[0] + 1) % 10
    else:
        other_labels = None
    monkeypatch.setattr(worker_checks.socket, "gethostname", lambda: "host-b")
    with pytest.raises(ChunkContentMismatch) as raised:
        check_chunk_content(other_images, other_labels, dataset=DATASET, chunk=(3, 6), expected=expected)
    message = str(raised.value)
    assert "\n" not in message
    assert "host-b" in message and "/shared/data/mnist" in message and "3-6" in message
    assert expected in message and part_fingerprint(other_images, other_labels) in message
