"""Parents talk back: a smiley a day per site (→ ratings.v1), and complaints with photos (→ complaints.v1).

Both go to the case-manager, which scores the site (bk_cases.stats); nothing is scored here.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from bk_public.context import Context, ensure_bound, get_ctx, parent, write_limited
from bk_public.flows import feedback as flows
from bk_public.rules import ComplaintCategory, Score, local_day
from bkcore.auth import Principal
from bkcore.bus.base import new_meta
from bkcore.image_uploads import read_image_uploads
from bkcore.inputs import bounded_text, upload_body_limit
from bkcore.late_form import form_files, form_value, multipart_body, read_form
from bkproto.events.v1.complaints_pb2 import ComplaintFiled
from bkproto.events.v1.site_scores_pb2 import SiteRated

router = APIRouter(tags=["parent"])

ComplaintText = bounded_text(1000, min_length=1)
# The route's ceiling, from the settings' own bounds (BK_MAX_PHOTOS <= 20, BK_MAX_PHOTO_BYTES <= 20 MiB);
# the configured cap, usually far lower, is applied when the form is read.
_CEILING = upload_body_limit(files=20, file_bytes=20 * 1024 * 1024)
_FORM = multipart_body(
    {
        "category": {"type": "string", "enum": [c.value for c in ComplaintCategory]},
        "text": {"type": "string", "minLength": 1, "maxLength": 1000},
    },
    files={"photos": 20},
)


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
    rid = "r-" + uuid.uuid4().hex[:16]
    event = SiteRated(
        meta=new_meta(tenant_id=p.tenant_id, key=site_id, producer="public-api", occurred_at=now),
        rating_id=rid,
        site_id=site_id,
        score=body.score.value,
        day=day,
        rater_id=p.subject,
    )
    try:  # the rating and its event commit together (outbox)
        await flows.add_rating(ctx.db, event=event, parent_id=p.subject, comment=body.comment, created_at=now)
    except flows.AlreadyRated:
        raise HTTPException(409, detail="already rated this site today") from None
    ctx.relay.notify()
    return {"site_id": site_id, "day": day, "score": body.score.value}


@router.get("/sites/{site_id}/ratings/mine", summary="Whether the caller rated this site today")
async def my_rating(
    site_id: str, p: Principal = Depends(parent), ctx: Context = Depends(get_ctx)
) -> dict[str, Any]:
    await ensure_bound(p, ctx, site_id)
    day = local_day(ctx.runtime.clock.now(), ctx.settings.timezone)
    score = await flows.todays_score(
        ctx.db, tenant_id=p.tenant_id, site_id=site_id, parent_id=p.subject, day=day
    )
    return {"site_id": site_id, "day": day, "score": score}


@router.post(
    "/sites/{site_id}/complaints",
    status_code=201,
    summary="File a complaint with photos (投诉举报)",
    max_body_size=_CEILING,
    openapi_extra=_FORM,
)
async def file_complaint(
    site_id: str, request: Request, p: Principal = Depends(parent), ctx: Context = Depends(get_ctx)
) -> dict[str, Any]:
    # The parent, the binding and the rate limit are checked before a byte of the body is read.
    await ensure_bound(p, ctx, site_id)
    write_limited(ctx, p)
    s = ctx.settings
    cap = upload_body_limit(files=s.max_photos, file_bytes=s.max_photo_bytes)
    form = await read_form(request, max_files=s.max_photos, max_fields=4, max_bytes=cap)
    try:
        category = form_value(form, "category", ComplaintCategory)
        text = form_value(form, "text", ComplaintText)
        # Every photo must be a whole picture (bkcore.images), checked before any is stored: complaint
        # photos can become a case's picture that parents see.
        checked = await read_image_uploads(
            form_files(form, "photos"), field="photos", max_bytes=s.max_photo_bytes, max_count=s.max_photos
        )
    finally:
        await form.close()
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
    await flows.add_complaint(ctx.db, event=event, created_at=now)  # with its event (outbox)
    ctx.relay.notify()
    return {"complaint_id": cid, "site_id": site_id, "photos": len(keys)}
