"""The linear probe: how much of the label a configuration's pooled maps keep, linearly.

Per configuration (conv setting × pool setting) a multinomial logistic regression
(scikit-learn) is trained on the pooled maps of the train images — every map of the
configuration (each kernel's and each magnitude), flattened and concatenated, so the feature
count is the sum of the pooled maps' sizes — and scored (accuracy) on the test images.

Which images (:func:`probe_positions`, recorded in :class:`ProbeData`):

* a dataset with a train and a test split: a seeded sample (:data:`PROBE_SEED`) of at most
  ``probe_train`` images of the train split, and the whole test split;
* a dataset with one split (an IDX folder with only t10k files, an image folder without
  train/test folders): that split's images in a seeded permutation, the last
  :data:`TEST_FRACTION` of them the test images, the first ``min(probe_train, the rest)``
  the train images.

The sweep's class filter and limit apply (a limit caps both the train and the test images, a
seeded sample of each); its slice does not (it chooses what the sweep draws and counts, the
probe needs a train and a test set).  The model:
``StandardScaler`` then ``LogisticRegression(C=1, max_iter=PROBE_MAX_ITER)`` (lbfgs, which is
multinomial for several classes); standardising makes lbfgs converge in far fewer steps on
maps whose scales differ by 1000×.
"""

from __future__ import annotations

import time
from typing import Any

from prefect import task

from convsweep.tasks.analysis.probe import (
    PROBE_MAX_ITER,
    PROBE_SEED,
    ProbeData,
    ProbeRecord,
    fit_probe,
    probe_arrays,
    probe_features,
)
from convsweep.tasks.chunk.maps import Kernels
from convsweep.tasks.model import ConvSetting, PoolSetting
from convsweep.tasks.model.records import DatasetRecord
from convsweep.tasks.prefect_glue.caching import RECORD_SERIALIZER, SweepCachePolicy


@task(name="describe-probe-data", persist_result=False)
def describe_probe_data(dataset: DatasetRecord, max_train: int, max_test: int | None = None) -> ProbeData:
    """Which images the probe uses (reads them and fingerprints them; the data is memoised per process).

    ``max_train`` and ``max_test`` are at most the sweep's limit, when it has one: a 500-image sweep
    fits its probe on at most 500 train images and scores it on at most 500 test images.
    """
    dataset = DatasetRecord.parse(dataset)
    classes = dataset.selection.classes
    *_, data = probe_arrays(
        dataset.spec,
        classes=None if classes is None else list(classes),
        max_train=max_train,
        one_split_name=dataset.split,
        max_test=max_test,
    )
    return data


def _probe_key(inputs: dict[str, Any]) -> dict[str, Any]:
    data = ProbeData.parse(inputs["data"])
    return {
        "data": data.fingerprint,
        "conv": inputs["conv"],
        "pool": inputs["pool"],
        "kernels": inputs["kernels"],
        "model": {"seed": PROBE_SEED, "max_iter": PROBE_MAX_ITER, "C": 1.0},
    }


@task(
    name="probe-configuration",
    task_run_name="probe-{conv.label}-{pool.label}",
    cache_policy=SweepCachePolicy(key_inputs=_probe_key),
    result_serializer=RECORD_SERIALIZER,
    persist_result=True,
)
def probe_configuration(data: ProbeData, conv: ConvSetting, pool: PoolSetting, kernels: Kernels) -> ProbeRecord:
    """The probe of one configuration: accuracy on the test images, feature count."""
    data = ProbeData.parse(data)
    classes = None if data.classes is None else list(data.classes)
    train_images, train_labels, test_images, test_labels, read = probe_arrays(
        data.spec, classes=classes, max_train=data.max_train, one_split_name=data.train_split, max_test=data.max_test
    )
    if read.fingerprint != data.fingerprint:
        raise ValueError(f"probe: the images of {data.spec} changed since they were described")
    began = time.perf_counter()
    train = probe_features(train_images, conv=conv, kernels=kernels, pool=pool)
    test = probe_features(test_images, conv=conv, kernels=kernels, pool=pool)
    accuracy, iterations, converged = fit_probe(train, train_labels, test, test_labels)
    return ProbeRecord(
        conv=conv.label,
        pool=pool.label,
        accuracy=round(accuracy, 6),
        features=int(train.shape[1]),
        n_train=len(train),
        n_test=len(test),
        iterations=iterations,
        converged=converged,
        seconds=time.perf_counter() - began,
    )
