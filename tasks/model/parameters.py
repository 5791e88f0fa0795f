"""The sweep model: every sweep parameter defined once.

:class:`SweepParameters` holds each parameter's name, default, description,
parser and JSON schema.  Everything else is derived from it:

* the sweep flow's signature, so the flow's parameters, Prefect's parameter
  validation, the deployment's parameter schema and the UI's "Custom run" form
  (``convsweep.flows.sweep``);
* the command-line options of ``convsweep sweep`` and ``convsweep serve``
  (``convsweep.options``);
* config files (:func:`convsweep.tasks.model.config_file.load_config_file`).

A bad value fails the same way everywhere, before any work: a ``ValueError``
naming the parameter and the value (:func:`parse_parameters`); in a run started
from the UI, Prefect's parameter validation refuses it with the same message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import JsonDict
from pydantic_core import PydanticCustomError

from convsweep import conv_core
from convsweep.conv_core import kernels as kernel_library
from convsweep.tasks.model import values
from convsweep.tasks.model.plain import to_plain
from convsweep.tasks.model.records import Selection, SelectionArguments
from convsweep.tasks.model.settings import ConvSetting, PoolSetting, map_names, padding_label, pair_label

SPLITS = ("train", "test", "all")
PAD_MODES = conv_core.PAD_MODES
POOL_MODES = (*conv_core.POOL_MODES, "none")  # 'none' keeps the conv map unpooled
CHANNEL_MODES = ("gray", "each", "sum")
"""gray: the grey decode (today's sweep); each: every RGB channel on its own (DepthwiseConv2D);
sum: the channel responses summed (Conv2D with the 2-D kernel repeated over the channels)."""
RGB = ("R", "G", "B")
"""The channel names of ``channels="each"``, in the order of the images' last axis."""


def channel_names(mode: str) -> tuple[str, ...]:
    """The ``channel`` values of a channel mode: each -> R, G, B; sum -> sum; gray -> gray."""
    return RGB if mode == "each" else (mode,)


_ERROR_TYPE = "convsweep"
MAX_LEARNED_FILTERS = 64
# Caps on counts that would otherwise run until killed: epochs of the small CNN (3 is the
# default; hundreds already overfit any dataset here) and one chunk's memory (1 TiB).
MAX_LEARNED_EPOCHS = 1000
MAX_MEMORY_BUDGET_MB = 1 << 20


def _refuse(message: str) -> PydanticCustomError:
    # A custom error keeps our message as it is (pydantic would prefix "Value error, ").
    return PydanticCustomError(_ERROR_TYPE, "{message}", {"message": message})


def _parser(parse: Callable[[Any, str], Any]) -> BeforeValidator:
    """``parse(value, argument)`` as a pydantic validator whose errors are our one-line messages."""

    def validate(value: Any, info: ValidationInfo) -> Any:
        argument = info.field_name
        if argument is None:  # pydantic names the field of every field validator
            raise TypeError("a sweep parameter parser ran without a field name")
        try:
            return parse(value, argument)
        except (ValueError, TypeError) as error:
            raise _refuse(str(error)) from None

    return BeforeValidator(validate)


def _each(parse_item: Callable[..., Any], *, allow_empty: bool = False) -> Callable[[Any, str], list[Any]]:
    return lambda value, argument: [
        parse_item(item, argument=argument)
        for item in values.as_list(value, argument=argument, allow_empty=allow_empty)
    ]


def _plain_pair(pair: tuple[int, int] | None) -> Any:
    # What a person would write: 2 for (2, 2), [2, 1] otherwise.
    if pair is None:
        return None
    return pair[0] if pair[0] == pair[1] else list(pair)


def _plain_padding(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


# JSON schemas of the value kinds, for the deployment's parameter schema and the UI's form.
_PAIR_ITEM = {
    "anyOf": [
        {"type": "integer", "minimum": 1},
        {"type": "string", "pattern": r"^\d+(x\d+)?$"},
        {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 2, "maxItems": 2},
    ]
}
_PADDING_ITEM = {
    "anyOf": [
        {"type": "string", "examples": ["valid", "same", "full", "1", "1x2", "0x1x1x0"]},
        {"type": "integer", "minimum": 0},
        {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 2, "maxItems": 4},
    ]
}


def _list_schema(item: dict[str, Any]) -> WithJsonSchema:
    return WithJsonSchema({"type": "array", "items": item})


def _enum_list_schema(allowed: tuple[str, ...]) -> WithJsonSchema:
    return WithJsonSchema({"type": "array", "items": {"type": "string", "enum": list(allowed)}, "uniqueItems": True})


PairList = Annotated[
    Any,
    _parser(_each(values.positive_pair)),
    PlainSerializer(lambda pairs: [_plain_pair(pair) for pair in pairs]),
    _list_schema(_PAIR_ITEM),
]
OptionalPairList = Annotated[
    Any,
    _parser(
        _each(
            lambda item, argument: (
                None
                if item is None or (isinstance(item, str) and item.strip().lower() in ("", "none", "size"))
                else values.positive_pair(item, argument=argument)
            )
        )
    ),
    PlainSerializer(lambda pairs: [_plain_pair(pair) for pair in pairs]),
    _list_schema({"anyOf": [*_PAIR_ITEM["anyOf"], {"type": "null"}]}),
]
ResizeList = Annotated[
    Any,
    _parser(_each(values.resize_size)),
    PlainSerializer(lambda sizes: ["native" if size is None else _plain_pair(size) for size in sizes]),
    _list_schema({"anyOf": [{"type": "string", "examples": ["native", "27", "32x32"]}, *_PAIR_ITEM["anyOf"][0:1]]}),
]
PaddingList = Annotated[
    Any,
    _parser(_each(values.padding)),
    PlainSerializer(lambda paddings: [_plain_padding(item) for item in paddings]),
    _list_schema(_PADDING_ITEM),
]
PoolPaddingList = Annotated[
    Any,
    _parser(_each(lambda item, argument: values.padding(item, argument=argument, allow_full=False))),
    PlainSerializer(lambda paddings: [_plain_padding(item) for item in paddings]),
    _list_schema(_PADDING_ITEM),
]
PadModeList = Annotated[
    Any,
    _parser(_each(lambda item, argument: values.choice(item, argument=argument, allowed=PAD_MODES))),
    _enum_list_schema(PAD_MODES),
]
ChannelModeList = Annotated[
    Any,
    _parser(
        lambda value, argument: list(
            dict.fromkeys(
                values.choice(item, argument=argument, allowed=CHANNEL_MODES)
                for item in values.as_list(value, argument=argument)
            )
        )
    ),
    _enum_list_schema(CHANNEL_MODES),
]
PoolModeList = Annotated[
    Any,
    _parser(_each(lambda item, argument: values.choice(item, argument=argument, allowed=POOL_MODES))),
    _enum_list_schema(POOL_MODES),
]
Count = Annotated[
    Any,
    _parser(lambda value, argument: values.optional_count(value, argument=argument)),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 0, "maximum": values.MAX_COUNT}, {"type": "null"}]}),
]
PositiveCount = Annotated[
    Any,
    _parser(lambda value, argument: values.optional_count(value, argument=argument, minimum=1)),
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": values.MAX_COUNT}),
]
Epochs = Annotated[
    Any,
    _parser(
        lambda value, argument: values.optional_count(value, argument=argument, minimum=1, maximum=MAX_LEARNED_EPOCHS)
    ),
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_LEARNED_EPOCHS}),
]
MemoryBudget = Annotated[
    Any,
    _parser(
        lambda value, argument: values.optional_count(value, argument=argument, minimum=1, maximum=MAX_MEMORY_BUDGET_MB)
    ),
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_MEMORY_BUDGET_MB}),
]
Limit = Annotated[
    Any,
    _parser(lambda value, argument: _limit(value)),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]}),
]
CountList = Annotated[
    Any,
    _parser(
        lambda value, argument: [
            values.optional_count(item, argument=argument)
            for item in values.as_list(value, argument=argument, allow_empty=True)
            if item is not None
        ]
    ),
    _list_schema({"type": "integer", "minimum": 0}),
]
Classes = Annotated[
    Any,
    _parser(lambda value, argument: _classes(value)),
    WithJsonSchema(
        {"anyOf": [{"type": "array", "items": {"anyOf": [{"type": "integer"}, {"type": "string"}]}}, {"type": "null"}]}
    ),
]
NameList = Annotated[
    Any,
    _parser(
        lambda value, argument: [
            str(item).strip()
            for item in values.as_list(value, argument=argument, allow_empty=True)
            if item not in (None, "")
        ]
    ),
    _list_schema({"type": "string", "examples": kernel_library.names()}),
]
KernelTexts = Annotated[
    Any,
    _parser(lambda value, argument: _custom_kernels(value)),
    WithJsonSchema(
        {
            "type": "object",
            "additionalProperties": {
                "anyOf": [
                    {"type": "string", "examples": ["1,0,-1;2,0,-2;1,0,-1"]},
                    {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
                ]
            },
        }
    ),
]
Boolean = Annotated[
    Any,
    _parser(lambda value, argument: values.boolean(value, argument=argument)),
    WithJsonSchema({"type": "boolean"}),
]
Folder = Annotated[
    Any,
    _parser(lambda value, argument: values.absolute_path(value, argument=argument)),
    PlainSerializer(str),
    WithJsonSchema({"type": "string"}),
]
OptionalFolder = Annotated[
    Any,
    _parser(lambda value, argument: None if value in (None, "") else values.absolute_path(value, argument=argument)),
    PlainSerializer(lambda path: None if path is None else str(path)),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "null"}]}),
]
SweepName = Annotated[
    Any,
    _parser(lambda value, argument: None if value is None else values.check_safe_name(value, argument=argument)),
    WithJsonSchema({"anyOf": [{"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"}, {"type": "null"}]}),
]
Split = Annotated[
    Any,
    _parser(lambda value, argument: _split(value)),
    WithJsonSchema({"type": "string", "enum": list(SPLITS)}),
]
ModelFile = Annotated[
    Any,
    _parser(lambda value, argument: None if value in (None, "") else values.absolute_path(value, argument=argument)),
    PlainSerializer(lambda path: None if path is None else str(path)),
    WithJsonSchema({"anyOf": [{"type": "string", "examples": ["my_model.keras"]}, {"type": "null"}]}),
]
DatasetText = Annotated[
    Any,
    _parser(lambda value, argument: _dataset(value)),
    WithJsonSchema(
        {"type": "string", "examples": ["fashion_mnist", "mnist", "idx:/data/mnist", "images:/data/photos"]}
    ),
]


# Where each parameter is shown (the CLI's help panels, the docs' tables) and the kind of value
# it takes (the CLI's metavar: INT, LIST of comma-separated items, PATH, ...; none for on/off switches).
PANELS = ("Data", "Convolution", "Pooling", "Outputs", "Running")


def _shown(panel: str, metavar: str | None = None) -> JsonDict:
    if panel not in PANELS:
        raise ValueError(f"panel {panel!r} is not one of {', '.join(PANELS)}")
    return {"panel": panel, "metavar": metavar} if metavar else {"panel": panel}


def _limit(value: Any) -> int | None:
    limit = values.optional_count(value, argument="limit")
    if limit == 0:
        raise ValueError("limit=0 selects no image: give a positive limit")
    return limit


def _split(value: Any) -> str:
    split = str(value).strip().lower()
    if split not in SPLITS:
        raise ValueError(f"split={value!r} must be one of {', '.join(SPLITS)}")
    return split


def _classes(value: Any) -> tuple[int | str | None, ...] | None:
    # Labels (ints) or class names ("Sneaker"); names are matched when the data is opened.
    # A None item (classes=[None]) is kept as None, as optional_count gives it.
    if value is None:
        return None
    return tuple(
        item.strip()
        if isinstance(item, str) and not item.strip().isdigit()
        else values.optional_count(item, argument="classes")
        for item in values.as_list(value, argument="classes")
    )


def _custom_kernels(value: Any) -> dict[str, Any]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise TypeError(f"custom_kernels={value!r} must map a kernel name to its matrix")
    return {str(name): matrix for name, matrix in value.items()}


def _dataset(value: Any) -> str:
    # Imported here: the dataset package reads files, the model only checks the spec.
    from convsweep.tasks.datasets import parse_spec

    text = str(value).strip() if value is not None else ""
    if not text:
        raise ValueError("dataset='' is empty: give a dataset spec such as 'fashion_mnist'")
    spec = parse_spec(text)
    if spec.path is None:
        return text
    if spec.path.exists() and not spec.path.is_dir():
        raise ValueError(f"dataset={text!r}: {spec.path} is a file, not a folder: give the folder that holds it")
    if not spec.path.is_dir():
        raise ValueError(f"dataset={text!r}: folder {spec.path} does not exist")
    # Recorded runs must repeat from any folder: the path is made absolute.
    return f"{spec.kind}:{spec.path.expanduser().absolute()}"


def default_sweep_name(dataset: str, split: str) -> str:
    """``fashion_mnist-test``; for path specs the folder's name (``idx:/data/mnist`` -> ``idx-mnist-test``);
    ``sample`` and ``skimage`` have one split, ``all`` (``skimage:astronaut,coffee`` -> ``skimage-astronaut_coffee-all``)."""
    kind, _, path = dataset.partition(":")
    if kind in ("sample", "skimage"):  # one split whatever was asked: the name says which, as the report does
        split = "all"
    base = kind if not path else f"{kind}-{Path(path.rstrip('/')).name or 'root'}"
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._-") or "sweep"
    return f"{safe}-{split}"


class SweepParameters(BaseModel):
    """A validated sweep: what to read, which settings to run, where to write."""

    model_config = ConfigDict(extra="forbid", validate_default=True, frozen=False)

    # What to read
    dataset: DatasetText = Field(
        "fashion_mnist",
        description="fashion_mnist, mnist, cifar10, cifar100, sample, skimage[:NAME,NAME], idx:FOLDER or images:FOLDER.",
        json_schema_extra=_shown("Data", "SPEC"),
    )
    split: Split = Field(
        "test", description="train, test or all (train then test).", json_schema_extra=_shown("Data", "SPLIT")
    )
    start: Count = Field(
        None, description="First image of the slice (position in the split).", json_schema_extra=_shown("Data", "INT")
    )
    stop: Count = Field(None, description="End of the slice (exclusive).", json_schema_extra=_shown("Data", "INT"))
    limit: Limit = Field(
        None,
        description="At most this many images (after the slice and the class filter).",
        json_schema_extra=_shown("Data", "INT"),
    )
    classes: Classes = Field(
        None,
        description="Only these labels or class names, e.g. 0,3,7 or Sneaker,Bag.",
        json_schema_extra=_shown("Data", "LIST"),
    )
    # Conv settings (their Cartesian product)
    resize: ResizeList = Field(
        ["native"],
        description="Sizes to resize to first: native, an int or HxW.",
        json_schema_extra=_shown("Convolution", "LIST"),
    )
    kernels: NameList = Field(
        ["sobel_h", "sobel_v"],
        description="Built-in kernels (see `convsweep kernels`); custom kernels are added.",
        json_schema_extra=_shown("Convolution", "LIST"),
    )
    custom_kernels: KernelTexts = Field(
        {},
        description="Custom kernels: name -> matrix text '1,0,-1;2,0,-2;1,0,-1' (rows split by ';').",
        json_schema_extra=_shown("Convolution", "NAME=ROWS"),
    )
    learned_filters: Count = Field(
        0,
        description="Train a small CNN (Conv2D F 3x3, ReLU, max pool 2x2, dense softmax) on the dataset's train "
        "split and sweep its F first-layer kernels as learned_0..learned_{F-1} (0: none).",
        json_schema_extra=_shown("Convolution", "F"),
    )
    learned_epochs: Epochs = Field(
        3, description="Epochs of that training.", json_schema_extra=_shown("Convolution", "INT")
    )
    learned_seed: Count = Field(
        0,
        description="Seed of that training (weights, shuffling, the split of a one-split dataset).",
        json_schema_extra=_shown("Convolution", "INT"),
    )
    model: ModelFile = Field(
        None,
        description="A saved Keras model (.keras, loaded in safe mode): its first Conv2D layer's kernels are swept "
        "as model_0, model_1, ...",
        json_schema_extra=_shown("Convolution", "PATH.keras"),
    )
    strides: PairList = Field(
        [1, 2, 3], description="Conv strides: ints or HxW.", json_schema_extra=_shown("Convolution", "LIST")
    )
    paddings: PaddingList = Field(
        ["valid", "same"],
        description="Conv paddings: valid, same (Keras), full, an int, PHxPW, TxBxLxR or BEFORE:AFTER.",
        json_schema_extra=_shown("Convolution", "LIST"),
    )
    pad_modes: PadModeList = Field(
        ["zeros"],
        description="How padding is filled: zeros, reflect, replicate.",
        json_schema_extra=_shown("Convolution", "LIST"),
    )
    dilations: PairList = Field(
        [1], description="Kernel dilations: ints or HxW.", json_schema_extra=_shown("Convolution", "LIST")
    )
    channels: ChannelModeList = Field(
        ["gray"],
        description="Channels: gray (the grey decode), each (R, G, B filtered on their own, as DepthwiseConv2D), "
        "sum (channel responses summed, as Conv2D).",
        json_schema_extra=_shown("Convolution", "LIST"),
    )
    # Pool settings (their Cartesian product)
    pool_modes: PoolModeList = Field(
        ["max", "avg"],
        description="Pooling: max, avg, none (the conv map itself).",
        json_schema_extra=_shown("Pooling", "LIST"),
    )
    pool_sizes: PairList = Field(
        [2], description="Pool window sizes: ints or HxW.", json_schema_extra=_shown("Pooling", "LIST")
    )
    pool_strides: OptionalPairList = Field(
        [None], description="Pool strides (default: the window size).", json_schema_extra=_shown("Pooling", "LIST")
    )
    pool_paddings: PoolPaddingList = Field(
        ["valid"],
        description="Pool paddings: valid, same, an int or PHxPW.",
        json_schema_extra=_shown("Pooling", "LIST"),
    )
    pool_ceil_mode: Boolean = Field(
        False,
        description="PyTorch's ceil_mode for the pool settings: keep a last, overhanging window.",
        json_schema_extra=_shown("Pooling"),
    )
    # What to write (and, with chunk_size and memory_budget, how)
    samples: CountList = Field(
        [0, 1, 2, 3],
        description="Indices of the images drawn as PNGs at every stage.",
        json_schema_extra=_shown("Outputs", "LIST"),
    )
    chunk_size: PositiveCount = Field(
        10_000,
        description="Images per task run (at most; see memory_budget).",
        json_schema_extra=_shown("Running", "INT"),
    )
    memory_budget: MemoryBudget = Field(
        384,
        description="MB one chunk task may use: chunks hold as many images as fit, an image too large for it is "
        "computed in bands of rows (same results). Tasks run concurrently (one per core with threads).",
        json_schema_extra=_shown("Running", "MB"),
    )
    keep_maps: Boolean = Field(
        False, description="Also write the full feature maps as .npy files.", json_schema_extra=_shown("Outputs")
    )
    shift_images: Count = Field(
        0,
        description="Measure shift sensitivity (pooled maps' relative change for 1 px right, 1 px down and "
        "the jump) on a seeded subset of at most this many images; 0: off.",
        json_schema_extra=_shown("Outputs", "INT"),
    )
    probe: Boolean = Field(
        False,
        description="Fit a linear probe per configuration (logistic regression on the pooled maps, train split; "
        "accuracy on the test split).",
        json_schema_extra=_shown("Outputs"),
    )
    probe_train: PositiveCount = Field(
        10_000,
        description="At most this many train images for the probe (a seeded sample).",
        json_schema_extra=_shown("Outputs", "INT"),
    )
    out: Folder = Field(
        "outputs", description="Output root; the sweep writes OUT/NAME/.", json_schema_extra=_shown("Outputs", "PATH")
    )
    name: SweepName = Field(
        None,
        description="Sweep name: the output folder (default: dataset and split).",
        json_schema_extra=_shown("Outputs", "NAME"),
    )
    # How to run
    refresh: Boolean = Field(
        False, description="Recompute every task, ignoring cached results.", json_schema_extra=_shown("Running")
    )
    cache_dir: OptionalFolder = Field(
        None,
        description="Where task results are cached (default OUT/.cache).",
        json_schema_extra=_shown("Running", "PATH"),
    )

    _kernel_matrices: dict[str, tuple[tuple[float, ...], ...]] = PrivateAttr(default_factory=dict)
    _conv_settings: tuple[ConvSetting, ...] = PrivateAttr(default=())
    _pool_settings: tuple[PoolSetting, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _expand(self) -> SweepParameters:
        try:
            self._check_and_expand()
        except (ValueError, TypeError) as error:
            raise _refuse(str(error)) from None
        return self

    def _check_and_expand(self) -> None:
        if self.learned_filters > MAX_LEARNED_FILTERS:
            raise ValueError(f"learned_filters={self.learned_filters} is more than {MAX_LEARNED_FILTERS}")
        if self.start is not None and self.stop is not None and self.stop <= self.start:
            raise ValueError(f"stop={self.stop} must be greater than start={self.start}")

        self._kernel_matrices = self._checked_kernels()
        self._conv_settings = tuple(
            dict.fromkeys(
                ConvSetting(resize=resize, stride=stride, padding=padding, pad_mode=pad_mode, dilation=dilation)
                for resize in self.resize
                for stride in self.strides
                for padding in self.paddings
                for pad_mode in self.pad_modes
                for dilation in self.dilations
            )
        )
        self._pool_settings = tuple(dict.fromkeys(self._checked_pools()))
        if self.name is None:
            self.name = default_sweep_name(self.dataset, self.split)

    def _checked_kernels(self) -> dict[str, tuple[tuple[float, ...], ...]]:
        """Every kernel's matrix (built-in, custom, the model's), or the error naming a bad one."""
        matrices: dict[str, tuple[tuple[float, ...], ...]] = {}
        for name in self.kernels:
            if name not in kernel_library.names() and name not in self.custom_kernels:
                raise ValueError(f"kernels: unknown kernel {name!r}; known: {', '.join(kernel_library.names())}")
            if name in kernel_library.names():
                matrices[name] = values.kernel_matrix(name, kernel_library.get(name))
        for name, matrix in self.custom_kernels.items():
            if re.fullmatch(r"(learned|model)_\d+", name):
                raise ValueError(f"kernel {name!r}: learned_N and model_N name the learned kernels: give another name")
            if name in kernel_library.names():
                raise ValueError(f"kernel {name!r} is a built-in kernel name: give the custom kernel another name")
            matrices[name] = values.kernel_matrix(name, matrix)
        for name, matrix in self.model_kernels.items():
            matrices[name] = values.kernel_matrix(name, matrix)
        if not matrices and not self.learned_filters:
            raise ValueError("kernels: no kernel given")
        return matrices

    def _checked_pools(self) -> list[PoolSetting]:
        """The pool settings' product, or the error naming an explicit padding too wide for its window."""
        pools: list[PoolSetting] = []
        for mode in self.pool_modes:
            if mode == "none":
                pools.append(PoolSetting("none", None, None, None))
                continue
            for size in self.pool_sizes:
                for stride in self.pool_strides:
                    for padding in self.pool_paddings:
                        if not isinstance(padding, str):
                            _check_pool_padding(padding, size)
                        pools.append(PoolSetting(mode, size, stride or size, padding, self.pool_ceil_mode))
        return pools

    # --- what the sweep expands into -------------------------------------------------------

    @property
    def image_channels(self) -> int:
        """Channels of the images the kernels slide over: 1 (grey), what a model's Conv2D must take."""
        return 1

    @property
    def model_kernels(self) -> dict[str, list[list[float]]]:
        """The first Conv2D kernels of ``model`` (``model_0`` ..), empty without one (``convsweep.tasks.analysis.learned``)."""
        if self.model is None:
            return {}
        # Imported here: loading a model imports Keras, which only a sweep with a model needs.
        from convsweep.tasks.analysis.learned import load_model_kernels_once

        return load_model_kernels_once(str(self.model), channels=self.image_channels).kernels

    @property
    def learned_names(self) -> list[str]:
        """``learned_0 .. learned_{F-1}``: the kernels the training adds (``convsweep.tasks.training``)."""
        learned_filters: int = self.learned_filters
        return [f"learned_{index}" for index in range(learned_filters)]

    @property
    def kernel_matrices(self) -> dict[str, tuple[tuple[float, ...], ...]]:
        """Every kernel of the sweep, built-in then custom: name -> rows."""
        return dict(self._kernel_matrices)

    @property
    def conv_settings(self) -> tuple[ConvSetting, ...]:
        return self._conv_settings

    @property
    def pool_settings(self) -> tuple[PoolSetting, ...]:
        return self._pool_settings

    @property
    def map_names(self) -> list[str]:
        """Every output map: each kernel, then the magnitude of each h/v pair present."""
        return map_names(self._kernel_matrices)

    @property
    def n_configurations(self) -> int:
        return len(self._conv_settings) * len(self._pool_settings)

    @property
    def output_dir(self) -> Path:
        # Fields are typed Any (their parsers check them): out is a Path, name a str once expanded.
        out: Path = self.out
        name: str = self.name
        return out / name

    @property
    def colour(self) -> bool:
        """Whether any channel mode reads the images in colour (each, sum)."""
        return any(mode != "gray" for mode in self.channels)

    def selection(self) -> SelectionArguments:
        """Keyword arguments for ``convsweep.tasks.datasets.open_dataset``."""
        classes = None if self.classes is None else tuple(item for item in self.classes if item is not None)
        return Selection(
            split=self.split, start=self.start, stop=self.stop, limit=self.limit, classes=classes
        ).arguments()

    def check_shapes(
        self, *, height: int, width: int, extra_kernels: dict[str, list[list[float]]] | None = None
    ) -> None:
        """Raise ValueError, before any work, for a setting that cannot run on (height, width) images.

        Each problem names its culprit: the kernel (and the size it slides over, after any
        resize), or the pool window and the conv map it slides over. ``extra_kernels`` (the
        learned ones, known once trained) are checked with the sweep's own.
        """
        problems = []
        every_kernel = {**self._kernel_matrices, **(extra_kernels or {})}
        for conv in self._conv_settings:
            size = conv.resize or (height, width)
            on = f"{conv.label} (resized to {size[0]}x{size[1]})" if conv.resize else conv.label
            for name, matrix in every_kernel.items():
                kernel = (len(matrix), len(matrix[0]))
                try:
                    _, conv_shape = conv.output(size, kernel)
                except ValueError as error:
                    problems.append(f"{on}: kernel {name} ({kernel[0]}x{kernel[1]}): {error}")
                    continue
                for pool in self._pool_settings:
                    try:
                        pool.output(conv_shape)
                    except ValueError as error:
                        # conv_core names its window argument kernel_size; here it is the pool window.
                        text = str(error).replace("kernel_size=", "pool window ").replace("padded input", "padded map")
                        problems.append(
                            f"{on}: pool window {pool.label} on the {conv_shape[0]}x{conv_shape[1]} map of kernel {name}: {text}"
                        )
        if problems:
            problems = list(dict.fromkeys(problems))
            shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
            raise ValueError(f"impossible settings for {height}x{width} images: {shown}")

    def to_parameters(self) -> dict[str, Any]:
        """Every parameter in plain JSON form, as a flow run records it (absolute paths, resolved name)."""
        plain: dict[str, Any] = to_plain(self.model_dump(mode="json"))
        if plain.get("channels") == ["gray"]:
            del plain["channels"]  # the default is left out: a grey sweep records what it did before channels
        return plain


def _check_pool_padding(padding: Any, size: tuple[int, int]) -> None:
    """Explicit pool padding is bounded by the window (size // 2), whatever the image."""
    try:
        conv_core.resolve_pool_padding(padding, image_size=(4 * size[0], 4 * size[1]), pool_size=size)
    except ValueError as error:
        raise ValueError(
            f"pool_paddings={padding_label(padding)!r} with pool size {pair_label(size)}: {error}"
        ) from None


PARAMETER_NAMES = tuple(SweepParameters.model_fields)


def parameter_display(name: str) -> tuple[str, str | None]:
    """(panel, metavar) of a sweep parameter, e.g. ``("Data", "INT")`` for ``limit``; metavar None for a switch."""
    extra = SweepParameters.model_fields[name].json_schema_extra
    assert isinstance(extra, dict), f"{name} has no panel"
    return str(extra["panel"]), (str(extra["metavar"]) if "metavar" in extra else None)


# List parameters: None given for one of these means "the default" (e.g. an option not given).
_LIST_PARAMETERS = {
    name for name, field in SweepParameters.model_fields.items() if isinstance(field.default, (list, dict))
}


def one_line(error: ValidationError, *, where: str = "", name_the_key: bool = False) -> str:
    """The first problem of a validation error as one line (our messages name the parameter).

    With ``name_the_key`` a problem of one parameter is prefixed by its key (``strides: ...``),
    as a config file's reader wants.
    """
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"])
    if first["type"] == _ERROR_TYPE:
        message = f"{location}: {first['msg']}" if (location and name_the_key) else first["msg"]
    else:
        message = f"{location}: {first['msg']}" if location else first["msg"]
    return f"{where}{message}"


def parse_parameters(*, where: str = "", name_the_key: bool = False, **given: Any) -> SweepParameters:
    """Validate sweep parameters (see :class:`SweepParameters`); None for a list parameter means its default.

    Raises
    ------
    ValueError
        One line naming the parameter and the value (prefixed by ``where``, e.g. a config file,
        and by the parameter's key with ``name_the_key``).
    """
    unknown = set(given) - set(PARAMETER_NAMES)
    if unknown:
        raise ValueError(f"{where}unknown sweep parameter(s): {', '.join(sorted(unknown))}")
    present = {key: value for key, value in given.items() if not (value is None and key in _LIST_PARAMETERS)}
    try:
        return SweepParameters(**present)
    except ValidationError as error:
        raise ValueError(one_line(error, where=where, name_the_key=name_the_key)) from None
