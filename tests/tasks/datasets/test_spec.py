"""Tests for convsweep.tasks.datasets.spec: parsing and normalising specs; a folder spec's folder must exist."""

from __future__ import annotations

from pathlib import Path

import pytest

from convsweep.tasks.datasets import DatasetSpec, open_dataset, parse_spec


@pytest.mark.parametrize(
    ("text", "kind", "path"),
    [
        ("fashion_mnist", "fashion_mnist", None),
        ("  Fashion-MNIST ", "fashion_mnist", None),
        ("mnist", "mnist", None),
        ("sample", "sample", None),
        ("idx:/data/fm/../fm2", "idx", Path("/data/fm2")),
        ("images:relative/pics", "images", Path.cwd() / "relative" / "pics"),
        ("images:~/pics", "images", Path.home() / "pics"),
    ],
)
def test_parse_spec_normalises_and_round_trips(text, kind, path):
    spec = parse_spec(text)
    assert spec == DatasetSpec(kind, path)
    assert parse_spec(str(spec)) == spec
    assert str(spec) == (kind if path is None else f"{kind}:{path}")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "svhn",
            "spec: unknown dataset 'svhn'; expected fashion_mnist, mnist, cifar10, cifar100, sample, "
            "skimage:NAME,NAME, idx:PATH or images:PATH",
        ),
        ("idx:", "spec: 'idx:' needs a folder after 'idx:'"),
        ("images:  ", "spec: 'images:  ' needs a folder after 'images:'"),
        ("mnist:/data", "spec: 'mnist:/data': 'mnist' takes no path"),
    ],
)
def test_parse_spec_bad_value_names_it(text, message):
    with pytest.raises(ValueError) as error:
        parse_spec(text)
    assert message in str(error.value)


def test_parse_spec_wrong_type_is_type_error():
    with pytest.raises(TypeError, match="spec: expected a string"):
        parse_spec(42)


@pytest.mark.parametrize("kind", ["idx", "images"])
def test_folder_spec_missing_or_not_a_folder(tmp_path, kind):
    missing = tmp_path / "nope"
    with pytest.raises(ValueError) as error:
        open_dataset(f"{kind}:{missing}")
    assert str(error.value) == f"spec: folder {missing} of {kind}:{missing} does not exist"
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(ValueError) as error:
        open_dataset(f"{kind}:{a_file}")
    assert str(error.value) == f"spec: {a_file} of {kind}:{a_file} is a file, not a folder"
