"""write-samples checks the sample images it read against the flow's fingerprint, as process-chunk
does: a worker with another copy of the data fails with one line and writes no picture."""

from __future__ import annotations

import numpy as np
import pytest

import convsweep.tasks.datasets as datasets
from convsweep.tasks.datasets.identity_index import part_fingerprints
from convsweep.tasks.load import describe_selection
from convsweep.tasks.model import ConvSetting, PoolSetting
from convsweep.tasks.model.jobs import SampleJob
from convsweep.tasks.prefect_glue import worker_checks
from convsweep.tasks.prefect_glue.worker_checks import ChunkContentMismatch
from convsweep.tasks.samples import write_samples
from tests.helpers.idx import make_split, write_idx_folder

KERNELS = {"sobel_h": [[1, 2, 1], [0, 0, 0], [-1, -2, -1]], "sobel_v": [[1, 0, -1], [2, 0, -2], [1, 0, -1]]}
CONV = ConvSetting(resize=None, stride=(1, 1), padding="valid", pad_mode="zeros", dilation=(1, 1))
POOLS = [PoolSetting("none", None, None, None), PoolSetting("max", (2, 2), (2, 2), "valid")]
SAMPLES = [1, 4]


@pytest.fixture
def described(tmp_path):
    """(the load task's record, the samples' fingerprint from the plan, the data folder, the test split)."""
    datasets.clear_caches()
    test = make_split(6, seed=8)
    folder = write_idx_folder(tmp_path / "data", test=test)
    dataset = describe_selection.fn(f"idx:{folder}", {"split": "test"})
    _, fingerprint = part_fingerprints(dataset.model_dump(mode="json"), chunks=[], samples=SAMPLES, index_dir=None)
    yield dataset, fingerprint, folder, test
    datasets.clear_caches()


def samples_of(dataset, fingerprint, out_dir):
    job = SampleJob(dataset, CONV, KERNELS, tuple(POOLS), tuple(SAMPLES), str(out_dir), samples_fingerprint=fingerprint)
    return write_samples.fn(job)


def test_samples_with_the_flows_pixels_are_written(described, tmp_path):
    dataset, fingerprint, _, _ = described
    record = samples_of(dataset, fingerprint, tmp_path / "out")
    assert set(record.images) >= {"1-input", "4-sobel", "4-sobel_h-max2-s2-pvalid"}
    # input, 3 maps and 3 pooled maps for each of the 2 samples, and the contact sheet
    assert len(list((tmp_path / "out" / "samples").glob("*/*.png"))) == 2 * 7
    assert (tmp_path / "out" / "contact").is_dir()


@pytest.mark.parametrize("change", ["a sample's pixel", "a sample's label"])
def test_samples_of_other_data_are_refused_with_one_line_and_nothing_written(described, tmp_path, monkeypatch, change):
    dataset, fingerprint, folder, (images, labels) = described
    # This "worker" sees another copy of the data at the same path.
    images, labels = images.copy(), labels.copy()
    if change == "a sample's pixel":
        images[4, 10, 10] ^= 1
    else:
        labels[1] = (labels[1] + 1) % 10
    write_idx_folder(folder, test=(images, labels))
    datasets.clear_caches()
    monkeypatch.setattr(worker_checks.socket, "gethostname", lambda: "host-b")
    out = tmp_path / "out"
    with pytest.raises(ChunkContentMismatch) as raised:
        samples_of(dataset, fingerprint, out)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"worker host-b read other data for sample images 1, 4 of idx:{folder}: ")
    assert f"the flow's {fingerprint}; refused, nothing cached" in message
    assert not out.exists() or not [path for path in out.rglob("*") if path.is_file()]


def test_samples_whose_other_images_changed_are_not_refused(described, tmp_path):
    dataset, fingerprint, folder, (images, labels) = described
    images = images.copy()
    images[0] ^= 1  # not a sample
    write_idx_folder(folder, test=(images, labels))
    datasets.clear_caches()
    record = samples_of(dataset, fingerprint, tmp_path / "out")
    assert np.isfinite(list(record.scaling.values())).all()
