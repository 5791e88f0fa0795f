"""convsweep.tasks.probe: the linear probe's images, features and fit, against a direct scikit-learn fit."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from convsweep import conv_core
from convsweep.conv_core import kernels as kernel_library
from convsweep.tasks.analysis.probe import (
    PROBE_MAX_ITER,
    PROBE_SEED,
    fit_probe,
    probe_arrays,
    probe_features,
    probe_positions,
)
from convsweep.tasks.model import ConvSetting, PoolSetting
from tests.helpers.idx import write_idx_images, write_idx_labels

IDENTITY = {"identity": kernel_library.get("identity").tolist()}
SOBEL = {name: kernel_library.get(name).tolist() for name in ("sobel_h", "sobel_v")}
SAME = ConvSetting(resize=None, stride=(1, 1), padding="same", pad_mode="zeros", dilation=(1, 1))
NO_POOL = PoolSetting("none", None, None, None)


def _labelled(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noise plus a bright bar whose column is the class (4 classes): learnable, not trivially."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, size=count)
    images = rng.integers(0, 120, size=(count, 12, 12), dtype=np.uint8)
    for index, label in enumerate(labels):
        images[index, 2:10, 2 + 2 * label] = 220
    return images, labels.astype(np.uint8)


@pytest.fixture
def two_splits(tmp_path):
    folder = tmp_path / "idx"
    folder.mkdir()
    for stem, count, seed in (("train", 90, 1), ("t10k", 30, 2)):
        images, labels = _labelled(count, seed)
        write_idx_images(folder / f"{stem}-images-idx3-ubyte.gz", images)
        write_idx_labels(folder / f"{stem}-labels-idx1-ubyte.gz", labels)
    return f"idx:{folder}"


def test_identity_kernel_without_pool_equals_a_direct_fit_on_the_pixels(two_splits):
    train_images, train_labels, test_images, test_labels, data = probe_arrays(
        two_splits, classes=None, max_train=60, one_split_name="test"
    )
    train = probe_features(train_images, conv=SAME, kernels=IDENTITY, pool=NO_POOL)
    test = probe_features(test_images, conv=SAME, kernels=IDENTITY, pool=NO_POOL)
    accuracy, _, converged = fit_probe(train, train_labels, test, test_labels)

    # The stated rule, written out: a seeded sample of 60 train images, every test image.
    from convsweep.tasks.datasets import read_images

    train_split = read_images(two_splits, split="train")
    test_split = read_images(two_splits, split="test")
    chosen = np.sort(np.random.default_rng(PROBE_SEED).choice(90, size=60, replace=False))
    direct = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=PROBE_MAX_ITER))
    direct.fit(train_split.images[chosen].reshape(60, -1).astype(np.float32), train_split.labels[chosen])
    expected = direct.score(test_split.images.reshape(30, -1).astype(np.float32), test_split.labels)
    assert accuracy == expected
    assert train.shape == (60, 144) and converged
    assert 0.5 < accuracy <= 1.0  # the bars are learnable: the fit is not a constant guess
    assert (data.n_train, data.n_test, data.one_split) == (60, 30, False)


def test_features_are_every_pooled_map_concatenated(two_splits):
    images, *_ = probe_arrays(two_splits, classes=None, max_train=10, one_split_name="test")
    pool = PoolSetting("max", (2, 2), (2, 2), "valid")
    valid = ConvSetting(resize=None, stride=(1, 1), padding="valid", pad_mode="zeros", dilation=(1, 1))
    features = probe_features(images, conv=valid, kernels=SOBEL, pool=pool)
    assert features.shape == (10, 3 * 5 * 5)  # sobel_h, sobel_v, sobel: 10x10 maps pooled to 5x5
    expected = pool.apply(conv_core.conv2d(images, np.asarray(SOBEL["sobel_h"])))
    np.testing.assert_array_equal(features[:, :25], expected.reshape(10, -1))


def test_one_split_rule_is_seeded_disjoint_and_bounded():
    train, test = probe_positions(40, None, max_train=100)
    assert len(test) == 8 and len(train) == 32
    assert set(train.tolist()).isdisjoint(test.tolist()) and set(train.tolist()) | set(test.tolist()) == set(range(40))
    small, again = probe_positions(40, None, max_train=5)
    assert len(small) == 5 and set(small.tolist()) <= set(train.tolist()) and again.tolist() == test.tolist()


def test_one_split_dataset_is_split_by_the_rule(tmp_path):
    folder = tmp_path / "idx"
    folder.mkdir()
    images, labels = _labelled(40, 3)
    write_idx_images(folder / "t10k-images-idx3-ubyte.gz", images)
    write_idx_labels(folder / "t10k-labels-idx1-ubyte.gz", labels)
    train_images, train_labels, test_images, _, data = probe_arrays(
        f"idx:{folder}", classes=None, max_train=10_000, one_split_name="test"
    )
    train, test = probe_positions(40, None, max_train=10_000)
    np.testing.assert_array_equal(train_images, images[train])
    np.testing.assert_array_equal(test_images, images[test])
    np.testing.assert_array_equal(train_labels, labels[train])
    assert data.one_split and "seeded" in data.rule


def test_one_image_cannot_be_split():
    with pytest.raises(ValueError, match="probe: 1 image"):
        probe_positions(1, None, max_train=10)


def test_probe_arrays_sweep_limit_caps_train_and_test_images(two_splits):
    # A 20-image sweep (--limit 20) probes at most 20 train and 20 test images, and says so.
    _, _, test_images, _, data = probe_arrays(
        two_splits, classes=None, max_train=20, one_split_name="test", max_test=20
    )
    assert (data.n_train, data.n_test, data.max_test, len(test_images)) == (20, 20, 20, 20)
    assert "a seeded sample of 20 of the 30 test images (the sweep's limit)" in data.rule
    _, _, _, _, whole = probe_arrays(two_splits, classes=None, max_train=20, one_split_name="test")
    assert whole.n_test == 30 and whole.fingerprint != data.fingerprint  # another set of images, another cache key


def test_probe_positions_one_split_limit_caps_the_test_share():
    train, test = probe_positions(100, None, max_train=5, max_test=5)
    assert len(train) == 5 and len(test) == 5 and not set(train) & set(test)


def test_check_probe_labels_one_class_folder_is_refused(tmp_path):
    import cv2

    from convsweep.tasks.analysis.probe import check_probe_labels

    (tmp_path / "cat").mkdir()
    for index in range(4):
        cv2.imwrite(str(tmp_path / "cat" / f"{index}.png"), np.full((8, 8), index, np.uint8))
    with pytest.raises(ValueError, match=r"one class only \(cat\): a linear probe \(--probe\)"):
        check_probe_labels(f"images:{tmp_path}", classes=None, one_split_name="all")
