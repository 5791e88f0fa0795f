"""The ``train-model`` task: the small CNN of ``convsweep.tasks.analysis.learned`` trained on the sweep's dataset, cached.

Which images: the dataset's ``train`` split trains and its ``test`` split tests (the whole
splits, whatever the sweep's selection); a dataset with one split (an image folder without
train/test subfolders, ``sample``) is split by :func:`convsweep.tasks.analysis.learned.one_split` (a seeded
permutation, 20 % test).  The cache key is the images' and labels' fingerprints, the
architecture (:func:`convsweep.tasks.analysis.learned.architecture`), the epochs, the seed, the output folder and
the code version (``convsweep.tasks.prefect_glue.caching``): a warm sweep never trains again, and its record carries
the kernels, so it does not even import Keras.

Writes ``model.keras`` (atomically: a temp file in the folder, then a rename) and
``training.png`` (the curves) into the sweep's folder; publishes the curves as a markdown
artifact when it trains.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from prefect import task

from convsweep.tasks.analysis import learned
from convsweep.tasks.analysis.training import (
    CURVE_FILE,
    MODEL_FILE,
    _architecture,
    curve_figure,
    save_model,
    training_fingerprints,
    training_views,
)
from convsweep.tasks.io import files
from convsweep.tasks.model.records import TrainingRecord
from convsweep.tasks.prefect_glue.caching import RECORD_SERIALIZER, SweepCachePolicy


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


def _publish_curve(name: str, record: TrainingRecord) -> None:
    from prefect.artifacts import create_markdown_artifact

    from convsweep.tasks.prefect_glue.artifacts import artifact_key
    from convsweep.tasks.reporting.images import png_data_uri

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


def _train_and_write(
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
        from convsweep.tasks.reporting.render import close

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
    record = _train_and_write(spec, filters=filters, epochs=epochs, seed=seed, out_dir=out_dir, name=name)
    _publish_curve(name, record)
    return record
