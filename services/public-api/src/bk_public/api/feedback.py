"""Parents talk back: a smiley a day per site, and complaints with photos (→ complaints.v1)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, UploadFile
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bk_public.context import Context, ensure_bound, get_ctx, parent, write_limited
from bk_public.models import complaint, outbox, rating
from bk_public.rules import ComplaintCategory, Score, local_day
from bkcore.auth import Principal
from bkcore.bus.base import new_meta
from bkcore.db import enqueue_event
from bkcore.image_uploads import read_image_uploads
from bkproto.events.v1.complaints_pb2 import ComplaintFiled

router = APIRouter(tags=["parent"])


class RatingIn(BaseModel):
    score: Score
    comment: str = Field("", max_length=200)


@router.post("/sites/{site_id}/ratings", status_code=201, summary="Rate the canteen (once per day per site)")
async def rate(
    site_id: str, body: RatingIn, p: Principal = Depends(parent), ctx: Context = Depends(get_ctx)
) -> dict[str, Any]:
    await ensure_bound(p, ctx, site_id)
    write_limited(ctx, p)
    now = ctx.runtime.clock.now()
    day = local_day(now, ctx.settings.timezone)
    try:
        async with ctx.db.session() as s:
            await s.execute(
                rating.insert().values(
                    id="r-" + uuid.uuid4().hex[:16],
                    tenant_id=p.tenant_id,
                    site_id=site_id,
                    parent_id=p.subject,
                    day=day,
                    score=body.score.value,
                    comment=body.comment,
                    created_at=now,
                )
            )
    except IntegrityError:
        raise HTTPException(409, detail="already rated this site today") from None
    ctx.cache.invalidate(("scores", p.tenant_id))
    ctx.invalidate_public(p.tenant_id)
    return {"site_id": site_id, "day": day, "score": body.score.value}


@router.get("/sites/{site_id}/ratings/mine", summary="Whether the caller rated this site today")
async def my_rating(
    site_id: str, p: Principal = Depends(parent), ctx: Context = Depends(get_ctx)
) -> dict[str, Any]:
    await ensure_bound(p, ctx, site_id)
    day = local_day(ctx.runtime.clock.now(), ctx.settings.timezone)
    async with ctx.db.session() as s:
        score = (
            await s.execute(
                select(rating.c.score).where(
                    rating.c.tenant_id == p.tenant_id,
                    rating.c.site_id == site_id,
                    rating.c.parent_id == p.subject,
                    rating.c.day == day,
                )
            )
        ).scalar()
    return {"site_id": site_id, "day": day, "score": score}


@router.post(
    "/sites/{site_id}/complaints", status_code=201, summary="File a complaint with photos (投诉举报)"
)
async def file_complaint(
    site_id: str,
    category: ComplaintCategory = Form(...),
    text: str = Form(..., min_length=1, max_length=1000),
    photos: list[UploadFile] = File(default=[]),
    p: Principal = Depends(parent),
    ctx: Context = Depends(get_ctx),
) -> dict[str, Any]:
    await ensure_bound(p, ctx, site_id)
    write_limited(ctx, p)
    # Every photo must be a whole picture (bkcore.images), checked before any is stored: complaint
    # photos can become a case's picture that parents see.
    checked = await read_image_uploads(
        photos, field="photos", max_bytes=ctx.settings.max_photo_bytes, max_count=ctx.settings.max_photos
    )
    cid = "c-" + uuid.uuid4().hex[:16]
    now = ctx.runtime.clock.now()
    keys = []
    for i, photo in enumerate(checked):
        key = f"{p.tenant_id}/complaints/{now:%Y/%m/%d}/{cid}/{i}.{photo.ext}"
        await ctx.runtime.store.put(key, photo.data, photo.content_type)
        keys.append(key)
    event = ComplaintFiled(
        meta=new_meta(tenant_id=p.tenant_id, key=site_id, producer="public-api", occurred_at=now),
        complaint_id=cid,
        site_id=site_id,
        category=category.value,
        text=text,
        photo_keys=keys,
        reporter_id=p.subject,
    )
    async with ctx.db.session() as s:  # the complaint and its event commit together (outbox)
        await s.execute(
            complaint.insert().values(
                id=cid,
                tenant_id=p.tenant_id,
                site_id=site_id,
                parent_id=p.subject,
                category=category.value,
                text=text,
                photo_keys=keys,
                created_at=now,
            )
        )
        await enqueue_event(s, outbox, "complaints.v1", event)
    ctx.relay.notify()
    return {"complaint_id": cid, "site_id": site_id, "photos": len(keys)}
