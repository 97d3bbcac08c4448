"""422 answers shaped like FastAPI's own: one entry per bad field, ``loc`` naming it."""

from __future__ import annotations

from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError


def field_error(loc: tuple[str | int, ...], msg: str, kind: str = "value_error") -> RequestValidationError:
    return RequestValidationError([{"type": kind, "loc": loc, "msg": msg, "input": None}])


def parse_model(model: type[BaseModel], data: Any, *, loc: tuple[str, ...] = ("body",)) -> Any:
    """Validate ``data`` into ``model``; a failure becomes a 422 listing every bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [{**e, "loc": (*loc, *e["loc"])} for e in exc.errors(include_url=False)]
        for e in errors:
            e.pop("ctx", None)  # may hold exceptions that are not JSON-serialisable
        raise RequestValidationError(errors) from None


def fields_invalid(model: str, problems: list[tuple[str, str]]) -> ValidationError:
    """A ValidationError whose entries name the fields, for cross-field checks in model validators
    (pydantic would otherwise report them against the whole body)."""
    return ValidationError.from_exception_data(
        model,
        [
            InitErrorDetails(type=PydanticCustomError("value_error", msg), loc=(name,), input=None)
            for name, msg in problems
        ],
    )
