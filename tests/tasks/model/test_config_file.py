"""Config files accept what the command line accepts, and an error names the file and the key."""

from __future__ import annotations

import json

import pytest

from convsweep.tasks.model import load_config_file, parse_parameters


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_config_file_accepts_command_line_text_and_yaml_lists_alike(tmp_path):
    as_text = load_config_file(write(tmp_path, "a.yaml", "strides: 1,2x1\npool-sizes: '2,3'\nkeep_maps: no\n"))
    as_lists = load_config_file(
        write(tmp_path, "b.yaml", "strides: [1, [2, 1]]\npool_sizes: [2, 3]\nkeep_maps: false\n")
    )
    first, second = parse_parameters(**as_text), parse_parameters(**as_lists)
    assert first.conv_settings == second.conv_settings
    assert first.pool_settings == second.pool_settings
    assert first.keep_maps is False and second.keep_maps is False
    assert sorted({conv.stride for conv in first.conv_settings}) == [(1, 1), (2, 1)]


def test_config_file_json_is_read_too(tmp_path):
    path = write(tmp_path, "saved.json", json.dumps({"strides": [2], "paddings": "same"}))
    settings = parse_parameters(**load_config_file(path))
    assert [conv.label for conv in settings.conv_settings] == ["rnative-s2-psame-zeros-d1"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("strides: 0\n", "config bad.yaml: strides: strides=0 must be positive"),
        ("keep_maps: maybe\n", "config bad.yaml: keep_maps: keep_maps='maybe' is not a boolean"),
        ("pad-modes: wrap\n", "config bad.yaml: pad_modes: pad_modes: 'wrap' must be one of zeros, reflect, replicate"),
        ("colour: red\n", "config bad.yaml: unknown key(s) colour"),
        ("strides: [1, 2\n", "config='.*bad.yaml' is not valid yaml"),
        ("- 1\n- 2\n", "must hold a mapping of sweep parameters"),
    ],
)
def test_config_file_error_names_the_file_and_the_key(tmp_path, text, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config_file(write(tmp_path, "bad.yaml", text))


@pytest.mark.parametrize(
    ("text", "expected"), [("yes", True), ("No", False), ("true", True), ("off", False), (1, True)]
)
def test_booleans_accept_true_false_yes_no(text, expected):
    assert parse_parameters(keep_maps=text).keep_maps is expected


@pytest.mark.parametrize("text", ["maybe", "2", "", "nope"])
def test_booleans_refuse_anything_else(text):
    with pytest.raises(ValueError, match="is not a boolean"):
        parse_parameters(keep_maps=text)


def test_kernel_that_overflows_float32_on_8_bit_input_is_refused():
    with pytest.raises(ValueError, match="overflow float32"):
        parse_parameters(kernels=[], custom_kernels={"huge": "1e300"})


def test_parameters_are_recorded_absolute_and_reproducible(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    recorded = parse_parameters(dataset="idx:data", out="out", cache_dir="cache").to_parameters()
    assert recorded["dataset"] == f"idx:{tmp_path / 'data'}"
    assert recorded["out"] == str(tmp_path / "out") and recorded["cache_dir"] == str(tmp_path / "cache")
    assert recorded["name"] == "idx-data-test"
    # What a run records validates again to the same sweep, from any folder.
    monkeypatch.chdir("/")
    assert parse_parameters(**recorded).to_parameters() == recorded


def test_config_file_custom_kernels_named_in_kernels_are_known(tmp_path):
    text = "kernels: [ridge, sobel_h]\ncustom_kernels:\n  ridge: '-1,2,-1;-1,2,-1;-1,2,-1'\n"
    settings = parse_parameters(**load_config_file(write(tmp_path, "ridge.yaml", text)))
    assert list(settings.kernel_matrices) == ["sobel_h", "ridge"]


def test_config_file_error_of_the_combination_names_the_file(tmp_path):
    with pytest.raises(ValueError, match="config both.yaml: stop=3 must be greater than start=5"):
        load_config_file(write(tmp_path, "both.yaml", "start: 5\nstop: 3\n"))


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "dup.yaml",
            "strides: 1\npaddings: same\nstrides: 2\n",
            r"config='.*dup\.yaml': key 'strides' is given twice \(line 3\)",
        ),
        (
            "spelled.yaml",
            "pool-sizes: 2\npool_sizes: 3\n",
            r"config='.*spelled\.yaml': key 'pool_sizes' is given twice",
        ),
        ("kernels.yaml", "custom_kernels:\n  a: 1,0;0,1\n  a: 1,1;1,1\n", r"key 'a' is given twice \(line 3\)"),
        ("dup.json", '{"strides": 1, "strides": 2}', r"config='.*dup\.json': key 'strides' is given twice"),
    ],
)
def test_config_file_key_given_twice_is_refused_naming_the_file_and_key(tmp_path, name, text, message):
    with pytest.raises(ValueError, match=message):
        load_config_file(write(tmp_path, name, text))


def test_config_file_not_utf8_names_the_file_and_the_byte(tmp_path):
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(ValueError, match=r"config='.*latin\.yaml' is not UTF-8 text \(byte 0xe9 at offset 9\)"):
        load_config_file(path)


def test_config_file_that_is_a_folder_says_so(tmp_path):
    (tmp_path / "saved").mkdir()
    with pytest.raises(ValueError, match=r"config='.*saved' is a folder, not a YAML or JSON file"):
        load_config_file(tmp_path / "saved")
