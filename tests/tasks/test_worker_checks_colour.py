"""A colour chunk is checked against the fingerprint of its RGB pixels, as a grey chunk is against its grey ones."""

from __future__ import annotations

import pytest

from convsweep.tasks.compute import process_chunk
from convsweep.tasks.datasets import read_images
from convsweep.tasks.datasets.identity_index import describe_colour, part_fingerprint, part_fingerprints
from convsweep.tasks.model import ConvSetting, PoolSetting
from convsweep.tasks.model.jobs import ChunkJob
from convsweep.tasks.model.records import DatasetRecord
from convsweep.tasks.prefect_glue.worker_checks import ChunkContentMismatch

CONV = ConvSetting(resize=(16, 16), stride=(2, 2), padding="same", pad_mode="zeros", dilation=(1, 1))
POOLS = [PoolSetting("max", (2, 2), (2, 2), "valid")]
KERNELS = {"sobel_h": [[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]]}


@pytest.fixture(scope="module")
def colour() -> DatasetRecord:
    return DatasetRecord.parse(describe_colour("skimage:astronaut,coffee", {"split": "all"}))


def test_colour_part_fingerprints_hash_the_rgb_pixels(colour):
    fingerprints, samples = part_fingerprints(colour.to_json(), chunks=[[0, 1], [1, 2]], samples=[1], index_dir=None)
    rgb = read_images("skimage:astronaut,coffee", split="all", colour=True).images
    assert fingerprints == [part_fingerprint(rgb[0:1], None), part_fingerprint(rgb[1:2], None)]
    assert samples == part_fingerprint(rgb[1:2], None)
    grey = read_images("skimage:astronaut,coffee", split="all").images
    assert fingerprints[0] != part_fingerprint(grey[0:1], None)  # not the grey pixels'


@pytest.mark.parametrize("channel", ["R", "sum"])
def test_process_chunk_colour_refuses_pixels_that_are_not_its_fingerprints(colour, channel):
    fingerprints, _ = part_fingerprints(colour.to_json(), chunks=[[0, 1], [1, 2]], samples=[], index_dir=None)
    options = dict(dataset=colour, chunk=(0, 1), conv=CONV, kernels=KERNELS, pools=tuple(POOLS), channel=channel)
    record = process_chunk.fn(ChunkJob(chunk_fingerprint=fingerprints[0], **options))
    assert record.maps["sobel_h"][POOLS[0].label].pool_shape == (4, 4)
    with pytest.raises(ChunkContentMismatch, match="images 0-1 of skimage:astronaut,coffee"):
        process_chunk.fn(ChunkJob(chunk_fingerprint=fingerprints[1], **options))  # the other image's
