"""Multipart ledger writes: a JSON ``payload`` field plus photo fields, all checked before storing."""

from __future__ import annotations

import json
from typing import Any

from fastapi import UploadFile
from pydantic import BaseModel

from bk_ledger.common.errors import field_error, parse_model
from bkcore.image_uploads import read_image_uploads
from bkcore.images import CheckedImage
from bkcore.text_guard import json_text_problem


def parse_payload(model: type[BaseModel], payload: str) -> Any:
    # the same strictness as a JSON body: no NUL, lone surrogate, NaN or Infinity inside
    problem = json_text_problem(payload, ("body", "payload"))
    if problem is not None:
        kind, loc, msg = problem
        raise field_error(loc, msg, kind)
    try:
        data = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise field_error(("body", "payload"), f"not valid JSON: {exc.msg}", "json_invalid") from None
    return parse_model(model, data, loc=("body", "payload"))


async def check_photos(
    uploads: list[UploadFile], *, field_name: str, required: bool, max_count: int, max_bytes: int
) -> list[CheckedImage]:
    photos = await read_image_uploads(uploads, field=field_name, max_bytes=max_bytes, max_count=max_count)
    if required and not photos:
        raise field_error(("body", field_name), "at least one photo is required", "missing")
    return photos
