"""The sweep model: parameters, the settings they expand into, and their plain JSON form.

Pure (no Prefect, no file writes): the tasks, the flows and the CLI all build on it.
"""

from convsweep.tasks.model.config_file import load_config_file
from convsweep.tasks.model.parameters import (
    PAD_MODES,
    PANELS,
    PARAMETER_NAMES,
    POOL_MODES,
    SPLITS,
    SweepParameters,
    default_sweep_name,
    parameter_display,
    parse_parameters,
)
from convsweep.tasks.model.plain import canonical_json, to_plain
from convsweep.tasks.model.settings import (
    CONV_COLUMN_WORDS,
    CONV_COLUMNS,
    MAGNITUDE_PAIRS,
    POOL_COLUMNS,
    ConvSetting,
    PoolSetting,
    magnitude_pairs,
    map_names,
    padding_label,
    pair_label,
    pool_label,
)
from convsweep.tasks.model.values import check_safe_name

__all__ = [
    "CONV_COLUMNS",
    "CONV_COLUMN_WORDS",
    "MAGNITUDE_PAIRS",
    "PANELS",
    "PAD_MODES",
    "PARAMETER_NAMES",
    "POOL_COLUMNS",
    "POOL_MODES",
    "SPLITS",
    "ConvSetting",
    "PoolSetting",
    "SweepParameters",
    "canonical_json",
    "check_safe_name",
    "default_sweep_name",
    "load_config_file",
    "magnitude_pairs",
    "map_names",
    "padding_label",
    "pair_label",
    "parameter_display",
    "parse_parameters",
    "pool_label",
    "to_plain",
]
