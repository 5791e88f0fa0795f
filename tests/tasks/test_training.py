"""convsweep.tasks.training: which images train and test, and the key's records."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from convsweep.tasks.analysis import training
from tests.helpers.idx import make_split, write_idx_folder


def test_training_views_train_and_test_splits(tmp_path):
    folder = write_idx_folder(tmp_path / "idx", train=make_split(6, seed=1), test=make_split(4, seed=2))
    views = training.training_views(f"idx:{folder}")
    assert (views.train.split, views.train.n, views.test.split, views.test.n) == ("train", 6, "test", 4)
    train, test = training.training_fingerprints(f"idx:{folder}", str(tmp_path / "cache"))
    assert (train["fingerprint"], test["fingerprint"]) == (views.train.fingerprint, views.test.fingerprint)
    assert "train split (6 images) trains" in views.rule(0)


def test_training_views_one_split_folder_is_split_by_the_seeded_rule(tmp_path):
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (tmp_path / "photos" / label).mkdir(parents=True)
        for index in range(3):
            cv2.imwrite(str(tmp_path / "photos" / label / f"{index}.png"), rng.integers(0, 255, (8, 8), dtype=np.uint8))
    spec = f"images:{tmp_path / 'photos'}"
    views = training.training_views(spec)
    assert views.test is None and views.train.split == "all" and views.train.n == 6
    assert views.classes == 2
    assert "permutation seeded by 3" in views.rule(3)
    train, test = training.training_fingerprints(spec, None)
    assert test is None and train["split"] == "all"


def test_training_views_one_class_folder_is_refused(tmp_path):
    import cv2

    from convsweep.tasks.analysis.training import training_views

    (tmp_path / "cat").mkdir()
    for index in range(4):
        cv2.imwrite(str(tmp_path / "cat" / f"{index}.png"), np.full((8, 8), index, np.uint8))
    with pytest.raises(ValueError, match=r"one class only \(cat\).*at least two classes"):
        training_views(f"images:{tmp_path}")
