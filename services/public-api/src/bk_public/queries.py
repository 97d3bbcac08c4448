"""Data functions shared by the routes: small, keyword-only, no HTTP concerns."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from typing import Any

from fastapi import HTTPException
from sqlalchemy import select

from bk_public.blur import publish_picture
from bk_public.context import Context
from bk_public.models import site_score_view
from bk_public.score_view import public_score
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


async def scores(ctx: Context, *, tenant_id: str) -> dict[str, dict[str, Any]]:
    """Each site's score as the case-manager published it (site_scores.v1); a site it has not
    scored yet is absent. Cached; dropped when a new score arrives."""

    async def load() -> dict[str, dict[str, Any]]:
        v = site_score_view.c
        async with ctx.db.session() as s:
            rows = (await s.execute(select(site_score_view).where(v.tenant_id == tenant_id))).all()
        return {r.site_id: public_score(r) for r in rows}

    return await ctx.cached(("scores", tenant_id), load)  # type: ignore[no-any-return]


async def site_score(ctx: Context, *, tenant_id: str, site_id: str) -> dict[str, Any]:
    """One site's published score; ``score`` None while the case-manager has not scored it."""
    published = (await scores(ctx, tenant_id=tenant_id)).get(site_id)
    return {"site_id": site_id, **(published or UNSCORED)}


UNSCORED: dict[str, Any] = {
    "score": None,
    "grade": None,
    "inspection_frequency": None,
    "list": "",
    "rank": 0,
    "list_reason": "",
    "computed_at": None,
}


async def red_black(ctx: Context, *, tenant_id: str) -> dict[str, Any]:
    """红黑榜 as published: the case-manager placed every site; this only orders and names them."""
    sites = {s["id"]: s for s in await tenant_sites(ctx, tenant_id=tenant_id)}
    published = await scores(ctx, tenant_id=tenant_id)

    def entries(name: str) -> list[dict[str, Any]]:
        placed = sorted(
            (sid for sid, sc in published.items() if sc["list"] == name), key=lambda s: published[s]["rank"]
        )
        return [
            {
                "site_id": sid,
                "name": sites.get(sid, {}).get("name", sid),
                "kind": sites.get(sid, {}).get("kind", ""),
                **{k: published[sid][k] for k in ("score", "grade", "inspection_frequency", "rank")},
            }
            for sid in placed
        ]

    return {"red": entries("red"), "black": entries("black")}


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
