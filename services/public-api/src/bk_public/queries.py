"""Data functions shared by the routes: small, keyword-only, no HTTP concerns."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from datetime import timedelta
from typing import Any

from fastapi import HTTPException
from sqlalchemy import func, select

from bk_public.blur import publish_picture
from bk_public.context import Context
from bk_public.models import case_view, rating
from bk_public.readmodel import CLOSED
from bk_public.rules import red_black_list, site_score
from bkcore.images import ImageRefused
from bkcore.objstore.base import ObjectNotFound, validate_key

log = logging.getLogger(__name__)


async def site_info(ctx: Context, *, tenant_id: str, site_id: str) -> dict[str, Any]:
    """A site with zones and cameras (cached; 404 when the directory does not know it)."""
    site = await ctx.cached(("site", tenant_id, site_id), lambda: ctx.upstream.site(tenant_id, site_id))
    if not site:
        raise HTTPException(404, detail="not found")
    return site  # type: ignore[no-any-return]


async def tenant_sites(ctx: Context, *, tenant_id: str) -> list[dict[str, Any]]:
    return await ctx.cached(("sites", tenant_id), lambda: ctx.upstream.sites(tenant_id))  # type: ignore[no-any-return]


def public_site(site: dict[str, Any]) -> dict[str, Any]:
    """What a parent or the public may know of a site: no contacts, no licence numbers."""
    keep = ("id", "name", "kind", "address", "latitude", "longitude", "opening_hours", "org_path")
    return {k: site.get(k) for k in keep}


async def scores(ctx: Context, *, tenant_id: str) -> dict[str, int]:
    """Public score per site with any case or rating (sites with neither score 100)."""

    async def load() -> dict[str, int]:
        since = ctx.runtime.clock.now() - timedelta(days=30)
        cv = case_view.c
        async with ctx.db.session() as s:
            case_rows = (
                await s.execute(
                    select(cv.site_id, cv.status, cv.card_level, cv.verdict, cv.updated_at).where(
                        cv.tenant_id == tenant_id
                    )
                )
            ).all()
            rating_rows = (
                await s.execute(
                    select(rating.c.site_id, rating.c.score, func.count())
                    .where(rating.c.tenant_id == tenant_id, rating.c.created_at >= since)
                    .group_by(rating.c.site_id, rating.c.score)
                )
            ).all()
        per: dict[str, dict[str, Any]] = {}
        for r in case_rows:
            d = per.setdefault(r.site_id, {"open": 0, "cards": 0, "closed": 0, "false": 0, "ratings": {}})
            if r.status in CLOSED:
                recent = (
                    r.updated_at.replace(tzinfo=since.tzinfo) >= since
                    if r.updated_at.tzinfo is None
                    else r.updated_at >= since
                )
                d["closed"] += int(recent)
                d["false"] += int(recent and r.verdict == "false_alarm")
            else:
                d["open"] += 1
                d["cards"] += int(r.card_level > 0)
        for site_id, score, n in rating_rows:
            d = per.setdefault(site_id, {"open": 0, "cards": 0, "closed": 0, "false": 0, "ratings": {}})
            d["ratings"][score] = n
        return {
            sid: site_score(
                open_cases=d["open"],
                overdue_cards=d["cards"],
                closed_30d=d["closed"],
                false_alarms_30d=d["false"],
                ratings=d["ratings"],
            )
            for sid, d in per.items()
        }

    return await ctx.cached(("scores", tenant_id), load)  # type: ignore[no-any-return]


async def red_black(ctx: Context, *, tenant_id: str) -> dict[str, Any]:
    sites = {s["id"]: s for s in await tenant_sites(ctx, tenant_id=tenant_id)}
    sc = await scores(ctx, tenant_id=tenant_id)
    all_scores = [(sid, sc.get(sid, 100)) for sid in sites] or list(sc.items())
    lists = red_black_list(all_scores)

    def entry(sid: str) -> dict[str, Any]:
        s = sites.get(sid, {})
        return {
            "site_id": sid,
            "name": s.get("name", sid),
            "kind": s.get("kind", ""),
            "score": sc.get(sid, 100),
        }

    return {"red": [entry(s) for s in lists["red"]], "black": [entry(s) for s in lists["black"]]}


async def signed(ctx: Context, key: str, ttl_s: int | None = None) -> str:
    return await ctx.runtime.store.signed_url(key, ttl_s) if key else ""


async def blurred_url(ctx: Context, *, tenant_id: str, key: str) -> str:
    """A signed URL of ``key`` with faces blurred; the blurred copy is made once and kept.

    "" when there is no picture to show: a missing object, or one that is not a picture (stored
    before uploads were checked) — one bad photo leaves a gap, never breaks the page.
    """
    if not key:
        return ""
    public_key = f"{tenant_id}/public/blurred/{hashlib.sha256(key.encode()).hexdigest()[:32]}.jpg"
    store = ctx.runtime.store
    if not await store.exists(public_key):
        try:
            data = await store.get(key)
        except (ObjectNotFound, ValueError):
            return ""
        published = await _published(data, what=key)
        if published is None:
            return ""
        await store.put(public_key, published, "image/jpeg")
    return await store.signed_url(public_key)


async def snapshot_url(ctx: Context, *, tenant_id: str, camera_id: str) -> str | None:
    """A signed URL of the camera's latest frame with faces blurred, or None when there is none."""
    raw = await ctx.upstream.snapshot(tenant_id, camera_id)
    if not raw:
        return None  # no frame yet
    published = await _published(raw, what=f"snapshot of {camera_id}")
    if published is None:
        return None
    key = validate_key(f"{tenant_id}/public/snapshots/{_safe(camera_id)}.jpg")
    await ctx.runtime.store.put(key, published, "image/jpeg")
    return await ctx.runtime.store.signed_url(key)


async def _published(data: bytes, *, what: str) -> bytes | None:
    """The picture as the public may see it (faces blurred), or None if it cannot be published."""
    try:
        return await asyncio.to_thread(publish_picture, data)  # CPU work: off the event loop
    except ImageRefused as exc:
        log.warning("not published: %s is not a usable picture (%s)", what, exc.message)
    except Exception:  # a picture must never go out unblurred, nor take the page down with it
        log.exception("not published: blurring %s failed", what)
    return None


def _safe(camera_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", camera_id)[:128] or "camera"
