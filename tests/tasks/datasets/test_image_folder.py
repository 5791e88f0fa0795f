"""Tests for convsweep.tasks.datasets.image_folder: images: folders, labels from class folders,
lazy decoding, streamed fingerprints and every failure message."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from convsweep.tasks.datasets import DatasetError, fingerprint, image_folder, open_dataset, read_images
from convsweep.tasks.datasets import view as view_module
from tests.helpers.idx import make_images


def _write_png(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return path


@pytest.fixture
def class_folder(tmp_path):
    """images:/ folder with classes cat (2 images) and dog (3), 6x8 PNGs, plus ignored files."""
    root = tmp_path / "pets"
    images = make_images(5, height=6, width=8, seed=4)
    names = ["cat/b.png", "cat/a.png", "dog/x/deep.png", "dog/c.PNG", "dog/d.png"]
    for name, image in zip(names, images, strict=False):
        _write_png(root / name, image)
    (root / "dog" / "notes.txt").write_text("not an image")
    _write_png(root / "cat" / ".hidden.png", np.zeros((3, 3), np.uint8))
    order = ["cat/a.png", "cat/b.png", "dog/c.PNG", "dog/d.png", "dog/x/deep.png"]
    expected = np.stack([images[names.index(name)] for name in order])
    return root, expected, np.array([0, 0, 1, 1, 1])


def test_images_folder_sorted_by_path_labelled_by_class_folder(class_folder):
    root, expected, labels = class_folder
    data = read_images(f"images:{root}")
    np.testing.assert_array_equal(data.images, expected)
    np.testing.assert_array_equal(data.labels, labels)
    assert data.class_names == ("cat", "dog")
    assert data.split == "all"
    assert data.source == (f"5 image files under {root} (decoded to grayscale; labels from 2 class folders: cat, dog)")
    assert open_dataset(f"images:{root}", classes="dog", limit=2).indices.tolist() == [2, 3]


def test_images_folder_flat_has_no_labels_and_any_split_is_all(tmp_path):
    images = make_images(3, height=4, width=5)
    for i, image in enumerate(images):
        _write_png(tmp_path / f"img{i}.png", image)
    view = open_dataset(f"images:{tmp_path}", split="train")
    assert view.split == "all" and view.labels is None and view.class_names is None
    np.testing.assert_array_equal(view.read(0, 3), images)
    with pytest.raises(ValueError) as error:
        open_dataset(f"images:{tmp_path}", classes=[0])
    assert str(error.value) == f"classes=[0]: images:{tmp_path} split=all has no labels to filter on"


def test_images_folder_train_test_layout_gives_splits(tmp_path):
    images = make_images(6, height=5, width=5)
    names = ["train/1/a.png", "train/10/b.png", "train/2/c.png", "test/2/d.png", "test/10/e.png", "test/1/f.png"]
    for name, image in zip(names, images, strict=False):
        _write_png(tmp_path / name, image)
    test = read_images(f"images:{tmp_path}", split="test")
    assert test.split == "test"
    assert test.class_names == ("1", "2", "10")  # numeric class names sort as numbers ...
    np.testing.assert_array_equal(test.images, images[[5, 4, 3]])  # ... files by path: 1/, 10/, 2/
    np.testing.assert_array_equal(test.labels, [0, 2, 1])
    every = read_images(f"images:{tmp_path}", split="all")
    np.testing.assert_array_equal(every.images, images[[0, 1, 2, 5, 4, 3]])
    np.testing.assert_array_equal(every.labels, [0, 2, 1, 0, 2, 1])
    (tmp_path / "test").rename(tmp_path / "elsewhere")
    (tmp_path / "elsewhere").rename(tmp_path / "train" / "elsewhere")
    with pytest.raises(ValueError) as error:
        open_dataset(f"images:{tmp_path}", split="test")
    assert str(error.value) == f"split='test': images:{tmp_path} has no test/ folder (it has: train)"


def test_images_folder_jpeg_and_color_bmp_decoded_to_grayscale(tmp_path):
    rng = np.random.default_rng(3)
    color = rng.integers(0, 256, size=(7, 9, 3), dtype=np.uint8)
    assert cv2.imwrite(str(tmp_path / "a.bmp"), color)
    assert cv2.imwrite(str(tmp_path / "b.jpg"), color)
    data = read_images(f"images:{tmp_path}")
    np.testing.assert_array_equal(data.images[0], cv2.cvtColor(color, cv2.COLOR_BGR2GRAY))
    np.testing.assert_array_equal(data.images[1], cv2.imread(str(tmp_path / "b.jpg"), cv2.IMREAD_GRAYSCALE))


def test_images_folder_is_read_lazily_and_streamed(class_folder, monkeypatch):
    root, expected, labels = class_folder
    decoded = []
    real_decode = image_folder._decode_gray
    monkeypatch.setattr(
        image_folder, "_decode_gray", lambda path, h, w: decoded.append(path) or real_decode(path, h, w)
    )
    view = open_dataset(f"images:{root}")
    assert decoded == []  # opening reads file headers only
    np.testing.assert_array_equal(view.read(1, 3), expected[1:3])
    assert len(decoded) == 2
    # Fingerprint streamed in blocks of at most one 6x8 image: bounded memory, same digest.
    monkeypatch.setattr(view_module, "STREAM_BLOCK_BYTES", 6 * 8)
    blocks = []
    real_read = image_folder.FileStore.read
    monkeypatch.setattr(
        image_folder.FileStore,
        "read",
        lambda self, positions, h, w: blocks.append(len(positions)) or real_read(self, positions, h, w),
    )
    assert view.fingerprint == fingerprint(expected, labels)
    assert blocks == [1] * 5


def test_images_folder_fingerprint_follows_a_file_rewritten_within_one_clock_tick(tmp_path):
    # Same size, same mtime, same inode: only the content tells (timestamps tick coarsely).
    images = make_images(2, height=6, width=8)
    paths = [tmp_path / "a.bmp", tmp_path / "b.bmp"]
    for path, image in zip(paths, images, strict=False):
        assert cv2.imwrite(str(path), image)
    before_stat = paths[0].stat()
    before = open_dataset(f"images:{tmp_path}").fingerprint
    changed = images.copy()
    changed[0, 2, 3] ^= 1
    assert cv2.imwrite(str(paths[0]), changed[0])
    os.utime(paths[0], ns=(before_stat.st_atime_ns, before_stat.st_mtime_ns))
    after_stat = paths[0].stat()
    assert (after_stat.st_size, after_stat.st_mtime_ns, after_stat.st_ino) == (
        before_stat.st_size,
        before_stat.st_mtime_ns,
        before_stat.st_ino,
    )
    after = open_dataset(f"images:{tmp_path}").fingerprint
    assert before == fingerprint(images) and after == fingerprint(changed)


def test_images_folder_mixed_sizes_name_two_files(tmp_path):
    _write_png(tmp_path / "a.png", np.zeros((4, 6), np.uint8))
    _write_png(tmp_path / "b.png", np.zeros((4, 6), np.uint8))
    _write_png(tmp_path / "c.png", np.zeros((5, 6), np.uint8))
    with pytest.raises(ValueError) as error:
        open_dataset(f"images:{tmp_path}")
    assert str(error.value) == (
        f"images:{tmp_path} split=all: images differ in size: {tmp_path}/a.png is 4x6 (height x width) "
        f"but {tmp_path}/c.png is 5x6; a selection needs one size: resize the images to one size first, "
        f"or narrow the selection with start/stop/classes"
    )
    assert open_dataset(f"images:{tmp_path}", stop=2).n == 2  # a same-size selection is fine


def test_images_folder_unreadable_image_is_dataset_error(tmp_path):
    _write_png(tmp_path / "a.png", make_images(1, height=40, width=60)[0])
    (tmp_path / "b.png").write_bytes(b"this is not a png")
    with pytest.raises(DatasetError) as error:
        open_dataset(f"images:{tmp_path}")
    assert str(error.value).startswith(f"cannot read image {tmp_path}/b.png: cannot identify image file")
    # A valid header over broken pixel data passes the open and fails when decoded.
    png = (tmp_path / "a.png").read_bytes()
    (tmp_path / "b.png").write_bytes(png[: len(png) // 2])
    view = open_dataset(f"images:{tmp_path}")
    with pytest.raises(DatasetError) as error:
        view.read(0, 2)
    assert str(error.value) == f"cannot read image {tmp_path}/b.png: OpenCV could not decode it"


def test_images_folder_without_images(tmp_path):
    (tmp_path / "readme.txt").write_text("no pictures here")
    with pytest.raises(ValueError) as error:
        open_dataset(f"images:{tmp_path}")
    assert str(error.value) == (
        f"images:{tmp_path}: no PNG/JPEG/BMP image in {tmp_path} (searched recursively; 1 other file(s) ignored)"
    )


def test_images_folder_16_bit_is_scaled_by_the_high_byte_with_one_warning(tmp_path, monkeypatch):
    monkeypatch.setattr(image_folder, "_WARNED_16_BIT", set())
    values = np.arange(2 * 6 * 5, dtype=np.uint16).reshape(2, 6, 5) * 1000 + 255
    for index, image in enumerate(values):
        cv2.imwrite(str(tmp_path / f"{index}.png"), image)
    with pytest.warns(
        UserWarning, match=r"16-bit image scaled to 8 bits by keeping the high byte \(value >> 8\)"
    ) as caught:
        images = open_dataset(f"images:{tmp_path}").read(0, 2)
    assert len(caught) == 1  # once, not once per file
    np.testing.assert_array_equal(images, values >> 8)
    assert images.dtype == np.uint8
    assert images[1, -1, -1] == (59 * 1000 + 255) // 256  # 230


def test_images_folder_image_over_the_pixel_limit_is_refused_in_one_line(tmp_path, monkeypatch):
    from PIL import Image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)  # restored after the test
    monkeypatch.setattr(image_folder, "MAX_IMAGE_PIXELS", 100)
    cv2.imwrite(str(tmp_path / "big.png"), np.zeros((12, 12), np.uint8))
    with pytest.raises(DatasetError) as error:
        open_dataset(f"images:{tmp_path}")
    message = str(error.value)
    assert "\n" not in message
    assert f"image {tmp_path / 'big.png'} is too large to decode: 12x12 = 144 pixels, over the limit of 100" in message


def test_images_folder_far_over_the_limit_is_refused_from_pillows_check_without_a_warning(tmp_path, monkeypatch):
    import warnings

    from PIL import Image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)
    monkeypatch.setattr(image_folder, "MAX_IMAGE_PIXELS", 100)
    cv2.imwrite(str(tmp_path / "huge.png"), np.zeros((30, 30), np.uint8))  # over twice the limit
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a DecompressionBombWarning would fail the test
        with pytest.raises(DatasetError, match=r"huge.png is too large to decode: more than 200 pixels"):
            open_dataset(f"images:{tmp_path}")
