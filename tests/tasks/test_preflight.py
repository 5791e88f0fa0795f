"""tasks/plan/preflight.py: what a sweep refuses before its flow run exists (folders, a name in use, shapes)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from convsweep.tasks.io import folder_claim, manifest
from convsweep.tasks.model import parse_parameters
from convsweep.tasks.plan import preflight
from tests.helpers.idx import make_split, write_idx_folder


def test_writable_folder_new_folders_under_a_writable_one_pass_and_nothing_is_created(tmp_path):
    preflight.check_writable_folder(tmp_path / "a" / "b", what="--out x")
    assert list(tmp_path.iterdir()) == []  # the probe file is gone again, no folder was made


@pytest.mark.parametrize(
    ("relative", "reason"),
    [
        ("file.txt", r"\(.*file\.txt is a file\)"),
        ("file.txt/sub", r"\(.*file\.txt, on the way to .*file\.txt/sub, is a file\)"),
    ],
)
def test_writable_folder_refuses_a_file_on_the_way(tmp_path, relative, reason):
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ValueError, match=rf"^--out x: not a writable folder {reason}$"):
        preflight.check_writable_folder(tmp_path / relative, what="--out x")


@pytest.mark.parametrize("path", ["/proc/nope", "/proc/self/nope/deeper"])
def test_writable_folder_refuses_where_no_file_can_be_created(path):
    # /proc refuses new files even to root, for whom access() says yes: the probe is what tells.
    with pytest.raises(
        ValueError, match=r"^--out /proc\S*: not a writable folder \(/proc\S*.*cannot create a file there"
    ):
        preflight.check_writable_folder(path, what=f"--out {path}")


def test_check_folders_names_the_cache_folder_option(tmp_path):
    (tmp_path / "cache-file").write_text("x")
    settings = parse_parameters(out=str(tmp_path / "out"), cache_dir=str(tmp_path / "cache-file"))
    with pytest.raises(ValueError, match=r"^--cache-dir .*cache-file: not a writable folder"):
        preflight.check_folders(settings)


def test_check_folders_names_the_sweep_folder_when_it_is_a_file(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "taken").write_text("x")
    settings = parse_parameters(out=str(tmp_path / "out"), name="taken")
    with pytest.raises(ValueError, match=r"^--name taken \(.*taken\): not a writable folder"):
        preflight.check_folders(settings)


def test_check_name_free_refuses_other_settings_while_the_writer_lives(tmp_path):
    settings = parse_parameters(out=str(tmp_path), name="n", strides=[3], kernels=["laplacian"])
    other = parse_parameters(out=str(tmp_path), name="n")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        manifest.begin_folder(other.output_dir, parameters=other.to_parameters(), flow_run_id="run-a")
        marker = folder_claim.read_marker(other.output_dir)
        marker["writers"][0].update(pid=sleeper.pid, pid_start=folder_claim.process_start(sleeper.pid))
        folder_claim.write_marker(other.output_dir, marker)
        with pytest.raises(folder_claim.FolderInUse, match=r"^--name n: .* is being written by another run .*run-a"):
            preflight.check_name_free(settings)
        preflight.check_name_free(parse_parameters(out=str(tmp_path), name="n", refresh=True))  # the same sweep
    finally:
        sleeper.kill()
        sleeper.wait()
    preflight.check_name_free(settings)  # the writer is gone


def test_cheap_image_size_from_the_idx_header_and_the_keras_datasets(tmp_path):
    images, labels = make_split(3)
    folder = write_idx_folder(tmp_path / "idx", test=(images[:, :20, :24], labels))
    assert preflight.cheap_image_size(f"idx:{folder}", "test") == (20, 24)
    assert preflight.cheap_image_size(f"idx:{folder}", "train") is None  # no such split: the flow says so
    assert preflight.cheap_image_size("fashion_mnist", "train") == (28, 28)
    assert preflight.cheap_image_size(f"images:{tmp_path}", "all") is None


@pytest.mark.parametrize(
    ("options", "expected", "not_expected"),
    [
        (
            {"resize": [100000]},
            "memory_budget=384 MB is too small for 28x28 images resized to 100000x100000",
            None,
        ),
        (
            {"strides": [10000], "paddings": ["valid"]},
            "rnative-s10000-pvalid-zeros-d1: pool window max2-s2-pvalid on the 1x1 map of kernel sobel_h: "
            "pool window 2 is larger than the padded map",
            "kernel_size",
        ),
        (
            {"resize": [1], "paddings": ["valid"]},
            "r1-s1-pvalid-zeros-d1 (resized to 1x1): kernel sobel_h (3x3): kernel_size=3 is larger",
            "pool window",
        ),
    ],
)
def test_check_shapes_names_the_culprit(options, expected, not_expected):
    settings = parse_parameters(**options)
    with pytest.raises(ValueError) as refused:
        preflight.check_shapes(settings, (28, 28))
    assert expected in str(refused.value)
    assert not_expected is None or not_expected not in str(refused.value)


@pytest.mark.parametrize(
    ("backend", "expected"),
    [("tensorflow", "KERAS_BACKEND=tensorflow and tensorflow is not installed"), ("jaxx", "is not a Keras backend")],
)
def test_check_keras_backend_learned_filters_with_a_backend_not_installed_is_refused(monkeypatch, backend, expected):
    import importlib.util

    if backend == "tensorflow" and importlib.util.find_spec("tensorflow") is not None:
        pytest.skip("tensorflow is installed here")
    monkeypatch.setenv("KERAS_BACKEND", backend)
    with pytest.raises(ValueError, match=expected):
        preflight.check_keras_backend(parse_parameters(learned_filters=2))
    preflight.check_keras_backend(parse_parameters())  # no training: no Keras needed


def test_check_labels_one_class_folder_refused_for_learned_filters(tmp_path):
    import cv2
    import numpy as np

    (tmp_path / "cat").mkdir()
    for index in range(3):
        cv2.imwrite(str(tmp_path / "cat" / f"{index}.png"), np.full((8, 8), index, np.uint8))
    with pytest.raises(ValueError, match="one class only"):
        preflight.check_labels(parse_parameters(dataset=f"images:{tmp_path}", learned_filters=2))
