"""Convolution arithmetic: padding resolution and output sizes, in one place.

conv2d, pool2d, ``convsweep sizes`` and every CSV get their numbers from here:

* :func:`resolve_padding` turns any padding form into ``(top, bottom, left, right)``;
* :func:`output_size` is the one output-size formula (per axis);
* :func:`conv_formula` writes that formula out with the numbers filled in;
* :func:`receptive_field` chains layers.

The formulas are those of Dumoulin & Visin, "A guide to convolution arithmetic for deep learning"
(2016): with the effective kernel ``k_eff = (k - 1) * d + 1`` and paddings ``p_before``,
``p_after``::

    out = floor((n + p_before + p_after - k_eff) / s) + 1

``"same"`` is Keras/TensorFlow's: ``out = ceil(n / s)``, the total padding
``max((out - 1) * s + k_eff - n, 0)`` split with the smaller half before.  ``ceil_mode`` is
PyTorch's pooling rule: round up, but drop a last window that would start in the right padding.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

from convsweep.conv_core._checks import Padding, Pair, non_negative_int, positive_int, positive_pair


def effective_kernel_size(kernel_size: int, dilation: int = 1) -> int:
    """Span of a dilated kernel: ``(kernel_size - 1) * dilation + 1``."""
    kernel_size = positive_int(kernel_size, "kernel_size")
    dilation = positive_int(dilation, "dilation")
    return (kernel_size - 1) * dilation + 1


def _same_padding(n: int, k_eff: int, stride: int) -> tuple[int, int]:
    # Keras/TensorFlow: as many outputs as ceil(n / s); the odd pixel of padding goes after.
    out = -(-n // stride)
    total = max((out - 1) * stride + k_eff - n, 0)
    return total // 2, total - total // 2


def _resolve_axis(padding: object, *, n: int, k_eff: int, stride: int, name: str) -> tuple[int, int]:
    """One axis: ``"valid"``/``"same"``/``"full"``, an int, or ``(before, after)``."""
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0
        if padding == "same":
            return _same_padding(n, k_eff, stride)
        if padding == "full":
            return k_eff - 1, k_eff - 1
        raise ValueError(f"{name} must be 'valid', 'same', 'full', an int or a tuple of ints, got {name}={padding!r}")
    if isinstance(padding, (tuple, list)):
        if len(padding) != 2:
            raise ValueError(f"{name} for one axis must be an int or (before, after), got {name}={padding!r}")
        return non_negative_int(padding[0], name), non_negative_int(padding[1], name)
    amount = non_negative_int(padding, name)
    return amount, amount


def _split_2d(padding: object) -> tuple[object, object]:
    """A 2-D padding spec as one 1-D spec per axis (height, width)."""
    if isinstance(padding, (tuple, list)):
        if len(padding) == 2:  # (ph, pw): symmetric per axis
            return padding[0], padding[1]
        if len(padding) == 4:  # (top, bottom, left, right)
            return (padding[0], padding[1]), (padding[2], padding[3])
        raise ValueError(
            "padding must be 'valid', 'same', 'full', p, (ph, pw) or (top, bottom, left, right), "
            f"got padding={padding!r}"
        )
    if not isinstance(padding, str):
        if isinstance(padding, (bool, np.bool_)) or not isinstance(padding, numbers.Integral):
            raise TypeError(
                "padding must be 'valid', 'same', 'full', p, (ph, pw) or (top, bottom, left, right), "
                f"got padding={padding!r} ({type(padding).__name__})"
            )
        non_negative_int(padding, "padding")
    return padding, padding


def resolve_padding(
    padding: Padding,
    *,
    image_size: Pair,
    kernel_size: Pair,
    stride: Pair = 1,
    dilation: Pair = 1,
) -> tuple[int, int, int, int]:
    """Resolve any padding form to ``(top, bottom, left, right)`` in pixels.

    Parameters
    ----------
    padding : {"valid", "same", "full"} or int or (ph, pw) or (top, bottom, left, right)
        ``"same"`` follows Keras/TensorFlow (see the module docstring); ``"full"`` pads
        ``k_eff - 1`` on each side; ``p`` pads every side; ``(ph, pw)`` pads top and bottom by
        ``ph``, left and right by ``pw``.
    image_size, kernel_size, stride, dilation : int or (height, width)

    Returns
    -------
    (top, bottom, left, right) : tuple of int
    """
    height, width = positive_pair(image_size, "image_size")
    kernel_h, kernel_w = positive_pair(kernel_size, "kernel_size")
    stride_y, stride_x = positive_pair(stride, "stride")
    dilation_y, dilation_x = positive_pair(dilation, "dilation")
    along_h, along_w = _split_2d(padding)
    top, bottom = _resolve_axis(
        along_h, n=height, k_eff=(kernel_h - 1) * dilation_y + 1, stride=stride_y, name="padding"
    )
    left, right = _resolve_axis(
        along_w, n=width, k_eff=(kernel_w - 1) * dilation_x + 1, stride=stride_x, name="padding"
    )
    return top, bottom, left, right


def resolve_pool_padding(
    padding: Padding, *, image_size: Pair, pool_size: Pair, stride: Pair | None = None
) -> tuple[int, int, int, int]:
    """Pooling padding as ``(top, bottom, left, right)``.

    ``"valid"``, ``"same"`` (Keras/TF) or explicit pixels as in :func:`resolve_padding`, where
    explicit padding may not exceed ``pool_size // 2`` on its axis (PyTorch's rule: every window
    must hold a real pixel).  ``"full"`` is not a pooling padding.
    """
    size_y, size_x = positive_pair(pool_size, "size")
    stride_y, stride_x = positive_pair(stride if stride is not None else (size_y, size_x), "stride")
    if isinstance(padding, str) and padding == "full":
        raise ValueError("padding='full' is not a pooling padding: use 'valid', 'same', an int or a pair")
    pads = resolve_padding(padding, image_size=image_size, kernel_size=(size_y, size_x), stride=(stride_y, stride_x))
    if not isinstance(padding, str):
        limits = (size_y // 2, size_y // 2, size_x // 2, size_x // 2)
        for side, amount, limit, size in zip(
            ("top", "bottom", "left", "right"), pads, limits, (size_y, size_y, size_x, size_x), strict=False
        ):
            if amount > limit:
                raise ValueError(
                    f"pool padding must be <= size // 2 = {limit}, got padding={padding!r} "
                    f"({amount} on the {side}, size={size})"
                )
    return pads


def _output_length(
    n: int, k_eff: int, *, stride: int, before: int, after: int, ceil_mode: bool, what: str
) -> tuple[int, bool]:
    """Output length and whether ceil mode dropped a last window (arguments already checked)."""
    padded = n + before + after
    if padded < k_eff:
        raise ValueError(
            f"{what} is larger than the padded input: {k_eff} > {padded} (n={n} + padding {before} + {after})"
        )
    span = padded - k_eff
    out = span // stride + 1
    if ceil_mode and span % stride:
        # PyTorch: the extra window counts only if it starts in the image or the left padding.
        if out * stride >= n + before:
            return out, True
        out += 1
    return out, False


def _checked_1d(n: int, kernel_size: int, stride: int, dilation: int) -> tuple[int, int, int, int, int, str]:
    n = positive_int(n, "n")
    kernel_size = positive_int(kernel_size, "kernel_size")
    stride = positive_int(stride, "stride")
    dilation = positive_int(dilation, "dilation")
    k_eff = (kernel_size - 1) * dilation + 1
    if dilation == 1:
        what = f"kernel_size={kernel_size}"
    else:
        what = f"kernel_size={kernel_size} (effective {k_eff} with dilation={dilation})"
    return n, kernel_size, stride, dilation, k_eff, what


def output_size(
    n: int,
    kernel_size: int,
    *,
    stride: int = 1,
    padding: str | int | Sequence[int] = "valid",
    dilation: int = 1,
    ceil_mode: bool = False,
) -> int:
    """Output length of a convolution or pooling along one axis.

    Parameters
    ----------
    n : int
        Input length (pixels).
    kernel_size : int
        Kernel (or pooling window) length before dilation.
    stride, dilation : int
    padding : {"valid", "same", "full"} or int or (before, after)
    ceil_mode : bool
        PyTorch pooling's rounding (see the module docstring).

    Raises
    ------
    ValueError
        When the effective kernel is larger than the padded input, naming the numbers.
    """
    n, kernel_size, stride, dilation, k_eff, what = _checked_1d(n, kernel_size, stride, dilation)
    before, after = _resolve_axis(padding, n=n, k_eff=k_eff, stride=stride, name="padding")
    out, _ = _output_length(n, k_eff, stride=stride, before=before, after=after, ceil_mode=bool(ceil_mode), what=what)
    return out


def conv_formula(
    n: int,
    kernel_size: int,
    *,
    stride: int = 1,
    pad_before: int = 0,
    pad_after: int = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
) -> str:
    """The output-size arithmetic written out, e.g. ``floor((28 + 1 + 1 - 3) / 2) + 1 = 14``.

    A dilated kernel shows its span, ``((3 - 1) * 2 + 1)``; ``ceil_mode`` shows ``ceil(...)`` and,
    when PyTorch's rule drops the last window, ``- 1`` with the reason.  Raises the same
    ``ValueError`` as :func:`output_size` for an impossible combination.
    """
    n, kernel_size, stride, dilation, k_eff, what = _checked_1d(n, kernel_size, stride, dilation)
    before = non_negative_int(pad_before, "pad_before")
    after = non_negative_int(pad_after, "pad_after")
    out, dropped = _output_length(
        n, k_eff, stride=stride, before=before, after=after, ceil_mode=bool(ceil_mode), what=what
    )
    kernel_text = str(kernel_size) if dilation == 1 else f"(({kernel_size} - 1) * {dilation} + 1)"
    rounding = "ceil" if ceil_mode else "floor"
    text = f"{rounding}(({n} + {before} + {after} - {kernel_text}) / {stride}) + 1"
    if dropped:
        return f"{text} - 1 = {out} (the last window would start in the right padding)"
    return f"{text} = {out}"


def receptive_field(layers: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """Receptive field and jump of a stack of layers, input to output.

    Parameters
    ----------
    layers : sequence of (effective_kernel_size, stride)
        E.g. ``[(3, 1), (2, 2)]`` for a 3x3 convolution followed by 2x2 pooling.

    Returns
    -------
    (receptive_field, jump) : tuple of int
        Input pixels seen by one output pixel, and the input distance between neighbouring
        output pixels (``rf += (k - 1) * jump; jump *= s`` per layer).
    """
    if isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence):
        raise TypeError(f"layers must be a sequence of (kernel_size, stride) pairs, got {layers!r}")
    field, jump = 1, 1
    for index, layer in enumerate(layers):
        if not isinstance(layer, (tuple, list)) or len(layer) != 2:
            raise ValueError(f"layers[{index}] must be a (kernel_size, stride) pair, got {layer!r}")
        kernel_size = positive_int(layer[0], f"layers[{index}] kernel_size")
        stride = positive_int(layer[1], f"layers[{index}] stride")
        field += (kernel_size - 1) * jump
        jump *= stride
    return field, jump
