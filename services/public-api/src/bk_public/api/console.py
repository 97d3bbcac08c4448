"""The supervisors' console reads: the alarm stream (SSE), the case board, the map.

Statistics, scores and the red/black list are the case-manager's (``/api/cases/stats``): the console
reads them there, so no figure is computed twice.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import StreamingResponse

from bk_public.alarms import sse_stream
from bk_public.context import Context, get_ctx, staff, stream_staff
from bk_public.evidence_log import StreamAccess, record_access
from bk_public.flows import console as flows
from bk_public.queries import signed, tenant_sites
from bk_public.readmodel import CLOSED
from bkcore.auth import Principal

router = APIRouter(prefix="/console", tags=["console"])


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
    rows = await flows.cases(
        ctx.db, principal=p, status=status, site_id=site_id, open_only=open_only, limit=limit
    )
    out = [await case_out(ctx, r) for r in rows]
    await _on_record(ctx, p, out, via="console case board")
    return out


@router.get("/cases/{case_id}", summary="One case from the read model (404 outside the caller's scope)")
async def one_case(
    case_id: str, p: Principal = Depends(staff), ctx: Context = Depends(get_ctx)
) -> dict[str, Any]:
    row = await flows.one_case(ctx.db, principal=p, case_id=case_id)
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
    rows = await flows.timeline(ctx.db, principal=p, case_id=case_id)
    if rows is None:
        raise HTTPException(404, detail="not found")  # as /cases/{case_id}: never confirm it exists
    return [{"action": r.action, "status": r.status, "actor_id": r.actor_id, "at": r.at} for r in rows]


@router.get("/map", summary="Sites with coordinates, open cases and complaints (for an SVG map)")
async def site_map(p: Principal = Depends(staff), ctx: Context = Depends(get_ctx)) -> list[dict[str, Any]]:
    sites = [
        s
        for s in await tenant_sites(ctx, tenant_id=p.tenant_id)
        if p.can_see_site(p.tenant_id, s["id"], s.get("org_path", "\0"))
    ]
    open_n, comp_n = await flows.site_counts(ctx.db, principal=p)
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
