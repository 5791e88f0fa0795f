"""The settings a sweep expands into: conv settings, pool settings and the maps they make.

A sweep is the Cartesian product of

* **conv settings** (:class:`ConvSetting`): resize x stride x padding x pad mode
  x dilation — one pass of every kernel over the images;
* **pool settings** (:class:`PoolSetting`): pool mode x size x stride x padding,
  applied to every map a conv setting produces.

Tasks receive them in plain JSON form (``to_plain``/``from_plain``) and name
files and table rows by their ``label``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, TypedDict

import numpy.typing as npt

from convsweep import conv_core
from convsweep.tasks.model.plain import to_plain

Padding = str | int | tuple[int, ...]
# ((top, bottom, left, right), (height, width)): a setting's padding and output size.
Output = tuple[tuple[int, int, int, int], tuple[int, int]]

# h/v kernel pairs whose magnitude sqrt(h² + v²) is reported as its own map.
MAGNITUDE_PAIRS = {
    "sobel": ("sobel_h", "sobel_v"),
    "scharr": ("scharr_h", "scharr_v"),
    "prewitt": ("prewitt_h", "prewitt_v"),
}


def magnitude_pairs(kernel_names: Iterable[str]) -> dict[str, tuple[str, str]]:
    """The h/v pairs whose both kernels are in ``kernel_names``, e.g. {'sobel': ('sobel_h', 'sobel_v')}."""
    present = set(kernel_names)
    return {name: pair for name, pair in MAGNITUDE_PAIRS.items() if set(pair) <= present}


def map_names(kernel_names: Iterable[str]) -> list[str]:
    """Every output map of a conv setting: each kernel, then the magnitude of each h/v pair present."""
    names = list(kernel_names)
    return names + list(magnitude_pairs(names))


def padding_label(padding: Padding) -> str:
    """Padding as the user gave it, for CSV cells and file names: 'same', '1', '1x2', '0x1x2x3'."""
    if isinstance(padding, (tuple, list)):
        return "x".join(str(item) for item in padding)
    return str(padding)


def pair_label(pair: tuple[int, int]) -> str:
    """'2' for (2, 2), '1x2' for (1, 2)."""
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}x{pair[1]}"


def _times(label: str, times: str = "×") -> str:
    """A pair label in words: '2' -> '2×2', '2x3' -> '2×3'."""
    return label.replace("x", times) if "x" in label else f"{label}{times}{label}"


def _row_pair(cell: Any) -> tuple[int, int]:
    """A sizes.csv pair cell ('2', '1x2', 2, 2.0) back to a pair."""
    text = str(int(cell) if isinstance(cell, float) else cell)
    first, _, second = text.partition("x")
    return (int(first), int(second or first))


def _row_padding(cell: Any) -> Padding:
    """A sizes.csv padding cell ('same', '1', '1x2', '0x1x2x3') back to the padding the user gave."""
    text = str(int(cell) if isinstance(cell, float) else cell)
    if text in ("same", "valid", "full"):
        return text
    parts = tuple(int(part) for part in text.split("x"))
    return parts[0] if len(parts) == 1 else parts


def _pair_or_none(value: Any) -> tuple[int, int] | None:
    return None if value is None else tuple(value)


def _padding_from_plain(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


class ConvPlain(TypedDict):
    """A conv setting in plain JSON form (pairs as lists), as tasks receive it."""

    resize: list[int] | None
    stride: list[int]
    padding: str | int | list[int]
    pad_mode: str
    dilation: list[int]


class PoolPlain(TypedDict):
    """A pool setting in plain JSON form (None for mode 'none')."""

    mode: str
    size: list[int] | None
    stride: list[int] | None
    padding: str | int | list[int] | None
    ceil_mode: bool


# The sizes.csv columns that hold a conv setting and a pool setting (what ``from_row`` reads):
# together they say which configuration a row is of.
CONV_COLUMNS = ("resize", "stride", "padding", "pad_mode", "dilation")
POOL_COLUMNS = ("pool_mode", "pool_size", "pool_stride", "pool_padding")
# The conv setting's columns in the words a table heading uses (the terminal's table, compare's).
CONV_COLUMN_WORDS: tuple[tuple[str, str], ...] = tuple((column, column.replace("_", " ")) for column in CONV_COLUMNS)


@dataclass(frozen=True)
class ConvSetting:
    """One pass of every kernel: resize, then cross-correlate with stride/padding/dilation."""

    resize: tuple[int, int] | None
    stride: tuple[int, int]
    padding: Padding
    pad_mode: str
    dilation: tuple[int, int]

    def output(self, image_size: tuple[int, int], kernel_size: tuple[int, int]) -> Output:
        """``((top, bottom, left, right), (conv_h, conv_w))`` on ``image_size`` images (after resize).

        Raises ValueError (from conv_core) when the kernel cannot fit.
        """
        pads = conv_core.resolve_padding(
            self.padding, image_size=image_size, kernel_size=kernel_size, stride=self.stride, dilation=self.dilation
        )
        conv_h, conv_w = (
            conv_core.output_size(
                image_size[axis],
                kernel_size[axis],
                stride=self.stride[axis],
                padding=pads[2 * axis : 2 * axis + 2],
                dilation=self.dilation[axis],
            )
            for axis in (0, 1)
        )
        return pads, (conv_h, conv_w)

    @property
    def label(self) -> str:
        """A short, path-safe id, e.g. ``r27-s2-psame-zeros-d1``."""
        resize = "native" if self.resize is None else pair_label(self.resize)
        return (
            f"r{resize}-s{pair_label(self.stride)}-p{padding_label(self.padding)}"
            f"-{self.pad_mode}-d{pair_label(self.dilation)}"
        )

    def word_parts(self) -> dict[str, str]:
        """The setting's words piece by piece: {'resize': 'native size', 'stride': 'conv stride 2',
        'padding': 'padding same', 'pad_mode': '(zeros)', 'dilation': 'dilation 1'}."""
        return {
            "resize": "native size" if self.resize is None else f"resize {_times(pair_label(self.resize))}",
            "stride": f"conv stride {pair_label(self.stride).replace('x', '×')}",
            "padding": f"padding {padding_label(self.padding)}",
            "pad_mode": f"({self.pad_mode})",
            "dilation": f"dilation {pair_label(self.dilation).replace('x', '×')}",
        }

    @property
    def words(self) -> str:
        """The setting in words: 'native size · conv stride 2 · padding same (zeros) · dilation 1'."""
        parts = self.word_parts()
        return f"{parts['resize']} · {parts['stride']} · {parts['padding']} {parts['pad_mode']} · {parts['dilation']}"

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ConvSetting:
        """The conv setting of a sizes.csv row (its cells as written or as read back)."""
        resize = str(row["resize"])
        return cls(
            resize=None if resize == "native" else _row_pair(resize),
            stride=_row_pair(row["stride"]),
            padding=_row_padding(row["padding"]),
            pad_mode=str(row["pad_mode"]),
            dilation=_row_pair(row["dilation"]),
        )

    def to_plain(self) -> ConvPlain:
        plain: ConvPlain = to_plain(asdict(self))
        return plain

    @classmethod
    def from_plain(cls, plain: dict[str, Any]) -> ConvSetting:
        """Inverse of :meth:`to_plain` (lists back to tuples), e.g. in a task's inputs."""
        return cls(
            resize=_pair_or_none(plain["resize"]),
            stride=tuple(plain["stride"]),
            padding=_padding_from_plain(plain["padding"]),
            pad_mode=plain["pad_mode"],
            dilation=tuple(plain["dilation"]),
        )


@dataclass(frozen=True)
class PoolSetting:
    """Pooling applied to every map of a conv setting; mode 'none' keeps the conv map."""

    mode: str
    size: tuple[int, int] | None
    stride: tuple[int, int] | None
    padding: Padding | None
    ceil_mode: bool = False  # PyTorch's rounding: keep a last, overhanging window

    # size, stride and padding are None only for mode 'none', which has no window.
    def _missing(self, field: str) -> ValueError:
        return ValueError(f"pool setting {self!r} has no {field}: only mode 'none' pools without one")

    @property
    def _size(self) -> tuple[int, int]:
        if self.size is None:
            raise self._missing("size")
        return self.size

    @property
    def _stride(self) -> tuple[int, int]:
        if self.stride is None:
            raise self._missing("stride")
        return self.stride

    @property
    def _padding(self) -> Padding:
        if self.padding is None:
            raise self._missing("padding")
        return self.padding

    def output(self, map_size: tuple[int, int]) -> Output:
        """``((top, bottom, left, right), (pool_h, pool_w))`` on (map_size) conv maps; mode 'none' keeps them.

        Raises ValueError (from conv_core) when the window cannot fit.
        """
        if self.mode == "none":
            map_h, map_w = map_size
            return (0, 0, 0, 0), (map_h, map_w)
        size, stride = self._size, self._stride
        pads = conv_core.resolve_pool_padding(self._padding, image_size=map_size, pool_size=size, stride=stride)
        pool_h, pool_w = (
            conv_core.output_size(
                map_size[axis],
                size[axis],
                stride=stride[axis],
                padding=pads[2 * axis : 2 * axis + 2],
                ceil_mode=self.ceil_mode,
            )
            for axis in (0, 1)
        )
        return pads, (pool_h, pool_w)

    def apply(self, feature_map: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """Pool (N, H, W) maps; mode 'none' returns them as they are."""
        if self.mode == "none":
            return feature_map
        # pool2d takes stride None as the window size.
        return conv_core.pool2d(
            feature_map, self._size, stride=self.stride, mode=self.mode, padding=self._padding, ceil_mode=self.ceil_mode
        )

    @property
    def label(self) -> str:
        if self.mode == "none":
            return "nopool"
        ceil = "-ceil" if self.ceil_mode else ""
        return f"{self.mode}{pair_label(self._size)}-s{pair_label(self._stride)}-p{padding_label(self._padding)}{ceil}"

    def word_parts(self, times: str = "×") -> dict[str, str]:
        """The setting's words piece by piece (empty for mode 'none'); ``padding`` and ``ceil`` only when not the default.

        E.g. {'mode': 'avg', 'size': '3×3', 'stride': 'stride 2', 'padding': 'pad same', 'ceil': 'ceil mode'}.
        """
        if self.mode == "none":
            return {}
        parts = {
            "mode": self.mode,
            "size": _times(pair_label(self._size), times),
            "stride": f"stride {pair_label(self._stride).replace('x', times)}",
        }
        if padding_label(self._padding) != "valid":
            parts["padding"] = f"pad {padding_label(self._padding)}"
        if self.ceil_mode:
            parts["ceil"] = "ceil mode"
        return parts

    @property
    def words(self) -> str:
        """The setting in words: 'max 2×2 / stride 2', 'avg 3×3 / stride 2, pad same (ceil mode)', 'no pooling'."""
        parts = self.word_parts()
        if not parts:
            return "no pooling"
        text = f"{parts['mode']} {parts['size']} / {parts['stride']}"
        text += f", {parts['padding']}" if "padding" in parts else ""
        return text + (f" ({parts['ceil']})" if "ceil" in parts else "")

    @property
    def short_words(self) -> str:
        """Short words for a cell that cannot wrap: 'max 2×2', 'avg 3×3 s2 pad same', 'max 2×2 ceil'."""
        if self.mode == "none":
            return "no pooling"
        parts = self.word_parts()
        text = f"{parts['mode']} {parts['size']}"
        text += "" if self.stride == self.size else f" s{pair_label(self._stride)}"
        text += f" {parts['padding']}" if "padding" in parts else ""
        return text + (" ceil" if self.ceil_mode else "")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> PoolSetting:
        """The pool setting of a sizes.csv row (cells as written or as read back).

        sizes.csv has no ceil-mode column: ceil mode is read from ``pool_formula``, which
        writes the rounding out (``ceil((26 + 0 + 0 - 3) / 2) + 1 = 13``).
        """
        mode = str(row["pool_mode"])
        if mode == "none":
            return cls("none", None, None, None)
        return cls(
            mode,
            _row_pair(row["pool_size"]),
            _row_pair(row["pool_stride"]),
            _row_padding(row["pool_padding"]),
            "ceil(" in str(row.get("pool_formula", "")),
        )

    def to_plain(self) -> PoolPlain:
        plain: PoolPlain = to_plain(asdict(self))
        return plain

    @classmethod
    def from_plain(cls, plain: dict[str, Any]) -> PoolSetting:
        """Inverse of :meth:`to_plain`."""
        return cls(
            plain["mode"],
            _pair_or_none(plain["size"]),
            _pair_or_none(plain["stride"]),
            _padding_from_plain(plain["padding"]),
            bool(plain.get("ceil_mode", False)),
        )


def pool_label(plain: dict[str, Any]) -> str:
    """The label of a pool setting in plain form."""
    return PoolSetting.from_plain(plain).label
