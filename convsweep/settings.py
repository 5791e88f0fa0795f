"""Sweep settings: the one place where sweep parameters are checked and expanded.

The CLI, the sweep flow and the served deployments all build a
:class:`SweepSettings` from plain values (strings, ints, lists, a YAML/JSON
config), so a bad value fails the same way everywhere, before any work: a
``ValueError`` naming the parameter and the value.

A sweep is the Cartesian product of

* **conv settings** (:class:`ConvSetting`): resize x stride x padding x pad mode
  x dilation — one pass of every kernel over the images;
* **pool settings** (:class:`PoolSetting`): pool mode x size x stride x padding,
  applied to every map a conv setting produces.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import conv_core
from conv_core import kernels as kernel_library
from tasks.datasets import parse_spec

# Names that end up in file paths: letters, digits, '.', '_', '-'; no leading dot,
# so a sweep or kernel name can never climb out of the output folder.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")

PAD_MODES = ("zeros", "reflect", "replicate")
POOL_MODES = ("max", "avg", "none")

# h/v kernel pairs whose magnitude sqrt(h² + v²) is reported as its own map.
MAGNITUDE_PAIRS = {
    "sobel": ("sobel_h", "sobel_v"),
    "scharr": ("scharr_h", "scharr_v"),
    "prewitt": ("prewitt_h", "prewitt_v"),
}

DEFAULTS: dict[str, Any] = {
    "dataset": "fashion_mnist",
    "split": "test",
    "start": None,
    "stop": None,
    "limit": None,
    "classes": None,
    "resize": [None],
    "kernels": ["sobel_h", "sobel_v"],
    "custom_kernels": {},
    "strides": [1, 2, 3],
    "paddings": ["valid", "same"],
    "pad_modes": ["zeros"],
    "dilations": [1],
    "pool_modes": ["max", "avg"],
    "pool_sizes": [2],
    "pool_strides": [None],
    "pool_paddings": ["valid"],
    "samples": [0, 1, 2, 3],
    "chunk_size": 10_000,
    "keep_maps": False,
    "out": "outputs",
    "name": None,
}


def check_safe_name(value: str, *, argument: str) -> str:
    """Return ``value`` if it is safe as a single path component, else raise ValueError."""
    if not isinstance(value, str) or not _SAFE_NAME.match(value) or value in {".", ".."}:
        raise ValueError(
            f"{argument}={value!r} is not a valid name: use 1-100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return value


def to_plain(value: Any) -> Any:
    """Normalise a value to plain JSON types, so that 2, np.int64(2) and 2.0 are one value.

    Integral floats become ints, tuples become lists, numpy scalars and arrays
    become Python numbers and lists, dict keys become strings (sorted on dump).
    """
    if isinstance(value, dict):
        return {str(key): to_plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return to_plain(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if math.isfinite(number) and number.is_integer():
            return int(number)
        return number
    if isinstance(value, Path):
        return str(value)
    return value


def canonical_json(value: Any) -> str:
    """Stable JSON text of ``value`` after :func:`to_plain` (sorted keys, no spaces)."""
    return json.dumps(to_plain(value), sort_keys=True, separators=(",", ":"))


def _as_list(value: Any, *, argument: str) -> list[Any]:
    if value is None:
        return [None]
    if isinstance(value, (str, int, float, np.integer, np.floating)):
        return [value]
    if isinstance(value, (list, tuple)):
        if len(value) == 0:
            raise ValueError(f"{argument}={value!r} is empty: give at least one value")
        return list(value)
    raise TypeError(f"{argument} must be a value or a list of values, got {type(value).__name__}")


def _positive_pair(value: Any, *, argument: str) -> tuple[int, int]:
    """An int or (y, x) pair of positive ints."""
    plain = to_plain(value)
    if isinstance(plain, bool) or plain is None:
        raise ValueError(f"{argument}={value!r} must be a positive int or a (y, x) pair")
    items = plain if isinstance(plain, list) else [plain, plain]
    if len(items) != 2 or not all(isinstance(item, int) and not isinstance(item, bool) for item in items):
        raise ValueError(f"{argument}={value!r} must be a positive int or a (y, x) pair of ints")
    if min(items) <= 0:
        raise ValueError(f"{argument}={value!r} must be positive")
    return int(items[0]), int(items[1])


def _padding(value: Any, *, argument: str) -> str | int | tuple[int, ...]:
    """Padding as conv_core accepts it, in plain form (validated by conv_core later)."""
    plain = to_plain(value)
    if isinstance(plain, str):
        text = plain.strip().lower()
        if text in ("valid", "same", "full"):
            return text
        try:
            plain = int(text)
        except ValueError:
            raise ValueError(
                f"{argument}={value!r} is not a padding: use 'valid', 'same', 'full', an int, "
                "(ph, pw) or (top, bottom, left, right)"
            ) from None
    if isinstance(plain, bool):
        raise ValueError(f"{argument}={value!r} is not a padding")
    if isinstance(plain, int):
        if plain < 0:
            raise ValueError(f"{argument}={value!r} must not be negative")
        return plain
    if (
        isinstance(plain, list)
        and len(plain) in (2, 4)
        and all(isinstance(item, int) and not isinstance(item, bool) for item in plain)
    ):
        if min(plain) < 0:
            raise ValueError(f"{argument}={value!r} must not be negative")
        return tuple(plain)
    raise ValueError(
        f"{argument}={value!r} is not a padding: use 'valid', 'same', 'full', an int, "
        "(ph, pw) or (top, bottom, left, right)"
    )


def padding_label(padding: str | int | tuple[int, ...]) -> str:
    """Padding as the user gave it, for CSV cells and file names: 'same', '1', '1x2', '0x1x2x3'."""
    if isinstance(padding, tuple):
        return "x".join(str(item) for item in padding)
    return str(padding)


def pair_label(pair: tuple[int, int]) -> str:
    """'2' for (2, 2), '1x2' for (1, 2)."""
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}x{pair[1]}"


@dataclass(frozen=True)
class ConvSetting:
    """One pass of every kernel: resize, then cross-correlate with stride/padding/dilation."""

    resize: tuple[int, int] | None
    stride: tuple[int, int]
    padding: str | int | tuple[int, ...]
    pad_mode: str
    dilation: tuple[int, int]

    def output(self, image_size: tuple[int, int], kernel_size: tuple[int, int]):
        """``((top, bottom, left, right), (conv_h, conv_w))`` on ``image_size`` images (after resize).

        Raises ValueError (from conv_core) when the kernel cannot fit.
        """
        pads = conv_core.resolve_padding(
            self.padding, image_size=image_size, kernel_size=kernel_size, stride=self.stride, dilation=self.dilation
        )
        shape = tuple(
            conv_core.output_size(
                image_size[axis],
                kernel_size[axis],
                stride=self.stride[axis],
                padding=pads[2 * axis : 2 * axis + 2],
                dilation=self.dilation[axis],
            )
            for axis in (0, 1)
        )
        return pads, shape

    @property
    def label(self) -> str:
        """A short, path-safe id, e.g. ``r27-s2-psame-zeros-d1``."""
        resize = "native" if self.resize is None else pair_label(self.resize)
        return (
            f"r{resize}-s{pair_label(self.stride)}-p{padding_label(self.padding)}"
            f"-{self.pad_mode}-d{pair_label(self.dilation)}"
        )

    def to_plain(self) -> dict[str, Any]:
        return to_plain(asdict(self))

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


def _pair_or_none(value: Any) -> tuple[int, int] | None:
    return None if value is None else tuple(value)


def _padding_from_plain(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


@dataclass(frozen=True)
class PoolSetting:
    """Pooling applied to every map of a conv setting; mode 'none' keeps the conv map."""

    mode: str
    size: tuple[int, int] | None
    stride: tuple[int, int] | None
    padding: str | int | tuple[int, ...] | None

    def output(self, map_size: tuple[int, int]):
        """``((top, bottom, left, right), (pool_h, pool_w))`` on (map_size) conv maps; mode 'none' keeps them.

        Raises ValueError (from conv_core) when the window cannot fit.
        """
        if self.mode == "none":
            return (0, 0, 0, 0), tuple(map_size)
        pads = conv_core.resolve_pool_padding(
            self.padding, image_size=map_size, pool_size=self.size, stride=self.stride
        )
        shape = tuple(
            conv_core.output_size(
                map_size[axis], self.size[axis], stride=self.stride[axis], padding=pads[2 * axis : 2 * axis + 2]
            )
            for axis in (0, 1)
        )
        return pads, shape

    @property
    def label(self) -> str:
        if self.mode == "none":
            return "nopool"
        return f"{self.mode}{pair_label(self.size)}-s{pair_label(self.stride)}-p{padding_label(self.padding)}"

    def to_plain(self) -> dict[str, Any]:
        return to_plain(asdict(self))

    @classmethod
    def from_plain(cls, plain: dict[str, Any]) -> PoolSetting:
        """Inverse of :meth:`to_plain`."""
        return cls(
            plain["mode"],
            _pair_or_none(plain["size"]),
            _pair_or_none(plain["stride"]),
            _padding_from_plain(plain["padding"]),
        )


def conv_label(plain: dict[str, Any]) -> str:
    """The label of a conv setting in plain form (as tasks receive it)."""
    return ConvSetting.from_plain(plain).label


def pool_label(plain: dict[str, Any]) -> str:
    """The label of a pool setting in plain form."""
    return PoolSetting.from_plain(plain).label


@dataclass(frozen=True)
class SweepSettings:
    """A validated sweep: what to read, which settings to run, where to write."""

    dataset: str
    split: str
    start: int | None
    stop: int | None
    limit: int | None
    classes: tuple[int | str, ...] | None
    kernels: dict[str, tuple[tuple[float, ...], ...]]
    conv_settings: tuple[ConvSetting, ...]
    pool_settings: tuple[PoolSetting, ...]
    samples: tuple[int, ...]
    chunk_size: int
    keep_maps: bool
    out: Path
    name: str
    given: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def output_dir(self) -> Path:
        return self.out / self.name

    @property
    def map_names(self) -> list[str]:
        """Every output map: each kernel, then the magnitude of each h/v pair present."""
        return list(self.kernels) + [name for name in magnitude_pairs(self.kernels)]

    @property
    def n_configurations(self) -> int:
        return len(self.conv_settings) * len(self.pool_settings)

    def selection(self) -> dict[str, Any]:
        """Keyword arguments for ``tasks.datasets.open_dataset``."""
        return {
            "split": self.split,
            "start": self.start,
            "stop": self.stop,
            "limit": self.limit,
            "classes": list(self.classes) if self.classes is not None else None,
        }


def magnitude_pairs(kernel_names: Iterable[str]) -> dict[str, tuple[str, str]]:
    """The h/v pairs whose both kernels are in ``kernel_names``, e.g. {'sobel': ('sobel_h', 'sobel_v')}."""
    present = set(kernel_names)
    return {name: pair for name, pair in MAGNITUDE_PAIRS.items() if set(pair) <= present}


def _optional_nonnegative_int(value: Any, *, argument: str) -> int | None:
    if value is None:
        return None
    plain = to_plain(value)
    if isinstance(plain, str) and plain.strip().lstrip("-").isdigit():
        plain = int(plain)
    if not isinstance(plain, int) or isinstance(plain, bool) or plain < 0:
        raise ValueError(f"{argument}={value!r} must be a non-negative int")
    return plain


def _resize_size(value: Any) -> tuple[int, int] | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("native", "none", "")):
        return None
    if isinstance(value, str):
        parts = re.split(r"[x,]", value.strip().lower())
        try:
            value = [int(part) for part in parts]
        except ValueError:
            raise ValueError(f"resize={value!r} is not a size: use an int, HxW or 'native'") from None
        if len(value) == 1:
            value = value[0]
    return _positive_pair(value, argument="resize")


def _kernel_matrix(name: str, matrix: Any) -> tuple[tuple[float, ...], ...]:
    check_safe_name(name, argument="kernel name")
    if isinstance(matrix, str):
        array = kernel_library.parse_text(matrix)
    else:
        try:
            array = np.asarray(matrix, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"kernel {name!r}: {matrix!r} is not a numeric matrix") from None
    array = kernel_library.validate(array)
    return tuple(tuple(float(cell) for cell in row) for row in array)


def build_settings(**params: Any) -> SweepSettings:
    """Validate sweep parameters (see ``DEFAULTS``) and expand them into settings.

    Raises
    ------
    ValueError
        Naming the parameter and the value, for anything that would fail later.
    """
    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown sweep parameter(s): {', '.join(sorted(unknown))}")
    values = {**DEFAULTS, **{key: value for key, value in params.items() if value is not None}}
    # None means "default" for list parameters, but a real None for these:
    for key in ("start", "stop", "limit", "classes", "name"):
        values[key] = params.get(key, DEFAULTS[key])

    dataset = str(values["dataset"]).strip()
    if not dataset:
        raise ValueError("dataset='' is empty: give a dataset spec such as 'fashion_mnist'")
    spec = parse_spec(dataset)
    if spec.path is not None and not spec.path.is_dir():
        raise ValueError(f"dataset={dataset!r}: folder {spec.path} does not exist")
    split = str(values["split"]).strip().lower()
    if split not in ("train", "test", "all"):
        raise ValueError(f"split={values['split']!r} must be one of train, test, all")

    start = _optional_nonnegative_int(values["start"], argument="start")
    stop = _optional_nonnegative_int(values["stop"], argument="stop")
    limit = _optional_nonnegative_int(values["limit"], argument="limit")
    if limit == 0:
        raise ValueError("limit=0 selects no image: give a positive limit")
    if start is not None and stop is not None and stop <= start:
        raise ValueError(f"stop={stop} must be greater than start={start}")
    classes = None
    if values["classes"] is not None:
        # Labels (ints) or class names ("Sneaker"); names are matched when the data is opened.
        classes = tuple(
            item.strip()
            if isinstance(item, str) and not item.strip().isdigit()
            else _optional_nonnegative_int(item, argument="classes")
            for item in _as_list(values["classes"], argument="classes")
        )

    kernels: dict[str, tuple[tuple[float, ...], ...]] = {}
    # An empty list is allowed: custom kernels alone replace the built-in ones.
    kernel_names = [] if values["kernels"] == [] else _as_list(values["kernels"], argument="kernels")
    for name in kernel_names:
        if name in (None, ""):
            continue
        if name not in kernel_library.names() and name not in values["custom_kernels"]:
            raise ValueError(f"kernels: unknown kernel {name!r}; known: {', '.join(kernel_library.names())}")
        if name in kernel_library.names():
            kernels[name] = _kernel_matrix(name, kernel_library.get(name))
    for name, matrix in dict(values["custom_kernels"] or {}).items():
        if name in kernel_library.names():
            raise ValueError(f"kernel {name!r} is a built-in kernel name: give the custom kernel another name")
        kernels[name] = _kernel_matrix(name, matrix)
    if not kernels:
        raise ValueError("kernels: no kernel given")

    resizes = [_resize_size(item) for item in _as_list(values["resize"], argument="resize")]
    strides = [_positive_pair(item, argument="strides") for item in _as_list(values["strides"], argument="strides")]
    paddings = [_padding(item, argument="paddings") for item in _as_list(values["paddings"], argument="paddings")]
    pad_modes = [str(item).strip().lower() for item in _as_list(values["pad_modes"], argument="pad_modes")]
    for mode in pad_modes:
        if mode not in PAD_MODES:
            raise ValueError(f"pad_modes: {mode!r} must be one of {', '.join(PAD_MODES)}")
    dilations = [
        _positive_pair(item, argument="dilations") for item in _as_list(values["dilations"], argument="dilations")
    ]
    conv_settings = tuple(
        dict.fromkeys(
            ConvSetting(resize=resize, stride=stride, padding=padding, pad_mode=pad_mode, dilation=dilation)
            for resize in resizes
            for stride in strides
            for padding in paddings
            for pad_mode in pad_modes
            for dilation in dilations
        )
    )

    pool_modes = [str(item).strip().lower() for item in _as_list(values["pool_modes"], argument="pool_modes")]
    for mode in pool_modes:
        if mode not in POOL_MODES:
            raise ValueError(f"pool_modes: {mode!r} must be one of {', '.join(POOL_MODES)}")
    pool_sizes = [
        _positive_pair(item, argument="pool_sizes") for item in _as_list(values["pool_sizes"], argument="pool_sizes")
    ]
    pool_strides = [
        None if item in (None, "", "none", "size") else _positive_pair(item, argument="pool_strides")
        for item in _as_list(values["pool_strides"], argument="pool_strides")
    ]
    pool_paddings = [
        _padding(item, argument="pool_paddings") for item in _as_list(values["pool_paddings"], argument="pool_paddings")
    ]
    pool_settings: list[PoolSetting] = []
    for mode in pool_modes:
        if mode == "none":
            pool_settings.append(PoolSetting("none", None, None, None))
            continue
        for size in pool_sizes:
            for stride in pool_strides:
                for padding in pool_paddings:
                    if padding == "full":
                        raise ValueError("pool_paddings='full' is not a pooling padding: use 'valid', 'same' or ints")
                    if not isinstance(padding, str):
                        # Explicit pool padding is bounded by the window (size // 2), whatever the image.
                        try:
                            conv_core.resolve_pool_padding(
                                padding, image_size=(4 * size[0], 4 * size[1]), pool_size=size
                            )
                        except ValueError as error:
                            raise ValueError(
                                f"pool_paddings={padding_label(padding)!r} with pool size {pair_label(size)}: {error}"
                            ) from None
                    pool_settings.append(PoolSetting(mode, size, stride or size, padding))
    pool_settings = list(dict.fromkeys(pool_settings))

    samples = tuple(
        _optional_nonnegative_int(item, argument="samples")
        for item in _as_list(values["samples"], argument="samples")
        if item is not None
    )
    chunk_size = _optional_nonnegative_int(values["chunk_size"], argument="chunk_size")
    if not chunk_size:
        raise ValueError(f"chunk_size={values['chunk_size']!r} must be a positive int")
    keep_maps = bool(to_plain(values["keep_maps"]))

    out = Path(str(values["out"])).expanduser()
    name = values["name"] or default_sweep_name(dataset, split)
    check_safe_name(name, argument="name")

    given = {key: to_plain(value) for key, value in params.items()}
    return SweepSettings(
        dataset=dataset,
        split=split,
        start=start,
        stop=stop,
        limit=limit,
        classes=classes,
        kernels=kernels,
        conv_settings=conv_settings,
        pool_settings=tuple(pool_settings),
        samples=samples,
        chunk_size=chunk_size,
        keep_maps=keep_maps,
        out=out,
        name=name,
        given=given,
    )


def default_sweep_name(dataset: str, split: str) -> str:
    """``fashion_mnist-test``; for path specs the folder's name (``idx:/data/mnist`` -> ``idx-mnist-test``)."""
    kind, _, path = dataset.partition(":")
    base = kind if not path else f"{kind}-{Path(path.rstrip('/')).name or 'root'}"
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._-") or "sweep"
    return f"{safe}-{split}"


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Sweep parameters from a YAML or JSON file (keys as in ``DEFAULTS``; kebab-case accepted)."""
    import yaml

    config_path = Path(path).expanduser()
    if not config_path.is_file():
        raise ValueError(f"config={str(path)!r}: no such file")
    text = config_path.read_text(encoding="utf-8")
    try:
        if config_path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            data = yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(
            f"config={str(path)!r} is not valid {config_path.suffix.lstrip('.') or 'YAML'}: {first}"
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"config={str(path)!r} must hold a mapping of sweep parameters")
    return {str(key).replace("-", "_"): value for key, value in data.items()}


def check_shapes(settings: SweepSettings, *, height: int, width: int) -> None:
    """Raise ValueError, before any work, for a conv or pool setting that cannot run on (height, width) images."""
    problems = []
    for conv in settings.conv_settings:
        size = conv.resize or (height, width)
        for name, matrix in settings.kernels.items():
            kernel_size = (len(matrix), len(matrix[0]))
            try:
                _, conv_shape = conv.output(size, kernel_size)
                for pool in settings.pool_settings:
                    pool.output(conv_shape)
            except ValueError as error:
                problems.append(f"{conv.label} with kernel {name}: {error}")
    if problems:
        shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        raise ValueError(f"impossible settings for {height}x{width} images: {shown}")
