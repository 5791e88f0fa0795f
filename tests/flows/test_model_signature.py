"""The sweep flow's parameters come from the sweep model: signature, schema (the UI's form), validation."""

from __future__ import annotations

import inspect

import pytest
from prefect.exceptions import ParameterTypeError

from convsweep.flows.sweep import sweep
from convsweep.tasks.model import PARAMETER_NAMES, SweepParameters


def test_flow_parameters_are_the_model_fields_with_their_defaults():
    signature = inspect.signature(sweep.fn)
    assert tuple(signature.parameters) == PARAMETER_NAMES
    for name, parameter in signature.parameters.items():
        assert parameter.default == SweepParameters.model_fields[name].default, name


def test_parameter_schema_is_typed_and_documented_for_the_ui_form():
    schema = sweep.parameters.model_dump()
    properties = schema["properties"]
    assert list(properties) == list(PARAMETER_NAMES)
    for name, field in SweepParameters.model_fields.items():
        assert properties[name]["description"] == field.description, name
        assert "type" in properties[name] or "anyOf" in properties[name], (name, properties[name])
    assert properties["strides"]["type"] == "array"
    assert properties["pad_modes"]["items"]["enum"] == ["zeros", "reflect", "replicate"]
    assert properties["split"]["enum"] == ["train", "test", "all"]
    assert properties["keep_maps"]["type"] == "boolean"
    assert properties["strides"]["default"] == [1, 2, 3]


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"strides": [0]}, "strides=0 must be positive"),
        ({"paddings": ["wide"]}, "paddings='wide' is not a padding"),
        ({"keep_maps": "maybe"}, "keep_maps='maybe' is not a boolean"),
        ({"split": "validation"}, "split='validation' must be one of train, test, all"),
    ],
)
def test_prefect_validation_refuses_bad_values_with_the_model_message(parameters, message):
    # What a run started from the UI goes through before the flow starts.
    with pytest.raises(ParameterTypeError, match=message.replace("(", r"\(")) as refused:
        sweep.validate_parameters(parameters)
    assert f"- {next(iter(parameters))}: {message}" in str(refused.value)


def test_prefect_validation_accepts_command_line_text_and_canonicalises_it():
    validated = sweep.validate_parameters({"strides": "1,2x1", "keep_maps": "yes", "pool_sizes": [3]})
    assert validated["strides"] == [(1, 1), (2, 1)]
    assert validated["keep_maps"] is True
    assert validated["pool_sizes"] == [(3, 3)]
