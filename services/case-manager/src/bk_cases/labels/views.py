"""Routes: read and correct the labels of a detection case's capture (supervisors)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from bk_cases.audit import service as audit
from bk_cases.cases import service as cases
from bk_cases.cases.models import Case
from bk_cases.context import Context
from bk_cases.deps import SUPERVISING, db_session, get_ctx, roles
from bk_cases.labels.flows import save_labels
from bk_cases.labels.rules import LabelledBy, effective_labels, labelling_problem, not_violation_labels
from bkcore.auth import Principal
from bkcore.verdicts import ATTRIBUTES, OBJECT_LABELS, CaptureLabels, VerdictFormatError

router = APIRouter(prefix="/cases", tags=["labels"])


class LabelsRead(BaseModel):
    case_id: str
    case_type: str
    verdict: str
    box: list[float]
    labelled_by: LabelledBy
    labels: CaptureLabels | None
    verdict_meaning: CaptureLabels | None  # what the labels are without corrections
    claimed: CaptureLabels | None  # what the detector claimed (the confirmed meaning): where to start
    not_violation: CaptureLabels  # what "not a violation" would save
    raw_snapshot_url: str | None
    vocabulary: dict[str, list[str]]


async def _labellable(session: AsyncSession, case_id: str, p: Principal, *, for_update: bool = False) -> Case:
    case = await cases.get(db_session=session, case_id=case_id, principal=p, for_update=for_update)
    if case is None:  # out of scope looks exactly like absent
        raise HTTPException(404, detail="not found")
    if problem := labelling_problem(source=case.source, raw_snapshot_key=case.raw_snapshot_key):
        raise HTTPException(409, detail=problem)
    return case


async def _read(ctx: Context, case: Case, session: AsyncSession, p: Principal) -> LabelsRead:
    box = list(case.box or [])
    try:
        eff = effective_labels(case_type=case.case_type, verdict=case.verdict, box=box, saved=case.labels)
    except VerdictFormatError as exc:  # stored before a format change: say so, never hide it
        raise HTTPException(500, detail=f"stored labels unreadable: {exc}") from None
    meaning = effective_labels(case_type=case.case_type, verdict=case.verdict, box=box, saved=None)
    await audit.evidence_access(  # the raw snapshot's link is handed out below
        session,
        principal=p,
        tenant_id=case.tenant_id,
        case_id=case.id,
        keys=[case.raw_snapshot_key],
        via="labels",
        at=ctx.runtime.clock.now(),
    )
    return LabelsRead(
        case_id=case.id,
        case_type=case.case_type,
        verdict=case.verdict,
        box=box,
        labelled_by=eff.labelled_by,
        labels=eff.labels,
        verdict_meaning=meaning.labels,
        claimed=effective_labels(case_type=case.case_type, verdict="confirmed", box=box, saved=None).labels,
        not_violation=not_violation_labels(case_type=case.case_type, box=box),
        raw_snapshot_url=await ctx.runtime.store.signed_url(
            case.raw_snapshot_key, ctx.settings.signed_url_ttl_s
        ),
        vocabulary={"labels": list(OBJECT_LABELS), "attributes": list(ATTRIBUTES)},
    )


@router.get("/{case_id}/labels", response_model=LabelsRead, summary="What the capture shows, in model terms")
async def get_labels(
    case_id: str,
    p: Principal = Depends(roles(*SUPERVISING)),
    ctx: Context = Depends(get_ctx),
    session: AsyncSession = Depends(db_session),
) -> LabelsRead:
    out = await _read(ctx, await _labellable(session, case_id, p), session, p)
    await session.commit()  # the access is on record before the link leaves
    return out


@router.put(
    "/{case_id}/labels",
    response_model=LabelsRead,
    summary="Correct the capture: boxes, attributes, absent classes, not a violation (supervisor)",
)
async def put_labels(
    case_id: str,
    body: dict[str, Any],
    p: Principal = Depends(roles(*SUPERVISING)),
    ctx: Context = Depends(get_ctx),
    session: AsyncSession = Depends(db_session),
) -> LabelsRead:
    try:  # validated here, so every problem is a 422 that names its field
        labels = CaptureLabels.model_validate(body)
    except ValueError as exc:
        raise HTTPException(422, detail=_problems(exc)) from None
    case = await _labellable(session, case_id, p, for_update=True)
    await save_labels(ctx, session, case, labels, p)
    out = await _read(ctx, case, session, p)
    await session.commit()
    return out


@router.delete(
    "/{case_id}/labels",
    response_model=LabelsRead,
    summary="Drop the corrections: the verdict says what the capture means again (supervisor)",
)
async def delete_labels(
    case_id: str,
    p: Principal = Depends(roles(*SUPERVISING)),
    ctx: Context = Depends(get_ctx),
    session: AsyncSession = Depends(db_session),
) -> LabelsRead:
    case = await _labellable(session, case_id, p, for_update=True)
    if case.labels is not None:
        await save_labels(ctx, session, case, None, p)
    out = await _read(ctx, case, session, p)
    await session.commit()
    return out


def _problems(exc: ValueError) -> list[dict[str, Any]]:
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return [{"loc": [], "msg": str(exc)}]
    return [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in errors()]
