"""The ``train-model`` task: the small CNN of ``tasks.learned`` trained on the sweep's dataset, cached.

Which images: the dataset's ``train`` split trains and its ``test`` split tests (the whole
splits, whatever the sweep's selection); a dataset with one split (an image folder without
train/test subfolders, ``sample``) is split by :func:`tasks.learned.one_split` (a seeded
permutation, 20 % test).  The cache key is the images' and labels' fingerprints, the
architecture (:func:`tasks.learned.architecture`), the epochs, the seed, the output folder and
the code version (``tasks.caching``): a warm sweep never trains again, and its record carries
the kernels, so it does not even import Keras.

Writes ``model.keras`` (atomically: a temp file in the folder, then a rename) and
``training.png`` (the curves) into the sweep's folder; publishes the curves as a markdown
artifact when it trains.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from prefect import task

from tasks import files, learned
from tasks.caching import RECORD_SERIALIZER, SweepCachePolicy
from tasks.datasets import DatasetView, open_dataset
from tasks.datasets.view import class_list
from tasks.model.records import Selection, TrainingRecord

MODEL_FILE = "model.keras"
CURVE_FILE = "training.png"


@dataclass(frozen=True)
class TrainingViews:
    """The images a training uses: the train and test views, or one view and the one-split rule."""

    train: DatasetView
    test: DatasetView | None
    """None: one split, divided by :func:`tasks.learned.one_split`."""

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
    """The records (``tasks.datasets.identity_index.describe``) of the images :func:`training_views` uses.

    From the identity index while the files are unchanged: a warm sweep's key is computed
    without opening the data (no Keras import).  Their fingerprints cover images and labels.
    """
    from tasks.datasets.identity_index import describe

    def split(name: str) -> dict[str, Any]:
        return describe(spec, Selection(split=name).arguments(), index_dir)

    try:
        train = split("train")
    except ValueError:
        train = split("all")
    return (train, None) if train["split"] == "all" else (train, split("test"))


def _training_key(inputs: dict[str, Any]) -> dict[str, Any]:
    train, test = training_fingerprints(inputs["spec"], inputs.get("index_dir"))
    return {
        "train": train["fingerprint"],
        "test": None if test is None else test["fingerprint"],
        # The classes come from the labels, which the fingerprints cover.
        "architecture": learned.architecture(
            filters=inputs["filters"], image_shape=(train["height"], train["width"]), classes=0
        ),
        "epochs": inputs["epochs"],
        "seed": inputs["seed"],
        "out_dir": str(Path(inputs["out_dir"]).resolve()),
    }


def _training_outputs(inputs: dict[str, Any]) -> list[Path]:
    return [Path(inputs["out_dir"]) / MODEL_FILE, Path(inputs["out_dir"]) / CURVE_FILE]


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
    from tasks.render import _pyplot

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


def _publish_curve(name: str, record: TrainingRecord) -> None:
    from prefect.artifacts import create_markdown_artifact

    from tasks.artifacts import artifact_key, png_data_uri

    uri, _, _ = png_data_uri(record.curve, max_width=900)
    rows = "\n".join(
        f"| {epoch} | {loss:.4f} | {accuracy:.4f} | {test_loss:.4f} | {test_accuracy:.4f} |"
        for epoch, (loss, accuracy, test_loss, test_accuracy) in enumerate(
            zip(record.loss, record.accuracy, record.test_loss, record.test_accuracies, strict=True), start=1
        )
    )
    markdown = (
        f"# Training of the small CNN ({record.filters} filters 3×3, {record.epochs} epochs, seed {record.seed})\n\n"
        f"Test accuracy **{record.test_accuracy:.4f}** after {record.seconds:.1f} s of training; "
        f"{record.split_rule}.\n\n![training curves]({uri})\n\n"
        f"| epoch | loss | accuracy | test loss | test accuracy |\n|---:|---:|---:|---:|---:|\n{rows}\n\n"
        f"Model: `{record.model}`\n"
    )
    create_markdown_artifact(
        markdown=markdown, key=artifact_key(name, "training"), description=f"training curves of sweep {name}"
    )


def train_and_write(
    spec: str, *, filters: int, epochs: int, seed: int, out_dir: str | Path, name: str = "sweep"
) -> TrainingRecord:
    """Train on ``spec`` (see the module docstring), write model.keras and training.png; the record."""
    views = training_views(spec)
    images, labels = views.train.read(0, views.train.n), views.train.labels
    assert labels is not None  # training_views refuses unlabelled data
    if views.test is None:
        train_positions, test_positions = learned.one_split(views.train.n, seed=seed)
        x_train, y_train = images[train_positions], labels[train_positions]
        x_test, y_test = images[test_positions], labels[test_positions]
    else:
        x_train, y_train = images, labels
        test_labels = views.test.labels
        assert test_labels is not None
        x_test, y_test = views.test.read(0, views.test.n), test_labels
    training = learned.train(
        x_train, y_train, x_test, y_test, filters=filters, epochs=epochs, seed=seed, classes=views.classes
    )
    folder = Path(out_dir)
    model_path = save_model(training.model, folder / MODEL_FILE)
    layer = learned.first_conv2d(training.model)
    assert layer is not None  # build_model's first layer
    kernel = np.asarray(learned.import_keras().ops.convert_to_numpy(layer.kernel))
    kernels = learned.conv_kernels(kernel, prefix=learned.LEARNED_PREFIX)
    fields: dict[str, Any] = dict(
        loss=tuple(training.loss),
        accuracy=tuple(training.accuracy),
        test_loss=tuple(training.test_loss),
        test_accuracies=tuple(training.test_accuracy),
    )
    figure = curve_figure(
        fields,
        title=f"{name}: {filters} learned 3×3 filters, seed {seed} — test accuracy "
        f"{training.test_accuracy[-1]:.3f} ({training.seconds:.1f} s)",
    )
    try:
        curve_path = files.write_figure(folder / CURVE_FILE, figure, dpi=100)
    finally:
        from tasks.render import close

        close(figure)
    return TrainingRecord(
        model=str(model_path),
        curve=str(curve_path),
        architecture=_architecture(views, filters),
        filters=filters,
        epochs=epochs,
        seed=seed,
        split_rule=views.rule(seed),
        train_images=len(x_train),
        test_images=len(x_test),
        test_accuracy=training.test_accuracy[-1],
        seconds=round(training.seconds, 3),
        kernels={key: tuple(tuple(row) for row in matrix) for key, matrix in kernels.items()},
        **fields,
    )


@task(
    name="train-model",
    cache_policy=SweepCachePolicy(key_inputs=_training_key, expected_outputs=_training_outputs),
    result_serializer=RECORD_SERIALIZER,
    persist_result=True,
)
def train_model(
    spec: str, filters: int, epochs: int, seed: int, out_dir: str, name: str = "sweep", index_dir: str | None = None
) -> TrainingRecord:
    """Train the small CNN on ``spec`` (cached by data, architecture, epochs, seed, folder and code).

    ``index_dir`` (the sweep's cache folder, for the identity index) only speeds up the key.
    """
    record = train_and_write(spec, filters=filters, epochs=epochs, seed=seed, out_dir=out_dir, name=name)
    _publish_curve(name, record)
    return record
