"""Multipart ledger writes: a JSON ``payload`` field plus photo fields, all checked before storing."""

from __future__ import annotations

import json
from typing import Any

from fastapi import UploadFile
from pydantic import BaseModel

from bk_ledger.common.errors import field_error, parse_model
from bk_ledger.common.photos import CheckedPhoto, check_upload


def parse_payload(model: type[BaseModel], payload: str) -> Any:
    try:
        data = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise field_error(("body", "payload"), f"not valid JSON: {exc.msg}", "json_invalid") from None
    return parse_model(model, data, loc=("body", "payload"))


async def check_photos(
    uploads: list[UploadFile], *, field_name: str, required: bool, max_count: int, max_bytes: int
) -> list[CheckedPhoto]:
    uploads = [u for u in uploads if u.filename or u.size]  # browsers send an empty part for "no file"
    if required and not uploads:
        raise field_error(("body", field_name), "at least one photo is required", "missing")
    if len(uploads) > max_count:
        raise field_error(("body", field_name), f"at most {max_count} photos", "too_many")
    return [
        await check_upload(u, field_name=field_name, index=i, max_bytes=max_bytes)
        for i, u in enumerate(uploads)
    ]
