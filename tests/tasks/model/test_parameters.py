"""Sweep settings: validation, expansion and the plain-JSON normal form behind cache keys."""

from __future__ import annotations

import numpy as np
import pytest

from convsweep.tasks.model import (
    PANELS,
    PARAMETER_NAMES,
    SweepParameters,
    canonical_json,
    check_safe_name,
    default_sweep_name,
    parameter_display,
    parse_parameters,
    to_plain,
)


def test_canonical_json_equal_for_equal_numbers():
    assert canonical_json({"stride": 2}) == canonical_json({"stride": np.int64(2)}) == canonical_json({"stride": 2.0})
    assert canonical_json([1, (2, 3)]) == canonical_json(np.array([1, [2, 3]], dtype=object).tolist())
    assert canonical_json({"b": 1, "a": 2}) == '{"a":2,"b":1}'
    assert canonical_json(0.5) != canonical_json(1)


def test_to_plain_keeps_bools_and_fractions():
    assert to_plain(np.bool_(True)) is True
    assert to_plain(np.float32(0.25)) == 0.25
    assert to_plain((np.int32(1), 2.0)) == [1, 2]


def test_parse_parameters_default_sweep_is_the_readme_main_job():
    settings = parse_parameters()
    assert settings.dataset == "fashion_mnist" and settings.split == "test"
    assert list(settings.kernels) == ["sobel_h", "sobel_v"]
    assert settings.map_names == ["sobel_h", "sobel_v", "sobel"]
    assert len(settings.conv_settings) == 6  # strides 1,2,3 x valid,same
    assert [pool.label for pool in settings.pool_settings] == ["max2-s2-pvalid", "avg2-s2-pvalid"]
    assert settings.n_configurations == 12
    assert settings.name == "fashion_mnist-test"


def test_parse_parameters_deduplicates_equal_values():
    settings = parse_parameters(strides=[1, 1.0, np.int64(1), [1, 1]])
    assert len(settings.conv_settings) == 2


def test_parse_parameters_pairs_and_padding_forms():
    settings = parse_parameters(strides=[[2, 1]], paddings=[1, [1, 2], [0, 1, 2, 3], "full"], dilations=[2])
    labels = [conv.label for conv in settings.conv_settings]
    assert labels == [
        "rnative-s2x1-p1-zeros-d2",
        "rnative-s2x1-p1x2-zeros-d2",
        "rnative-s2x1-p0x1x2x3-zeros-d2",
        "rnative-s2x1-pfull-zeros-d2",
    ]


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"strides": [-1]}, "strides=-1 must be positive"),
        ({"strides": []}, r"strides=\[\] is empty"),
        ({"paddings": [-2]}, "paddings=-2 must not be negative"),
        ({"pad_modes": ["wrap"]}, "pad_modes: 'wrap' must be one of zeros, reflect, replicate"),
        ({"chunk_size": 0}, "chunk_size=0 must be a positive int"),
        ({"limit": 0}, "limit=0 selects no image"),
        ({"start": 5, "stop": 5}, "stop=5 must be greater than start=5"),
        ({"resize": ["big"]}, "resize='big' is not a size"),
        ({"pool_paddings": ["full"]}, "pool_paddings='full' is not a pooling padding"),
        ({"custom_kernels": {"sobel_h": "1"}}, "is a built-in kernel name"),
        ({"custom_kernels": {"../x": "1"}}, "kernel name='../x' is not a valid name"),
        ({"dataset": "idx:/no/such/folder"}, "folder /no/such/folder does not exist"),
        ({"colour": "red"}, "unknown sweep parameter"),
    ],
)
def test_parse_parameters_bad_values_name_the_parameter(parameters, message):
    with pytest.raises(ValueError, match=message):
        parse_parameters(**parameters)


@pytest.mark.parametrize("name", ["..", ".hidden", "a/b", "a\\b", "", "x" * 101, "sp ace"])
def test_check_safe_name_rejects_path_tricks(name):
    with pytest.raises(ValueError, match="is not a valid name"):
        check_safe_name(name, argument="name")


def test_default_sweep_name_uses_the_folder_name():
    assert default_sweep_name("idx:/data/mnist/", "train") == "idx-mnist-train"
    assert default_sweep_name("fashion_mnist", "all") == "fashion_mnist-all"


def test_default_sweep_name_one_split_dataset_says_all():
    assert default_sweep_name("skimage:astronaut,coffee", "test") == "skimage-astronaut_coffee-all"
    assert default_sweep_name("sample", "test") == "sample-all"


def test_parse_parameters_pool_padding_bounded_by_window():
    with pytest.raises(ValueError, match=r"pool_paddings='2' with pool size 2: pool padding must be <= size // 2 = 1"):
        parse_parameters(pool_paddings=[2])
    assert [pool.label for pool in parse_parameters(pool_paddings=[1], pool_modes=["max"]).pool_settings] == [
        "max2-s2-p1"
    ]


def test_every_parameter_has_a_panel_and_a_value_kind_but_switches():
    for name in PARAMETER_NAMES:
        panel, metavar = parameter_display(name)
        assert panel in PANELS, name
        is_switch = isinstance(SweepParameters.model_fields[name].default, bool)
        assert (metavar is None) == is_switch, name
    assert parameter_display("limit") == ("Data", "INT")
    assert {parameter_display(name)[0] for name in PARAMETER_NAMES} == set(PANELS)


def test_channels_default_gray_is_left_out_of_the_recorded_parameters():
    from convsweep.tasks.model import parse_parameters

    grey = parse_parameters()
    assert grey.channels == ["gray"] and not grey.colour
    assert "channels" not in grey.to_parameters()  # a grey sweep records what it did before channels
    colour = parse_parameters(channels="each, SUM,each")
    assert colour.channels == ["each", "sum"] and colour.colour
    assert colour.to_parameters()["channels"] == ["each", "sum"]
    assert parse_parameters(**colour.to_parameters()).channels == ["each", "sum"]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (dict(channels="rgb"), "channels: 'rgb' must be one of gray, each, sum"),
    ],
)
def test_channels_bad_value_names_the_parameter(given, message):
    from convsweep.tasks.model import parse_parameters

    with pytest.raises(ValueError, match=message):
        parse_parameters(**given)


def test_parse_parameters_learned_epochs_huge_is_refused():
    with pytest.raises(ValueError, match=r"learned_epochs=100000000000000000000 is more than 1,000"):
        parse_parameters(learned_epochs=10**20)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"memory_budget": 2**21}, "memory_budget=2097152 is more than 1,048,576"),
        ({"shift_images": 2**40}, "shift_images=1099511627776 is more than 2,147,483,647"),
        ({"samples": "0,99999999999999999999"}, "samples=.* is more than 2,147,483,647"),
        ({"learned_seed": "1" * 30}, "learned_seed=.* is more than"),
    ],
)
def test_parse_parameters_unbounded_count_huge_is_refused(given, expected):
    with pytest.raises(ValueError, match=expected):
        parse_parameters(**given)
