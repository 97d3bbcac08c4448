"""Route: verdicts as training data (``bk-verdicts``, bkcore.verdicts) for the detector's trainer."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from sqlalchemy.ext.asyncio import AsyncSession

from bk_cases.context import Context
from bk_cases.deps import db_session, get_ctx, roles
from bk_cases.export.flows import export_verdicts_zip
from bkcore.auth import Principal, Role, Scope
from bkcore.inputs import Instant

router = APIRouter(prefix="/exports", tags=["export"])


@router.get(
    "/verdicts",
    summary="Zip of verdicts and supervisors' labels in model terms, with snapshots (admin)",
    response_class=Response,
)
async def verdicts(
    since: Instant | None = None,
    until: Instant | None = None,
    p: Principal = Depends(roles(Role.PLATFORM_ADMIN, Role.SERVICE, scope=Scope.CASES_EXPORT)),
    ctx: Context = Depends(get_ctx),
    session: AsyncSession = Depends(db_session),
) -> Response:
    data = await export_verdicts_zip(session, ctx.runtime.store, principal=p, since=since, until=until)
    await session.commit()  # the export is on record (audit) before the snapshots leave
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": 'attachment; filename="bright-kitchen-verdicts.zip"'},
    )
