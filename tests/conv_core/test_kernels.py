"""Named kernels, the user-kernel rule, and kernel parsing."""

import json

import numpy as np
import pytest

from convsweep.conv_core import kernels

REQUIRED = [
    "sobel_h",
    "sobel_v",
    "scharr_h",
    "scharr_v",
    "prewitt_h",
    "prewitt_v",
    "laplacian",
    "identity",
    "box3",
    "gaussian3",
    "gaussian5",
]


def test_kernels_sobel_exactly_as_the_notebook():
    np.testing.assert_array_equal(kernels.get("sobel_h"), [[1, 2, 1], [0, 0, 0], [-1, -2, -1]])
    np.testing.assert_array_equal(kernels.get("sobel_v"), [[1, 0, -1], [2, 0, -2], [1, 0, -1]])


def test_kernels_names_cover_the_issue_list():
    assert set(REQUIRED) <= set(kernels.names())
    assert len(set(kernels.names())) == len(kernels.names())


@pytest.mark.parametrize("name", REQUIRED)
def test_kernels_get_returns_fresh_float64_copy(name):
    first = kernels.get(name)
    assert first.dtype == np.float64 and first.ndim == 2
    assert first.shape[0] % 2 == 1 and first.shape[1] % 2 == 1
    first[...] = 99
    assert not np.any(kernels.get(name) == 99)


@pytest.mark.parametrize("name", REQUIRED)
def test_kernels_named_pass_validation(name):
    np.testing.assert_array_equal(kernels.validate(kernels.get(name)), kernels.get(name))


def test_kernels_edge_pairs_are_transposes_and_sum_to_zero():
    for family in ("sobel", "scharr", "prewitt"):
        horizontal, vertical = kernels.get(f"{family}_h"), kernels.get(f"{family}_v")
        np.testing.assert_array_equal(horizontal.T, vertical)
        assert horizontal.sum() == 0
    assert kernels.get("laplacian").sum() == 0


def test_kernels_smoothing_kernels_sum_to_one():
    for name in ("box3", "gaussian3", "gaussian5"):
        assert kernels.get(name).sum() == pytest.approx(1.0, abs=1e-15)
    np.testing.assert_array_equal(kernels.get("gaussian3") * 16, [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    assert kernels.get("gaussian5").shape == (5, 5)
    np.testing.assert_array_equal(kernels.get("gaussian5")[2] * 256, [6, 24, 36, 24, 6])


def test_kernels_identity_has_single_centre_one():
    identity = kernels.get("identity")
    assert identity[1, 1] == 1 and identity.sum() == 1


def test_kernels_validate_returns_float64_copy():
    user = np.array([[1, 2, 3]], dtype=np.int32)
    checked = kernels.validate(user)
    assert checked.dtype == np.float64 and checked.flags.c_contiguous
    checked[0, 0] = 7
    assert user[0, 0] == 1


def test_kernels_parse_text_notebook_sobel():
    np.testing.assert_array_equal(kernels.parse_text("1,2,1;0,0,0;-1,-2,-1"), kernels.get("sobel_h"))


def test_kernels_parse_text_spaces_newlines_fractions():
    parsed = kernels.parse_text("1/16 2/16 1/16\n 2/16 4/16 2/16\n1/16 2/16 1/16\n")
    np.testing.assert_array_equal(parsed, kernels.get("gaussian3"))


def test_kernels_parse_json_list_and_object():
    rows = [[1, 0, -1], [2, 0, -2], [1, 0, -1]]
    np.testing.assert_array_equal(kernels.parse_json(json.dumps(rows)), kernels.get("sobel_v"))
    np.testing.assert_array_equal(kernels.parse_json(json.dumps({"kernel": rows})), kernels.get("sobel_v"))


def test_kernels_resolve_name_text_and_array():
    np.testing.assert_array_equal(kernels.resolve("laplacian"), kernels.get("laplacian"))
    np.testing.assert_array_equal(kernels.resolve("0,0,0;0,1,0;0,0,0"), kernels.get("identity"))
    np.testing.assert_array_equal(kernels.resolve([[2.5]]), [[2.5]])


# --- bad kernels: the message names the argument and the value -------------------------------


def test_kernels_get_unknown_name():
    with pytest.raises(ValueError, match=r"unknown kernel name='sobel'; known: sobel_h"):
        kernels.get("sobel")


def test_kernels_get_non_string():
    with pytest.raises(TypeError, match="kernel name must be a str, got 3"):
        kernels.get(3)


@pytest.mark.parametrize("shape", [(2, 3), (3, 2), (4, 4)])
def test_kernels_validate_even_side(shape):
    with pytest.raises(ValueError, match=rf"odd.*shape \({shape[0]}, {shape[1]}\)"):
        kernels.validate(np.ones(shape))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_kernels_validate_non_finite(bad):
    kernel = np.zeros((3, 3))
    kernel[1, 2] = bad
    with pytest.raises(ValueError, match=r"kernel must be finite, got kernel=.*(nan|inf)"):
        kernels.validate(kernel)


def test_kernels_validate_empty():
    with pytest.raises(ValueError, match=r"kernel is empty: shape \(0, 3\)"):
        kernels.validate(np.ones((0, 3)))


@pytest.mark.parametrize("kernel", [[1, 2, 1], np.ones((3, 3, 3)), 5])
def test_kernels_validate_not_2d(kernel):
    with pytest.raises(ValueError, match="kernel must be 2-D, got"):
        kernels.validate(kernel)


def test_kernels_validate_ragged():
    with pytest.raises(ValueError, match="kernel must be a rectangular 2-D array"):
        kernels.validate([[1, 2, 3], [4, 5]])


@pytest.mark.parametrize("kernel", [[["a", "b", "c"]], np.ones((3, 3), bool), np.ones((1, 1), complex)])
def test_kernels_validate_non_numeric_is_type_error(kernel):
    with pytest.raises(TypeError, match="kernel must hold real numbers"):
        kernels.validate(kernel)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1,2;3", "rows have different lengths"),
        ("1,x,1", r"bad number 'x' in row 0"),
        ("1,1/0,1", r"bad number '1/0'"),
        ("1,nan,1", "non-finite number 'nan'"),
        (" ; ", "kernel text is empty"),
        ("1,1;1,1", "odd"),
    ],
)
def test_kernels_parse_text_errors(text, message):
    with pytest.raises(ValueError, match=message):
        kernels.parse_text(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[1, 2", "not valid JSON"),
        ('{"weights": [[1]]}', r"needs a 'kernel' key, got keys \['weights'\]"),
        ("[1, 2, 3]", "must be a list of rows"),
        ('[["1"]]', "values must be numbers, got '1'"),
        ("[[true]]", "values must be numbers, got True"),
    ],
)
def test_kernels_parse_json_errors(text, message):
    with pytest.raises(ValueError, match=message):
        kernels.parse_json(text)


def test_kernels_resolve_unknown_word():
    with pytest.raises(ValueError, match="unknown kernel name='edges'"):
        kernels.resolve("edges")


def _similarity_loop(a, b):
    """The definition, literally: cosine of the zero-mean kernels, sign dropped."""
    a = [[float(v) for v in row] for row in a]
    b = [[float(v) for v in row] for row in b]
    cells = [(i, j) for i in range(len(a)) for j in range(len(a[0]))]
    mean_a = sum(a[i][j] for i, j in cells) / len(cells)
    mean_b = sum(b[i][j] for i, j in cells) / len(cells)
    dot = sum((a[i][j] - mean_a) * (b[i][j] - mean_b) for i, j in cells)
    norm_a = sum((a[i][j] - mean_a) ** 2 for i, j in cells) ** 0.5
    norm_b = sum((b[i][j] - mean_b) ** 2 for i, j in cells) ** 0.5
    return 0.0 if norm_a * norm_b == 0 else abs(dot) / (norm_a * norm_b)


def test_similarity_equals_the_loop_oracle_on_seeded_kernels():
    rng = np.random.default_rng(0)
    for _ in range(20):
        a, b = rng.normal(size=(2, 3, 3))
        assert kernels.similarity(a, b) == pytest.approx(_similarity_loop(a, b), abs=1e-12)


def test_similarity_ignores_sign_scale_and_offset():
    sobel = kernels.get("sobel_h")
    assert kernels.similarity(sobel, -2.5 * sobel + 7.0) == pytest.approx(1.0)
    assert kernels.similarity(kernels.get("sobel_h"), kernels.get("sobel_v")) == pytest.approx(0.0, abs=1e-15)
    assert kernels.similarity(kernels.get("box3"), sobel) == 0.0  # constant: nothing left after the mean


def test_similarity_refuses_other_shapes():
    with pytest.raises(ValueError, match=r"other must have the shape of kernel \(3, 3\), got \(5, 5\)"):
        kernels.similarity(kernels.get("sobel_h"), kernels.get("gaussian5"))


def test_nearest_named_finds_each_named_kernel_itself():
    for name in kernels.names():
        kernel = kernels.get(name)
        if np.ptp(kernel) == 0:
            continue  # box3: constant, no direction to find
        nearest, score = kernels.nearest_named(-3.0 * kernel + 1.0)
        assert score == pytest.approx(1.0)
        assert kernels.similarity(kernels.get(nearest), kernel) == pytest.approx(1.0)


def test_nearest_named_of_a_shape_no_named_kernel_has():
    with pytest.raises(ValueError, match=r"shape \(7, 7\): no named kernel"):
        kernels.nearest_named(np.ones((7, 7)))


def test_parse_text_channels_split_by_bar_make_a_3d_kernel():
    kernel = kernels.parse_text("0,0,0;0,1,0;0,0,0 | 1,2,1;0,0,0;-1,-2,-1 | 1/9 1/9 1/9; 1/9 1/9 1/9; 1/9 1/9 1/9")
    assert kernel.shape == (3, 3, 3)
    np.testing.assert_array_equal(kernel[:, :, 1], kernels.get("sobel_h"))
    assert kernel[1, 1, 0] == 1 and kernel[0, 0, 2] == 1 / 9
    assert kernels.resolve("1 | 2 | 3").shape == (1, 1, 3)


def test_parse_text_channels_of_different_shapes_are_refused():
    with pytest.raises(ValueError, match="different shapes"):
        kernels.parse_text("1,2,1 | 1")


def test_validate_channels_checks_every_channel():
    with pytest.raises(ValueError, match=r"kernel\[:, :, 0\] sides must be odd"):
        kernels.validate_channels(np.ones((2, 3, 2)))
    with pytest.raises(ValueError, match="2-D .* or 3-D"):
        kernels.validate_channels(np.ones((3, 3, 3, 1)))
    assert kernels.validate_channels(np.ones((3, 5))).shape == (3, 5)
