"""The identity index: an unchanged selection is described without opening it; parts keep their
fingerprints when images are appended after them."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import convsweep.tasks.datasets as datasets
from convsweep.tasks.datasets import identity_index
from convsweep.tasks.datasets.identity_index import describe, index_path, part_fingerprint, part_fingerprints
from tests.helpers.idx import make_split, write_idx_folder

SELECTION = {"split": "test", "start": None, "stop": None, "limit": None, "classes": None}


def refuse_to_open(*args, **kwargs):
    raise AssertionError("the selection was opened although its files did not change")


def test_describe_unchanged_files_comes_from_the_index_without_opening(tmp_path, idx_folder_gz, monkeypatch):
    spec = f"idx:{idx_folder_gz}"
    first = describe(spec, SELECTION, tmp_path / "cache")
    assert first["fingerprint"] == datasets.open_dataset(spec, split="test").fingerprint
    monkeypatch.setattr(identity_index, "open_dataset", refuse_to_open)
    assert describe(spec, SELECTION, tmp_path / "cache") == first


def test_describe_changed_file_is_read_again(tmp_path, idx_folder_gz, idx_data):
    spec = f"idx:{idx_folder_gz}"
    first = describe(spec, SELECTION, tmp_path / "cache")
    images, labels = idx_data[1]
    changed = images.copy()
    changed[3, 4, 5] ^= 1
    write_idx_folder(idx_folder_gz, test=(changed, labels))
    datasets.clear_caches()
    second = describe(spec, SELECTION, tmp_path / "cache")
    assert second["fingerprint"] != first["fingerprint"]
    assert second["fingerprint"] == datasets.read_images(spec, split="test").fingerprint


def test_describe_unreadable_index_is_an_empty_index(tmp_path, idx_folder_gz):
    spec = f"idx:{idx_folder_gz}"
    path = index_path(tmp_path / "cache")
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    record = describe(spec, SELECTION, tmp_path / "cache")
    assert record["n"] == 8
    assert describe(spec, SELECTION, tmp_path / "cache") == record  # and the index was rewritten


def test_part_fingerprints_keep_old_chunks_when_images_are_appended(tmp_path):
    folder = tmp_path / "idx"
    images, labels = make_split(30, seed=5)
    write_idx_folder(folder, test=(images[:24], labels[:24]), gz=False)
    spec, cache = f"idx:{folder}", tmp_path / "cache"
    record = describe(spec, SELECTION, cache)
    before, samples_before = part_fingerprints(record, chunks=[[0, 12], [12, 24]], samples=[0, 2], index_dir=cache)
    assert before[0] == part_fingerprint(images[:12], labels[:12].astype(np.int64))

    write_idx_folder(folder, test=(images, labels), gz=False)  # 6 images appended
    datasets.clear_caches()
    grown = describe(spec, SELECTION, cache)
    assert grown["n"] == 30 and grown["fingerprint"] != record["fingerprint"]
    after, samples_after = part_fingerprints(
        grown, chunks=[[0, 12], [12, 24], [24, 30]], samples=[0, 2], index_dir=cache
    )
    assert after[:2] == before and samples_after == samples_before
    assert after[2] == part_fingerprint(images[24:], labels[24:])


def test_part_fingerprint_depends_on_pixels_and_labels_not_position():
    images, labels = make_split(4, seed=9)
    reference = part_fingerprint(images, labels)
    assert part_fingerprint(images.copy(), labels.astype(np.int64)) == reference
    assert part_fingerprint(images, (labels + 1) % 10) != reference
    changed = images.copy()
    changed[0, 0, 0] ^= 1
    assert part_fingerprint(changed, labels) != reference


def test_describe_from_the_index_does_not_import_keras(tmp_path, keras_home):
    kind = "fashion_mnist"
    cache = tmp_path / "cache"
    for path in keras_home.rglob("*.gz"):  # files older than the 2 s racy window: identity by stat alone
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns - 60 * 10**9))
    describe(kind, SELECTION, cache)  # fills the index (this one imports Keras)
    code = (
        "import sys\nfrom convsweep.tasks.datasets.identity_index import describe\n"
        f"record = describe({kind!r}, {SELECTION!r}, {str(cache)!r})\n"
        "sys.exit(('keras' in sys.modules) * 3 + (record['n'] != 8))"
    )
    result = subprocess.run([sys.executable, "-c", code], env={**os.environ, "KERAS_HOME": str(keras_home)})
    assert result.returncode == 0


@pytest.mark.parametrize("shape", [(3, 5, 4), (2, 6, 7, 3), (1, 2, 2)])
def test_streamed_part_fingerprint_equals_the_stacked_one(shape):
    rng = np.random.default_rng(7)
    images = rng.integers(0, 256, shape, dtype=np.uint8)
    labels = rng.integers(0, 10, shape[0])
    for given in (labels, None):
        streamed = identity_index.streamed_part_fingerprint(iter(list(images)), count=len(images), labels=given)
        assert streamed == identity_index.part_fingerprint(images, given)
    # a different pixel anywhere changes it
    changed = images.copy()
    changed[-1].flat[-1] ^= 1
    assert identity_index.streamed_part_fingerprint(
        iter(list(changed)), count=len(changed), labels=labels
    ) != identity_index.part_fingerprint(images, labels)
