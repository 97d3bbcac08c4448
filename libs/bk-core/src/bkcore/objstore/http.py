"""HTTP route that serves local objects to holders of a signed URL (embedded mode's "presigned GET").

The signature is checked before the object is looked up, so a caller without a valid link learns
nothing about which keys exist.
"""

from __future__ import annotations

import math

from fastapi import APIRouter, HTTPException, Response

from bkcore.objstore.base import ObjectNotFound
from bkcore.objstore.local import LocalObjectStore


def object_router(store: LocalObjectStore) -> APIRouter:
    router = APIRouter(tags=["objects"])

    @router.get("/objects/{key:path}", include_in_schema=False)
    async def get_object(key: str, exp: str | None = None, sig: str | None = None) -> Response:
        if not exp or not sig:
            raise HTTPException(403, detail="signed URL required: missing exp or sig")
        now = store.now()
        if not store.verify_signature(key, exp, sig, now=now):
            expired = exp.isdigit() and int(exp) <= now
            raise HTTPException(403, detail="signed URL expired" if expired else "invalid URL signature")
        try:
            data, content_type = await store.get_with_type(key)
        except (ObjectNotFound, ValueError):
            raise HTTPException(404, detail="object not found") from None
        # Never let a cache keep the bytes past the link's own lifetime.
        max_age = max(0, math.floor(int(exp) - now))
        return Response(
            content=data,
            media_type=content_type,
            headers={
                "Cache-Control": f"private, max-age={max_age}",
                # Objects are user-supplied evidence: never sniff, never run as an active page.
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "default-src 'none'; img-src 'self'; sandbox",
            },
        )

    return router
