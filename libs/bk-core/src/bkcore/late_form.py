"""Upload forms read after authorisation: a route checks the caller and the target first, and only
then reads the body, so an upload to a case that does not exist (or is not the caller's) is refused
before a byte of it is spooled.

FastAPI reads a route's declared ``File``/``Form`` parameters before any dependency runs, so such a
route declares none: it takes the ``Request``, does its checks, then calls ``read_form`` under the
route's ``max_body_size`` (still enforced while the body streams in). A cap that comes from settings
(known only at run time) is ``read_form(max_bytes=...)``: checked against Content-Length before the
first byte, then counted while the body streams. ``multipart_body`` puts the form back into the
OpenAPI document, so clients and schemathesis still see it.
"""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.types import Message

from bkcore.inputs import bounded_text

T = TypeVar("T")
_REQUIRED: Any = object()


def multipart_body(fields: dict[str, dict[str, Any]], *, files: dict[str, int]) -> dict[str, Any]:
    """``openapi_extra`` for a route that reads its form itself: text ``fields`` (name -> JSON
    schema) and file fields (name -> at most how many files)."""
    properties = dict(fields)
    for name, most in files.items():
        item = {"type": "string", "format": "binary"}
        properties[name] = {"type": "array", "maxItems": most, "items": item}
    schema = {"type": "object", "properties": properties}
    return {"requestBody": {"required": False, "content": {"multipart/form-data": {"schema": schema}}}}


async def read_form(
    request: Request, *, max_files: int, max_fields: int = 20, max_bytes: int | None = None
) -> FormData:
    """The request's form, with at most ``max_files`` files and ``max_fields`` other fields (Starlette
    answers more with a 400) and, with ``max_bytes``, a body no larger (413, before it is read when
    Content-Length says so). The caller closes it (``await form.close()``)."""
    if max_bytes is not None:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise HTTPException(413, f"Content Too Large: at most {max_bytes} bytes")
        request = Request(request.scope, _capped(request.receive, max_bytes))
    return await request.form(max_files=max_files, max_fields=max_fields)


def _capped(receive: Any, max_bytes: int) -> Any:
    seen = 0

    async def capped() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > max_bytes:
            raise HTTPException(413, f"Content Too Large: at most {max_bytes} bytes")
        return message

    return capped


@cache
def _adapter(annotation: Any) -> TypeAdapter[Any]:
    return TypeAdapter(annotation)


def form_value(form: FormData, name: str, annotation: type[T] | Any, *, default: Any = _REQUIRED) -> T:
    """One text field validated as ``annotation`` (an enum, a constrained ``Text``...); a 422 naming
    it. Without ``default`` the field is required."""
    value = form.get(name)
    if value is None:
        if default is _REQUIRED:
            raise _invalid(name, "missing", "Field required")
        return default  # type: ignore[no-any-return]
    if isinstance(value, UploadFile):
        raise _invalid(name, "string_type", "should be text, not a file")
    try:
        return _adapter(annotation).validate_python(value)  # type: ignore[no-any-return]
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        raise _invalid(name, err["type"], err["msg"]) from None


def form_text(form: FormData, name: str, *, max_length: int, default: str | None = "") -> str:
    """One text field, checked like a ``bkcore.inputs.Text`` with ``max_length``; a 422 naming it
    (``default=None``: the field is required)."""
    # equal for equal lengths, so each length gets one cached adapter
    return form_value(form, name, bounded_text(max_length), default=_REQUIRED if default is None else default)


def form_files(form: FormData, name: str) -> list[UploadFile]:
    """Every file sent under ``name`` (text parts under that name are a 422)."""
    values = form.getlist(name)
    if any(not isinstance(v, UploadFile) for v in values):
        raise _invalid(name, "file_type", "should be files")
    return [v for v in values if isinstance(v, UploadFile)]


def _invalid(name: str, kind: str, msg: str) -> RequestValidationError:
    return RequestValidationError([{"type": kind, "loc": ("body", name), "msg": msg, "input": None}])
