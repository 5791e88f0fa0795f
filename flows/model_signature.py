"""A flow whose parameters are the fields of a pydantic model.

Prefect reads a flow's parameters from its function's signature and their
descriptions from its docstring; this builds both from the model, so the model
is the one definition: the flow's parameters, Prefect's parameter validation
(each field's own parser, so a UI run with a bad value is refused with the
model's message), the deployment's parameter schema and the UI's form.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel

Model = TypeVar("Model", bound=BaseModel)


def model_signature(model: type[BaseModel]) -> inspect.Signature:
    """Keyword-only parameters, one per model field, with its default and its annotated parser."""
    parameters = []
    for name, field in model.model_fields.items():
        annotation = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
        parameters.append(
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=field.default, annotation=annotation)
        )
    return inspect.Signature(parameters)


def _args_section(model: type[BaseModel]) -> str:
    lines = ["Args:"]
    for name, field in model.model_fields.items():
        lines.append(f"    {name}: {field.description or name}")
    return "\n".join(lines)


def takes_model(
    model: type[Model], build: Callable[..., Model]
) -> Callable[[Callable[[Model], Any]], Callable[..., Any]]:
    """Decorate ``fn(parameters: Model)`` into ``fn(**fields)``, for ``@flow``.

    ``build(**fields)`` makes the model (e.g. a function that turns validation
    errors into one-line ``ValueError``\\ s).
    """

    def decorate(fn: Callable[[Model], Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def with_fields(**fields: Any) -> Any:
            return fn(build(**fields))

        signature = model_signature(model)
        with_fields.__signature__ = signature  # type: ignore[attr-defined]
        with_fields.__annotations__ = {name: parameter.annotation for name, parameter in signature.parameters.items()}
        with_fields.__doc__ = f"{inspect.cleandoc(fn.__doc__ or '')}\n\n{_args_section(model)}"
        del with_fields.__wrapped__  # Prefect must see the model's signature, not fn's
        return with_fields

    return decorate
