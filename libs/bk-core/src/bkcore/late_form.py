"""Upload forms read after authorisation: a route checks the caller and the target first, and only
then reads the body, so an upload to a case that does not exist (or is not the caller's) is refused
before a byte of it is spooled.

FastAPI reads a route's declared ``File``/``Form`` parameters before any dependency runs, so such a
route declares none: it takes the ``Request``, does its checks, then calls ``read_form`` under the
route's ``max_body_size`` (still enforced while the body streams in). ``multipart_body`` puts the
form back into the OpenAPI document, so clients and schemathesis still see it.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import FormData, UploadFile

from bkcore.inputs import check_text


def multipart_body(fields: dict[str, dict[str, Any]], *, files: dict[str, int]) -> dict[str, Any]:
    """``openapi_extra`` for a route that reads its form itself: text ``fields`` (name -> JSON
    schema) and file fields (name -> at most how many files)."""
    properties = dict(fields)
    for name, most in files.items():
        item = {"type": "string", "format": "binary"}
        properties[name] = {"type": "array", "maxItems": most, "items": item}
    schema = {"type": "object", "properties": properties}
    return {"requestBody": {"required": False, "content": {"multipart/form-data": {"schema": schema}}}}


async def read_form(request: Request, *, max_files: int, max_fields: int = 20) -> FormData:
    """The request's form, with at most ``max_files`` files and ``max_fields`` other fields (Starlette
    answers more with a 400). The caller closes it (``await form.close()``)."""
    return await request.form(max_files=max_files, max_fields=max_fields)


def form_text(form: FormData, name: str, *, max_length: int, default: str | None = "") -> str:
    """One text field, checked like a ``bkcore.inputs.Text`` with ``max_length``; a 422 naming it
    (``default=None``: the field is required)."""
    value = form.get(name, default)
    if value is None:
        raise _invalid(name, "missing", "Field required")
    if isinstance(value, UploadFile):
        raise _invalid(name, "string_type", "should be text, not a file")
    if len(value) > max_length:
        raise _invalid(name, "string_too_long", f"at most {max_length} characters")
    try:
        return check_text(value)
    except ValueError as exc:
        raise _invalid(name, "invalid_text", str(exc)) from None


def form_files(form: FormData, name: str) -> list[UploadFile]:
    """Every file sent under ``name`` (text parts under that name are a 422)."""
    values = form.getlist(name)
    if any(not isinstance(v, UploadFile) for v in values):
        raise _invalid(name, "file_type", "should be files")
    return [v for v in values if isinstance(v, UploadFile)]


def _invalid(name: str, kind: str, msg: str) -> RequestValidationError:
    return RequestValidationError([{"type": kind, "loc": ("body", name), "msg": msg, "input": None}])
