"""What a parent sees of one bound site: zones, live view, snapshots, ledgers, cases, score."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query

from bk_public.context import Context, ensure_bound, get_ctx, parent
from bk_public.flows import site_views as flows
from bk_public.queries import blurred_url, public_site, site_info, site_score, snapshot_url
from bk_public.rules import is_open, local_day, strip_personal
from bk_public.upstream import LiveUnavailable, UpstreamError
from bkcore.auth import Principal

router = APIRouter(tags=["parent"])


async def _bound_site(site_id: str, p: Principal, ctx: Context) -> dict[str, Any]:
    await ensure_bound(p, ctx, site_id)
    return await site_info(ctx, tenant_id=p.tenant_id, site_id=site_id)


@router.get("/sites/{site_id}", summary="A bound site with its kitchen zones and cameras")
async def get_site(
    site_id: str, p: Principal = Depends(parent), ctx: Context = Depends(get_ctx)
) -> dict[str, Any]:
    site = await _bound_site(site_id, p, ctx)
    now = ctx.runtime.clock.now()
    return {
        **public_site(site),
        "open_now": is_open(site.get("opening_hours", ""), now, ctx.settings.timezone),
        "zones": [{"zone": z.get("zone"), "name": z.get("name", "")} for z in site.get("zones", [])],
        "cameras": [
            {"camera_id": c.get("camera_id"), "zone": c.get("zone"), "name": c.get("name", "")}
            for c in site.get("cameras", [])
        ],
    }


@router.get(
    "/sites/{site_id}/cameras/{camera_id}/live",
    summary="Signed, expiring play URLs (HTTP-FLV for live-player, HLS for video); opening hours only",
    responses={409: {"description": "No live stream from this camera (e.g. simulated): show snapshots"}},
)
async def live(
    site_id: str, camera_id: str, p: Principal = Depends(parent), ctx: Context = Depends(get_ctx)
) -> dict[str, Any]:
    site = await _bound_site(site_id, p, ctx)
    if camera_id not in {c.get("camera_id") for c in site.get("cameras", [])}:
        raise HTTPException(404, detail="not found")
    if not is_open(site.get("opening_hours", ""), ctx.runtime.clock.now(), ctx.settings.timezone):
        raise HTTPException(
            403, detail=f"live view only in opening hours ({site.get('opening_hours') or '-'})"
        )
    try:
        urls = await ctx.upstream.live(p.tenant_id, camera_id, ctx.settings.play_url_ttl_s)
    except LiveUnavailable as exc:
        raise HTTPException(409, detail=f"no live stream from this camera: {exc.message}") from None
    except UpstreamError as exc:
        raise HTTPException(503, detail=str(exc)) from None
    expires = (
        urls.get("expires_at")
        or (ctx.runtime.clock.now() + timedelta(seconds=ctx.settings.play_url_ttl_s)).isoformat()
    )
    return {
        "camera_id": camera_id,
        "flv": urls.get("flv", ""),
        "hls": urls.get("hls", ""),
        # The still is ours, faces blurred: the gateway's own snapshot URL would show the raw frame.
        "snapshot": await _still(ctx, p.tenant_id, camera_id) or "",
        "expires_at": expires,
    }


async def _still(ctx: Context, tenant_id: str, camera_id: str) -> str | None:
    """The camera's latest frame, faces blurred (cached); None when it has none or it failed."""
    key = ("snap", tenant_id, camera_id)
    try:
        url = await ctx.cached(key, lambda: snapshot_url(ctx, tenant_id=tenant_id, camera_id=camera_id))
    except (HTTPException, UpstreamError):
        url = None  # one camera without a picture must not blank the others
    if not url:
        ctx.cache.invalidate(key)  # no frame yet: ask again next time, not after the TTL
    return url


@router.get("/sites/{site_id}/snapshots", summary="The latest frame of each camera of a bound site")
async def snapshots(
    site_id: str, p: Principal = Depends(parent), ctx: Context = Depends(get_ctx)
) -> list[dict[str, Any]]:
    site = await _bound_site(site_id, p, ctx)
    out = []
    for cam in site.get("cameras", []):
        cid = cam.get("camera_id", "")
        url = await _still(ctx, p.tenant_id, cid)
        out.append({"camera_id": cid, "zone": cam.get("zone"), "name": cam.get("name", ""), "url": url or ""})
    return out


@router.get("/sites/{site_id}/ledger/today", summary="Today's ledger publicity (no personal data)")
async def ledger_today(
    site_id: str, p: Principal = Depends(parent), ctx: Context = Depends(get_ctx)
) -> dict[str, Any]:
    await _bound_site(site_id, p, ctx)
    return await public_ledger(ctx, tenant_id=p.tenant_id, site_id=site_id)


async def public_ledger(ctx: Context, *, tenant_id: str, site_id: str) -> dict[str, Any]:
    day = local_day(ctx.runtime.clock.now(), ctx.settings.timezone)
    data = await ctx.cached(
        ("ledger", tenant_id, site_id, day), lambda: ctx.upstream.ledger_public(tenant_id, site_id, day)
    )
    return {"site_id": site_id, "day": day, **strip_personal(data or {})}


@router.get("/sites/{site_id}/cases", summary="Closed cases with before/after pictures, faces blurred")
async def closed_cases(
    site_id: str,
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
    p: Principal = Depends(parent),
    ctx: Context = Depends(get_ctx),
) -> list[dict[str, Any]]:
    await _bound_site(site_id, p, ctx)
    return await ctx.cached(
        ("closed", p.tenant_id, site_id, limit), lambda: _closed_cases(ctx, p.tenant_id, site_id, limit)
    )


async def _closed_cases(ctx: Context, tenant_id: str, site_id: str, limit: int) -> list[dict[str, Any]]:
    rows = await flows.closed_cases(ctx.db, tenant_id=tenant_id, site_id=site_id, limit=limit)
    out = []
    for r in rows:
        after_key = ""
        try:
            detail = await ctx.upstream.case(tenant_id, r.case_id) or {}
            after_key = _after_key(detail)
        except UpstreamError:
            pass  # the before picture alone is still worth showing
        out.append(
            {
                "case_id": r.case_id,
                "case_type": r.case_type,
                "risk_class": r.risk_class,
                "closed_at": r.closed_at or r.updated_at,
                "before_url": await blurred_url(ctx, tenant_id=tenant_id, key=r.snapshot_key),
                "after_url": await blurred_url(ctx, tenant_id=tenant_id, key=after_key),
            }
        )
    return out


def _after_key(detail: dict[str, Any]) -> str:
    """The last rectification photo in the case-manager's case view, whatever it calls the list."""
    for name in ("rectifications", "evidence", "submissions"):
        for item in reversed(detail.get(name) or []):
            keys = item.get("photo_keys") or item.get("evidence_keys") or []
            if keys:
                return str(keys[-1])
    return str(detail.get("after_key") or "")


@router.get(
    "/sites/{site_id}/score",
    summary="The site's score (食安指数), risk grade, inspection frequency and red/black list place",
)
async def score(
    site_id: str, p: Principal = Depends(parent), ctx: Context = Depends(get_ctx)
) -> dict[str, Any]:
    await _bound_site(site_id, p, ctx)
    return await site_score(ctx, tenant_id=p.tenant_id, site_id=site_id)
