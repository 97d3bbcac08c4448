"""The supervisors' console reads: the alarm stream (SSE), the case board, the map.

Statistics, scores and the red/black list are the case-manager's (``/api/cases/stats``): the console
reads them there, so no figure is computed twice.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select

from bk_public.alarms import sse_stream
from bk_public.context import Context, get_ctx, staff, stream_staff
from bk_public.evidence_log import StreamAccess, record_access
from bk_public.models import case_event, case_view, complaint
from bk_public.queries import signed, tenant_sites
from bk_public.readmodel import CLOSED
from bkcore.auth import Principal
from bkcore.auth_http import scope_to_principal

router = APIRouter(prefix="/console", tags=["console"])


def _scoped(stmt: Any, p: Principal) -> Any:
    return scope_to_principal(
        stmt,
        p,
        tenant_col=case_view.c.tenant_id,
        org_path_col=case_view.c.org_path,
        site_id_col=case_view.c.site_id,
    )


async def case_out(ctx: Context, row: Any) -> dict[str, Any]:
    d = dict(row._mapping) if hasattr(row, "_mapping") else dict(row)
    d["snapshot_url"] = await signed(ctx, d.get("snapshot_key", ""))
    d["open"] = d["status"] not in CLOSED
    return d


@router.get(
    "/alarms/stream",
    summary="Server-sent events: every case change the caller may see",
    response_class=StreamingResponse,
)
async def alarm_stream(
    request: Request, p: Principal = Depends(stream_staff), ctx: Context = Depends(get_ctx)
) -> StreamingResponse:
    sent = StreamAccess(ctx, p, via="console alarm stream")

    async def signed_events():  # type: ignore[no-untyped-def]
        try:
            async for frame in sse_stream(
                ctx.hub,
                p,
                stopping=request.app.state.stopping,
                recheck=ctx.stream_auth.recheck,
                recheck_s=ctx.settings.alarm_stream_recheck_s,
                on_case=sent.add,
            ):
                if await request.is_disconnected():
                    break
                yield frame
                await sent.flush_due()
        finally:
            await sent.flush()  # the links this stream sent are on record (bk_public.evidence_log)

    return StreamingResponse(
        signed_events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/cases", summary="Cases in the caller's scope, newest first (read model)")
async def cases(
    status: str | None = Query(None, max_length=32),
    site_id: str | None = Query(None, max_length=64),
    open_only: bool = False,
    limit: int = Query(50, ge=1, le=500),
    p: Principal = Depends(staff),
    ctx: Context = Depends(get_ctx),
) -> list[dict[str, Any]]:
    cv = case_view.c
    stmt = _scoped(select(case_view), p).order_by(cv.updated_at.desc()).limit(limit)
    if status:
        stmt = stmt.where(cv.status == status)
    if site_id:
        stmt = stmt.where(cv.site_id == site_id)
    if open_only:
        stmt = stmt.where(cv.status.not_in(CLOSED))
    async with ctx.db.session() as s:
        rows = (await s.execute(stmt)).all()
    out = [await case_out(ctx, r) for r in rows]
    await _on_record(ctx, p, out, via="console case board")
    return out


@router.get("/cases/{case_id}", summary="One case from the read model (404 outside the caller's scope)")
async def one_case(
    case_id: str, p: Principal = Depends(staff), ctx: Context = Depends(get_ctx)
) -> dict[str, Any]:
    async with ctx.db.session() as s:
        row = (await s.execute(_scoped(select(case_view), p).where(case_view.c.case_id == case_id))).first()
    if row is None:
        raise HTTPException(404, detail="not found")
    out = await case_out(ctx, row)
    await _on_record(ctx, p, [out], via="console case")
    return out


async def _on_record(ctx: Context, p: Principal, cases: list[dict[str, Any]], *, via: str) -> None:
    """The snapshot links about to leave, chained by the case-manager (bk_public.evidence_log)."""
    shown = [c for c in cases if c.get("snapshot_url")]
    await record_access(
        ctx,
        p,
        via=via,
        object_keys=[c["snapshot_key"] for c in shown],
        case_ids=[c["case_id"] for c in shown],
    )


@router.get("/cases/{case_id}/timeline", summary="Every change of one case, oldest first")
async def timeline(
    case_id: str, p: Principal = Depends(staff), ctx: Context = Depends(get_ctx)
) -> list[dict[str, Any]]:
    async with ctx.db.session() as s:
        visible = (
            await s.execute(_scoped(select(case_view.c.case_id), p).where(case_view.c.case_id == case_id))
        ).first()
        if visible is None:
            raise HTTPException(404, detail="not found")  # as /cases/{case_id}: never confirm it exists
        rows = (
            await s.execute(
                select(case_event).where(case_event.c.case_id == case_id).order_by(case_event.c.at)
            )
        ).all()
    return [{"action": r.action, "status": r.status, "actor_id": r.actor_id, "at": r.at} for r in rows]


@router.get("/map", summary="Sites with coordinates, open cases and complaints (for an SVG map)")
async def site_map(p: Principal = Depends(staff), ctx: Context = Depends(get_ctx)) -> list[dict[str, Any]]:
    sites = [
        s
        for s in await tenant_sites(ctx, tenant_id=p.tenant_id)
        if p.can_see_site(p.tenant_id, s["id"], s.get("org_path", "\0"))
    ]
    cv = case_view.c
    async with ctx.db.session() as s:
        open_rows = (
            await s.execute(
                _scoped(select(cv.site_id, func.count()), p)
                .where(cv.status.not_in(CLOSED))
                .group_by(cv.site_id)
            )
        ).all()
        comp_rows = (
            await s.execute(
                select(complaint.c.site_id, func.count())
                .where(complaint.c.tenant_id == p.tenant_id)
                .group_by(complaint.c.site_id)
            )
        ).all()
    open_n, comp_n = dict(open_rows), dict(comp_rows)
    return [
        {
            "site_id": s["id"],
            "name": s.get("name", ""),
            "kind": s.get("kind", ""),
            "latitude": s.get("latitude"),
            "longitude": s.get("longitude"),
            "org_path": s.get("org_path", ""),
            "open_cases": open_n.get(s["id"], 0),
            "complaints": comp_n.get(s["id"], 0),
        }
        for s in sites
    ]
