"""Saved sweeps: the sweep parameters in a YAML or JSON file.

Keys are the parameter names (``pool_sizes`` or ``pool-sizes``) and values are
written as on the command line (``strides: 1,2x1``) or as YAML lists
(``strides: [1, [2, 1]]``).  An error names the file and the key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from convsweep.tasks.model.parameters import PARAMETER_NAMES, parse_parameters


def _unique_keys(pairs: list[tuple[Any, Any]], *, where: str) -> dict[Any, Any]:
    """A mapping from (key, value) pairs; ValueError for a key given twice (the last would win silently)."""
    mapping: dict[Any, Any] = {}
    for key, value in pairs:
        if key in mapping:
            raise ValueError(f"{where}: key {key!r} is given twice: keep one")
        mapping[key] = value
    return mapping


def _yaml_loader(where: str) -> Any:
    """A safe YAML loader that refuses duplicate keys in any mapping."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):  # type: ignore[misc]
        pass

    def construct_mapping(loader: Any, node: Any, deep: bool = False) -> dict[Any, Any]:
        loader.flatten_mapping(node)
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if key in mapping:
                raise ValueError(f"{where}: key {key!r} is given twice (line {key_node.start_mark.line + 1}): keep one")
            mapping[key] = loader.construct_object(value_node, deep=deep)
        return mapping

    UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return UniqueKeyLoader


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The raw mapping of a config file, keys in snake_case (not yet validated).

    Raises ValueError naming the file: missing, a folder, not UTF-8 text, not valid YAML/JSON,
    not a mapping, or a key given twice (``pool-sizes`` and ``pool_sizes`` are one key).
    """
    import yaml

    config_path = Path(path).expanduser()
    where = f"config={str(path)!r}"
    if config_path.is_dir():
        raise ValueError(f"{where} is a folder, not a YAML or JSON file")
    if not config_path.is_file():
        raise ValueError(f"{where}: no such file")
    raw = config_path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{where} is not UTF-8 text (byte 0x{raw[error.start]:02x} at offset {error.start}): "
            "save it as UTF-8 YAML or JSON"
        ) from None
    try:
        if config_path.suffix.lower() == ".json":
            data = json.loads(text, object_pairs_hook=lambda pairs: _unique_keys(pairs, where=where))
        else:
            data = yaml.load(text, Loader=_yaml_loader(where))  # noqa: S506 - a SafeLoader subclass
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        kind = config_path.suffix.lstrip(".") or "YAML"
        raise ValueError(f"{where} is not valid {kind}: {first}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"{where} must hold a mapping of sweep parameters")
    return _unique_keys([(str(key).replace("-", "_"), value) for key, value in data.items()], where=where)


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
