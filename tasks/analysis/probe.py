"""The linear probe: how much of the label a configuration's pooled maps keep, linearly (no Prefect)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from convsweep.tasks.chunk.maps import Kernels, compute_maps
from convsweep.tasks.datasets import open_dataset
from convsweep.tasks.datasets.fingerprints import fingerprint
from convsweep.tasks.datasets.view import class_list
from convsweep.tasks.model import ConvSetting, PoolSetting
from convsweep.tasks.model.records import Record

PROBE_SEED = 0


TEST_FRACTION = 0.2


PROBE_MAX_ITER = 200


class ProbeData(Record):
    """Which images the probe trains and scores on (``describe-probe-data``); keys every probe task run."""

    spec: str
    classes: tuple[int | str, ...] | None
    train_split: str
    test_split: str
    one_split: bool
    """Train and test images drawn from one split by the seeded rule (module docstring)."""
    max_train: int
    n_train: int
    n_test: int
    height: int
    width: int
    fingerprint: str
    """Of the train images and labels, then the test images and labels."""
    rule: str
    """The rule in words, for the report."""
    max_test: int | None = None
    """The sweep's limit, when it has one: at most this many test images."""


class ProbeRecord(Record):
    """What ``probe-configuration`` returns."""

    conv: str
    pool: str
    accuracy: float
    features: int
    n_train: int
    n_test: int
    iterations: int
    converged: bool
    seconds: float = 0.0


def _splits(spec: str, classes: Any) -> tuple[Any, Any] | None:
    """(train view, test view) when the dataset has both splits, else None."""
    try:
        return open_dataset(spec, split="train", classes=classes), open_dataset(spec, split="test", classes=classes)
    except ValueError:
        return None


def probe_positions(
    n_train_split: int, n_test_split: int | None, max_train: int, max_test: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(train positions, test positions), sorted int64, by the module's rule.

    ``n_test_split`` None means one split of ``n_train_split`` images, divided by the seeded rule.
    ``max_test`` (the sweep's ``--limit``) caps the test images to a seeded sample of that many.
    """
    rng = np.random.default_rng(PROBE_SEED)
    if n_test_split is not None:
        count = min(max_train, n_train_split)
        train = rng.choice(n_train_split, size=count, replace=False) if count < n_train_split else np.arange(count)
        n_test = n_test_split if max_test is None else min(max_test, n_test_split)
        test = rng.choice(n_test_split, size=n_test, replace=False) if n_test < n_test_split else np.arange(n_test)
        return np.sort(train).astype(np.int64), np.sort(test).astype(np.int64)
    order = rng.permutation(n_train_split)
    n_test = max(1, int(np.ceil(TEST_FRACTION * n_train_split)))
    if n_train_split - n_test < 1:
        raise ValueError(f"probe: {n_train_split} image(s) cannot be split into a train and a test set")
    rest, test = order[: n_train_split - n_test], order[n_train_split - n_test :]
    return np.sort(rest[:max_train]).astype(np.int64), np.sort(test[:max_test]).astype(np.int64)


def _read(view: Any, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(positions) == view.n:
        images = view.read(0, view.n)
    elif len(positions) * 4 >= view.n:  # most of the split: one read, then a gather
        images = view.read(0, view.n)[positions]
    else:
        images = np.stack([view.read(int(index), int(index) + 1)[0] for index in positions])
    return images, np.asarray(view.labels)[positions]


def _check_labels(spec: str, train_view: Any) -> None:
    if train_view.labels is None:
        raise ValueError(f"probe: dataset {spec!r} has no labels, so a linear probe has nothing to predict")
    if len(np.unique(train_view.labels)) < 2:  # scikit-learn's own refusal would be its raw text
        raise ValueError(
            f"probe: the train images of dataset {spec!r} are of one class only "
            f"({class_list(train_view.labels, train_view.class_names)}): a linear probe (--probe) needs at least two classes"
        )


def check_probe_labels(spec: str, *, classes: Any, one_split_name: str) -> None:
    """Refuse (ValueError, one line) data a probe cannot fit: no labels, or train images of one class."""
    views = _splits(spec, classes)
    _check_labels(spec, views[0] if views else open_dataset(spec, split=one_split_name, classes=classes))


def probe_arrays(
    spec: str, *, classes: Any, max_train: int, one_split_name: str, max_test: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, ProbeData]:
    """(train images, train labels, test images, test labels, their :class:`ProbeData`).

    ``one_split_name`` is the split used when the dataset has not both (the sweep's split).
    """
    views = _splits(spec, classes)
    if views is not None:
        train_view, test_view = views
        train_positions, test_positions = probe_positions(train_view.n, test_view.n, max_train, max_test)
        test_source = test_view
        tested = f"the {test_view.n:,} test images"
        if max_test is not None and max_test < test_view.n:
            tested = f"a seeded sample of {max_test:,} of the {test_view.n:,} test images (the sweep's limit)"
        rule = (
            f"train: a seeded (seed {PROBE_SEED}) sample of at most {max_train:,} of the {train_view.n:,} train "
            f"images; test: {tested}"
        )
    else:
        train_view = test_source = open_dataset(spec, split=one_split_name, classes=classes)
        train_positions, test_positions = probe_positions(train_view.n, None, max_train, max_test)
        capped = "" if max_test is None else f" (at most {max_test:,}: the sweep's limit)"
        rule = (
            f"one split ({train_view.split}, {train_view.n:,} images) in a seeded (seed {PROBE_SEED}) permutation: "
            f"the last {TEST_FRACTION:.0%} test{capped}, the first min({max_train:,}, the rest) train"
        )
    _check_labels(spec, train_view)
    train_images, train_labels = _read(train_view, train_positions)
    test_images, test_labels = _read(test_source, test_positions)
    if train_images.shape[1:] != test_images.shape[1:]:
        raise ValueError(f"probe: train images are {train_images.shape[1:]} but test images {test_images.shape[1:]}")
    digest = fingerprint(
        np.concatenate([train_images, test_images]), np.concatenate([train_labels, test_labels]).astype(np.int64)
    )
    data = ProbeData(
        spec=spec,
        classes=None if classes is None else tuple(classes),
        train_split=train_view.split,
        test_split=test_source.split,
        one_split=views is None,
        max_train=max_train,
        max_test=max_test,
        n_train=len(train_images),
        n_test=len(test_images),
        height=int(train_images.shape[1]),
        width=int(train_images.shape[2]),
        fingerprint=f"{digest}:{len(train_images)}",
        rule=rule,
    )
    return train_images, train_labels, test_images, test_labels, data


def probe_features(images: np.ndarray, *, conv: ConvSetting, kernels: Kernels, pool: PoolSetting) -> np.ndarray:
    """(N, F) float32: every map of the configuration, pooled, flattened and concatenated (maps in their order)."""
    _, maps = compute_maps(images, conv=conv, kernels=kernels)
    return np.concatenate([pool.apply(feature_map).reshape(len(images), -1) for feature_map in maps.values()], axis=1)


def fit_probe(
    train: np.ndarray, train_labels: np.ndarray, test: np.ndarray, test_labels: np.ndarray
) -> tuple[float, int, bool]:
    """(test accuracy, lbfgs iterations, converged) of the module's model fitted on ``train`` (N, F).

    The features are fitted as given (float32 maps stay float32: lbfgs is then ~1.5x faster).
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=PROBE_MAX_ITER))
    # One BLAS thread: the probes run side by side on the flow's threads, and lbfgs' small
    # products on two OpenBLAS threads of a busy machine took 6x longer (bench/bench_measures.py).
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        warnings.simplefilter("ignore", ConvergenceWarning)  # recorded as converged=False instead
        model.fit(train, train_labels)
        iterations = int(np.max(model[-1].n_iter_))
        accuracy = float(model.score(test, test_labels))
    return accuracy, iterations, iterations < PROBE_MAX_ITER
