"""The small CNN's training data, its saved model and its training curve (no Prefect)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from convsweep.tasks.analysis import learned
from convsweep.tasks.datasets import DatasetView, open_dataset
from convsweep.tasks.datasets.view import class_list
from convsweep.tasks.model.records import Selection

MODEL_FILE = "model.keras"


CURVE_FILE = "training.png"


@dataclass(frozen=True)
class TrainingViews:
    """The images a training uses: the train and test views, or one view and the one-split rule."""

    train: DatasetView
    test: DatasetView | None
    """None: one split, divided by :func:`convsweep.tasks.analysis.learned.one_split`."""

    @property
    def classes(self) -> int:
        names = self.train.class_names
        labels = [self.train.labels] + ([self.test.labels] if self.test is not None else [])
        largest = max(int(np.max(part)) for part in labels if part is not None and len(part))
        return max(len(names) if names else 0, largest + 1)

    def rule(self, seed: int) -> str:
        if self.test is None:
            return (
                f"one split of {self.train.n} images: a permutation seeded by {seed} puts "
                f"{learned.ONE_SPLIT_TEST_FRACTION:.0%} of them in the test set, the rest trains"
            )
        return f"the train split ({self.train.n} images) trains, the test split ({self.test.n} images) tests"


def training_views(spec: str) -> TrainingViews:
    """The train and test splits of ``spec``, or its one split (``all``) when it has no train/test.

    Raises
    ------
    ValueError
        The images have no labels (nothing to train a classifier on).
    """
    try:
        train = open_dataset(spec, split="train")
    except ValueError:  # an IDX folder without the train files
        train = open_dataset(spec, split="all")
    # A folder without train/test subfolders (and ``sample``) opens as its one split, "all".
    views = (
        TrainingViews(train, None) if train.split == "all" else TrainingViews(train, open_dataset(spec, split="test"))
    )
    for view in (views.train, views.test):
        if view is not None and view.labels is None:
            raise ValueError(f"learned_filters: dataset {spec!r} has no labels to train a classifier on")
    labels = np.concatenate([view.labels for view in (views.train, views.test) if view is not None])
    if len(np.unique(labels)) < 2:  # Keras would train, and report random kernels and test accuracy 0
        raise ValueError(
            f"learned_filters: dataset {spec!r} has images of one class only "
            f"({class_list(labels, views.train.class_names)}): training (--learned-filters) needs at least two classes"
        )
    return views


def _architecture(views: TrainingViews, filters: int) -> dict[str, Any]:
    return learned.architecture(
        filters=filters, image_shape=(views.train.height, views.train.width), classes=views.classes
    )


def training_fingerprints(spec: str, index_dir: str | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The records (``convsweep.tasks.datasets.identity_index.describe``) of the images :func:`training_views` uses.

    From the identity index while the files are unchanged: a warm sweep's key is computed
    without opening the data (no Keras import).  Their fingerprints cover images and labels.
    """
    from convsweep.tasks.datasets.identity_index import describe

    def split(name: str) -> dict[str, Any]:
        return describe(spec, Selection(split=name).arguments(), index_dir)

    try:
        train = split("train")
    except ValueError:
        train = split("all")
    return (train, None) if train["split"] == "all" else (train, split("test"))


def save_model(model: Any, path: str | Path) -> Path:
    """``model.save`` into a temp ``.keras`` file beside ``path``, then renamed to it (Keras wants the suffix)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temp_name = tempfile.mkstemp(prefix=f".tmp-{target.stem}.", suffix=".keras", dir=target.parent)
    os.close(descriptor)
    try:
        model.save(temp_name)
        os.chmod(temp_name, 0o644)
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return target


def curve_figure(record: dict[str, Any], *, title: str) -> Any:
    """Loss and accuracy per epoch, train and test, side by side."""
    from convsweep.tasks.reporting.render import _pyplot

    plt = _pyplot()
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(8, 3.2))
    epochs = list(range(1, len(record["loss"]) + 1))
    for axis, what, train_values, test_values in (
        (loss_axis, "loss", record["loss"], record["test_loss"]),
        (accuracy_axis, "accuracy", record["accuracy"], record["test_accuracies"]),
    ):
        axis.plot(epochs, train_values, marker="o", label="train")
        axis.plot(epochs, test_values, marker="s", label="test")
        axis.set_xlabel("epoch")
        axis.set_ylabel(what)
        axis.set_xticks(epochs)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return figure
