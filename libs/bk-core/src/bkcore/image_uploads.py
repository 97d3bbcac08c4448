"""Uploaded pictures through the one rule of ``bkcore.images``: a refusal is a 422 naming the field.

Every service that takes photos (rectification evidence, complaints, ledger certificates) reads them
here, so a picture is judged the same way wherever it enters the platform.
"""

from __future__ import annotations

import asyncio

from fastapi import UploadFile
from fastapi.exceptions import RequestValidationError

from bkcore.images import MAX_PIXELS, CheckedImage, ImageRefused, check_image


def photo_error(loc: tuple[str | int, ...], kind: str, msg: str) -> RequestValidationError:
    """A 422 shaped like FastAPI's own: ``loc`` names the field (and index), ``type`` the problem."""
    return RequestValidationError([{"type": kind, "loc": loc, "msg": msg, "input": None}])


async def read_image_upload(
    upload: UploadFile, *, loc: tuple[str | int, ...], max_bytes: int, max_pixels: int = MAX_PIXELS
) -> CheckedImage:
    """Read one upload (never more than one byte past ``max_bytes``) and check it; 422 on refusal."""
    data = await upload.read(max_bytes + 1)
    try:
        # Decoding is CPU work (up to the pixel cap): keep it off the event loop.
        return await asyncio.to_thread(check_image, data, max_bytes=max_bytes, max_pixels=max_pixels)
    except ImageRefused as exc:
        raise photo_error(loc, exc.kind, exc.message) from None


async def read_image_uploads(
    uploads: list[UploadFile],
    *,
    field: str,
    max_bytes: int,
    max_count: int | None = None,
    max_pixels: int = MAX_PIXELS,
) -> list[CheckedImage]:
    """Every upload of one form field, checked before anything is stored; browsers' empty parts
    ("no file chosen") are dropped."""
    uploads = [u for u in uploads if u.filename or u.size]
    if max_count is not None and len(uploads) > max_count:
        raise photo_error(("body", field), "too_many", f"at most {max_count} photos")
    return [
        await read_image_upload(u, loc=("body", field, i), max_bytes=max_bytes, max_pixels=max_pixels)
        for i, u in enumerate(uploads)
    ]
