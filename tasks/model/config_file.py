"""Saved sweeps: the sweep parameters in a YAML or JSON file.

Keys are the parameter names (``pool_sizes`` or ``pool-sizes``) and values are
written as on the command line (``strides: 1,2x1``) or as YAML lists
(``strides: [1, [2, 1]]``).  An error names the file and the key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tasks.model.parameters import PARAMETER_NAMES, parse_parameters


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The raw mapping of a config file, keys in snake_case (not yet validated)."""
    import yaml

    config_path = Path(path).expanduser()
    if not config_path.is_file():
        raise ValueError(f"config={str(path)!r}: no such file")
    text = config_path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if config_path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        kind = config_path.suffix.lstrip(".") or "YAML"
        raise ValueError(f"config={str(path)!r} is not valid {kind}: {first}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"config={str(path)!r} must hold a mapping of sweep parameters")
    return {str(key).replace("-", "_"): value for key, value in data.items()}


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Sweep parameters from a YAML or JSON file, checked (ValueError names the file and the key)."""
    parameters = read_config_file(path)
    where = f"config {Path(path).name}: "
    unknown = sorted(set(parameters) - set(PARAMETER_NAMES))
    if unknown:
        raise ValueError(f"{where}unknown key(s) {', '.join(unknown)}; known: {', '.join(PARAMETER_NAMES)}")
    parse_parameters(where=where, name_the_key=True, **parameters)
    return parameters


__all__ = ["load_config_file", "read_config_file", "parse_parameters"]
