"""convsweep.tasks.analysis.learned: the small CNN, the one-split rule, a saved model's kernels and its refusals."""

from __future__ import annotations

import numpy as np
import pytest

from convsweep.tasks.analysis import learned
from tests.helpers.stripes import stripes


def keras():
    return learned.import_keras()


def save(model, path):
    model.save(path)
    return path


def conv_model(*, channels: int = 1, kernel: tuple[int, int] = (3, 3), filters: int = 2, size: int = 8):
    k = keras()
    return k.Sequential(
        [k.Input(shape=(size, size, channels)), k.layers.Conv2D(filters, kernel, name="first"), k.layers.Flatten()]
    )


def test_one_split_is_a_seeded_partition():
    train, test = learned.one_split(10, seed=3)
    assert sorted([*train, *test]) == list(range(10))
    assert len(test) == 2  # ceil(10 * 0.2)
    again = learned.one_split(10, seed=3)
    np.testing.assert_array_equal(train, again[0])
    with pytest.raises(ValueError, match="n=1"):
        learned.one_split(1, seed=0)


def test_one_split_other_seeds_draw_other_test_sets():
    tests = {tuple(learned.one_split(50, seed=seed)[1]) for seed in range(5)}
    assert len(tests) == 5


def test_conv_kernels_names_each_filter_in_order():
    kernel = np.arange(3 * 3 * 1 * 2, dtype=np.float32).reshape(3, 3, 1, 2)
    kernels = learned.conv_kernels(kernel, prefix="model")
    assert list(kernels) == ["model_0", "model_1"]
    np.testing.assert_array_equal(kernels["model_1"], kernel[:, :, 0, 1])
    with pytest.raises(ValueError, match=r"\(3, 3, 2, 1\)"):
        learned.conv_kernels(np.zeros((3, 3, 2, 1)), prefix="model")


def test_is_learned_names_only_learned_and_model_kernels():
    assert learned.is_learned("learned_0") and learned.is_learned("model_12")
    assert not any(learned.is_learned(name) for name in ("sobel_h", "learned", "learned_x", "my_model_1x"))


def test_nearest_designed_finds_a_scaled_negated_sobel():
    rows = learned.nearest_designed(
        {"learned_0": (-0.3 * np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]]) + 0.1).tolist()}
    )
    assert rows[0].nearest == "sobel_h"
    assert rows[0].similarity == pytest.approx(1.0)
    assert rows[0].norm == pytest.approx(np.linalg.norm(-0.3 * np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]]) + 0.1))


def test_train_same_seed_same_kernels_and_it_learns_the_stripes():
    x, y = stripes(256, size=10, seed=0)
    xt, yt = stripes(64, size=10, seed=1)
    first = learned.train(x, y.astype(np.int64), xt, yt.astype(np.int64), filters=2, epochs=1, seed=5, classes=2)
    second = learned.train(x, y.astype(np.int64), xt, yt.astype(np.int64), filters=2, epochs=1, seed=5, classes=2)
    kernel = [keras().ops.convert_to_numpy(learned.first_conv2d(t.model).kernel) for t in (first, second)]
    np.testing.assert_array_equal(kernel[0], kernel[1])
    assert first.loss == second.loss and len(first.loss) == 1
    assert first.model.layers[0].kernel.shape == (3, 3, 1, 2)
    assert first.seconds > 0


def test_load_model_kernels_reads_the_first_conv2d(tmp_path):
    model = conv_model(filters=3)
    path = save(model, tmp_path / "m.keras")
    loaded = learned.load_model_kernels(path, channels=1)
    expected = keras().ops.convert_to_numpy(model.layers[0].kernel)
    assert loaded.shape == (3, 3, 1, 3) and loaded.layer == "first"
    assert list(loaded.kernels) == ["model_0", "model_1", "model_2"]
    np.testing.assert_array_equal(np.asarray(loaded.kernels["model_2"], dtype=np.float32), expected[:, :, 0, 2])


def test_load_model_kernels_refuses_a_lambda_layer_without_running_it(tmp_path, monkeypatch):
    k = keras()
    marker = tmp_path / "ran"
    monkeypatch.setenv("CONVSWEEP_TEST_MARKER", str(marker))
    # The lambda would leave a file if Keras ever called it while loading (no closure: Keras saves its code).
    inputs = k.Input(shape=(8, 8, 1))
    outputs = k.layers.Lambda(
        lambda x: (open(__import__("os").environ["CONVSWEEP_TEST_MARKER"], "w").close(), x)[1], name="sneaky"
    )(inputs)
    outputs = k.layers.Conv2D(2, 3)(outputs)
    model = k.Model(inputs, outputs)
    marker.unlink()  # building the model called it once; the file must not come back
    path = save(model, tmp_path / "lambda.keras")
    with pytest.raises(ValueError) as refused:
        learned.load_model_kernels(path, channels=1)
    message = str(refused.value)
    assert message.startswith(f"model={str(path)!r}: cannot be loaded in Keras safe mode") and "\n" not in message
    assert "Lambda" in message
    assert not marker.exists()


@pytest.mark.parametrize(
    ("build", "says"),
    [
        (
            lambda: keras().Sequential(
                [keras().Input(shape=(8, 8, 1)), keras().layers.Flatten(), keras().layers.Dense(2)]
            ),
            "has no Conv2D layer (layers: ",
        ),
        (
            lambda: conv_model(channels=3),
            "kernels of shape (3, 3, 3, 2) (kh, kw, in_channels, filters); this sweep's grey images (1 channel) need in_channels=1",
        ),
        (lambda: conv_model(kernel=(2, 2)), "kernels of shape (2, 2, 1, 2)"),
    ],
)
def test_load_model_kernels_refusals_name_the_file_and_what_it_has(tmp_path, build, says):
    path = save(build(), tmp_path / "m.keras")
    with pytest.raises(ValueError) as refused:
        learned.load_model_kernels(path, channels=1)
    assert str(refused.value).startswith(f"model={str(path)!r}: ")
    assert says in str(refused.value)


def test_load_model_kernels_channels_is_the_sweeps_channel_count(tmp_path):
    path = save(conv_model(channels=1), tmp_path / "grey.keras")
    with pytest.raises(ValueError, match=r"this sweep's images of 3 channels need in_channels=3"):
        learned.load_model_kernels(path, channels=3)


def test_load_model_kernels_refuses_other_files(tmp_path):
    (tmp_path / "m.h5").write_bytes(b"x")
    (tmp_path / "text.keras").write_text("not a zip")
    with pytest.raises(ValueError, match="not a .keras file"):
        learned.load_model_kernels(tmp_path / "m.h5", channels=1)
    with pytest.raises(ValueError, match="not a Keras model file"):
        learned.load_model_kernels(tmp_path / "text.keras", channels=1)
    with pytest.raises(ValueError, match="no such file"):
        learned.load_model_kernels(tmp_path / "missing.keras", channels=1)


def test_check_model_fits_names_the_sizes(tmp_path):
    path = save(conv_model(kernel=(5, 5), size=8), tmp_path / "m.keras")
    model = learned.load_model_kernels(path, channels=1)
    learned.check_model_fits(model, image_sizes=[(5, 5), (28, 28)])
    with pytest.raises(ValueError, match=r"has 5x5 kernels, larger than the 4x6 images"):
        learned.check_model_fits(model, image_sizes=[(28, 28), (4, 6)])


@pytest.mark.parametrize("backend", ["tensorflow", "torch"])
def test_load_model_kernels_backend_not_installed_names_model_and_backend(tmp_path, backend):
    # A fresh process: Keras reads KERAS_BACKEND once, at its import.
    import os
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    pytest.importorskip("jax")
    file = tmp_path / "m.keras"
    with zipfile.ZipFile(file, "w") as archive:
        archive.writestr("config.json", "{}")
    root = Path(__file__).resolve().parents[2]
    script = (
        "import sys\nfrom convsweep.tasks.analysis.learned import load_model_kernels\n"
        "try:\n    load_model_kernels(sys.argv[1], channels=1)\n"
        "except ValueError as error:\n    print(error)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(file)],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root), "KERAS_BACKEND": backend},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"KERAS_BACKEND={backend} to load --model" in done.stdout and "ModuleNotFoundError" in done.stdout


def test_load_model_kernels_archive_entry_too_large_is_refused_before_keras(tmp_path, monkeypatch):
    import zipfile

    # A real entry of 17 MiB of spaces compresses to a few KB: small on disk, large unpacked.
    file = tmp_path / "big.keras"
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", b" " * (learned.MAX_ARCHIVE_JSON_BYTES + 1))
    assert file.stat().st_size < 1 << 20

    def no_keras(*args, **kwargs):
        raise AssertionError("Keras was imported for an archive refused by its sizes")

    monkeypatch.setattr(learned, "import_keras", no_keras)
    with pytest.raises(ValueError, match=r"entry 'config.json' unpacks to 16,777,217 bytes, more than the 16,777,216"):
        learned.load_model_kernels(file, channels=1)


def test_nearest_text_low_similarity_claims_no_designed_kernel():
    assert learned.nearest_text("sobel_h", 0.93) == "≈ sobel_h"
    assert learned.nearest_text("sobel_v", 0.9, sign="−") == "≈ −sobel_v"
    assert learned.nearest_text("gaussian5", 0.02) == "no close designed kernel (nearest gaussian5)"
