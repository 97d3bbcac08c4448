"""Routes of the loop: list and read cases, act on them, upload rectification evidence."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from bk_cases.audit import service as audit
from bk_cases.cases import flows
from bk_cases.cases import service as cases
from bk_cases.cases.enums import Action
from bk_cases.cases.models import (
    NOTE_MAX_LENGTH,
    Case,
    CaseCopyRead,
    CaseDetail,
    CaseEventRead,
    CasePage,
    CaseRead,
    CopiedCase,
    CopyPage,
    RectificationRead,
    TransitionIn,
)
from bk_cases.cases.rules import READ_ONLY_DEPARTMENTS, LoopInputRefused, TransitionRefused, check_transition
from bk_cases.context import Context
from bk_cases.deps import STAFF, db_session, get_ctx, roles
from bk_cases.directory import service as directory
from bkcore.auth import Principal, Role, Scope
from bkcore.image_uploads import read_image_uploads
from bkcore.inputs import Instant, Limit, Offset, upload_body_limit
from bkcore.late_form import form_files, form_text, multipart_body, read_form
from bkcore.objstore.base import validate_key

router = APIRouter(prefix="/cases", tags=["cases"])
MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_PHOTOS = 9  # what a phone's picker sends at most in one go


@router.get("", response_model=CasePage, summary="Cases the caller may see, newest first")
async def list_cases(
    status: str | None = None,
    site_id: str | None = None,
    case_type: str | None = None,
    risk_class: int | None = Query(None, ge=1, le=3),
    source: str | None = None,
    card_level: int | None = Query(None, ge=0, le=2),
    since: Instant | None = None,
    until: Instant | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
    p: Principal = Depends(roles(*STAFF)),
    session: AsyncSession = Depends(db_session),
) -> CasePage:
    f = cases.CaseFilter(
        status=status,
        site_id=site_id,
        case_type=case_type,
        risk_class=risk_class,
        source=source,
        since=since,
        until=until,
        card_level=card_level,
        copied_to=await _copies_only(session, p),
    )
    rows, total = await cases.list_page(
        db_session=session, principal=p, filters=f, limit=limit, offset=offset
    )
    return CasePage(items=[CaseRead.model_validate(c) for c in rows], total=total, limit=limit, offset=offset)


async def _copies_only(session: AsyncSession, p: Principal) -> str | None:
    """The department of a caller who reads only the cases copied to it (抄告: education), else None."""
    if p.role == Role.SERVICE:
        return None
    user = await directory.get_user(db_session=session, tenant_id=p.tenant_id, user_id=p.subject)
    return user.department if user is not None and user.department in READ_ONLY_DEPARTMENTS else None


async def _visible(session: AsyncSession, case_id: str, p: Principal, *, for_update: bool = False) -> Case:
    case = await cases.get(db_session=session, case_id=case_id, principal=p, for_update=for_update)
    if case is not None and (department := await _copies_only(session, p)) is not None:
        copied = {c.department for c in await cases.copies(db_session=session, case_id=case.id)}
        case = case if department in copied else None
    if case is None:  # out of scope looks exactly like absent: no probing other tenants' ids
        raise HTTPException(404, detail="not found")
    return case


@router.get(
    "/copies",
    response_model=CopyPage,
    summary="Copies of cases (抄告) to the caller's department, newest first: read-only",
)
async def list_copies(
    department: str = Query("education", pattern="^[a-z_]{1,32}$"),
    limit: Limit = 50,
    offset: Offset = 0,
    p: Principal = Depends(roles(Role.PLATFORM_ADMIN, Role.SUPERVISOR)),
    session: AsyncSession = Depends(db_session),
) -> CopyPage:
    # An education user reads their own department's copies whatever they ask for.
    department = await _copies_only(session, p) or department
    rows, total = await cases.copies_page(
        db_session=session, principal=p, department=department, limit=limit, offset=offset
    )
    items = [
        CopiedCase(**CaseCopyRead.model_validate(c).model_dump(), case=CaseRead.model_validate(case))
        for c, case in rows
    ]
    return CopyPage(items=items, total=total, limit=limit, offset=offset)


async def _url(ctx: Context, key: str) -> str | None:
    return await ctx.runtime.store.signed_url(key, ctx.settings.signed_url_ttl_s) if key else None


@router.get("/{case_id}", response_model=CaseDetail, summary="One case with timeline and evidence links")
async def get_case(
    case_id: str,
    # Service: the public API reads closed cases (before/after pictures) for parents, in its tenant.
    p: Principal = Depends(roles(*STAFF, Role.SERVICE, scope=Scope.CASES_READ)),
    ctx: Context = Depends(get_ctx),
    session: AsyncSession = Depends(db_session),
) -> CaseDetail:
    case = await _visible(session, case_id, p)
    events = await cases.timeline(db_session=session, case_id=case.id)
    copies = await cases.copies(db_session=session, case_id=case.id)
    rects = []
    for r in await cases.rectifications(db_session=session, case_id=case.id):
        item = RectificationRead.model_validate(r)
        item.photo_urls = [u for k in r.photo_keys if (u := await _url(ctx, k))]
        rects.append(item)
    detail = CaseDetail(
        **CaseRead.model_validate(case).model_dump(),
        timeline=[CaseEventRead.model_validate(e) for e in events],
        rectifications=rects,
        copies=[CaseCopyRead.model_validate(c) for c in copies],
        raw_snapshot_url=await _url(ctx, case.raw_snapshot_key),
        annotated_snapshot_url=await _url(ctx, case.annotated_snapshot_key),
    )
    evidence = [case.raw_snapshot_key, case.annotated_snapshot_key, *(k for r in rects for k in r.photo_keys)]
    await audit.evidence_access(
        session,
        principal=p,
        tenant_id=case.tenant_id,
        case_id=case.id,
        keys=evidence,
        via="case detail",
        at=ctx.runtime.clock.now(),
    )
    await session.commit()  # the access is on record before the links leave
    return detail


async def _act(
    ctx: Context,
    session: AsyncSession,
    case_id: str,
    action: Action,
    p: Principal,
    body: TransitionIn,
    photo_keys: list[str] | None = None,
) -> CaseRead:
    case = await _visible(session, case_id, p, for_update=True)
    try:
        await flows.transition(
            ctx,
            session,
            case,
            action,
            p,
            note=body.note,
            recheck_at=body.recheck_at,
            photo_keys=photo_keys or [],
        )
    except TransitionRefused as exc:
        raise HTTPException(403 if exc.forbidden else 409, detail=str(exc)) from None
    except LoopInputRefused as exc:
        raise HTTPException(422, detail=str(exc)) from None
    result = CaseRead.model_validate(case)
    await session.commit()  # commit before answering (and before waking the relay)
    ctx.wake_relay()
    return result


def _action_route(action: Action, path: str, summary: str) -> None:
    async def route(
        case_id: str,
        body: TransitionIn | None = None,
        p: Principal = Depends(roles(*STAFF)),
        ctx: Context = Depends(get_ctx),
        session: AsyncSession = Depends(db_session),
    ) -> CaseRead:
        return await _act(ctx, session, case_id, action, p, body or TransitionIn())

    route.__name__ = f"case_{action.value}"
    router.add_api_route(
        f"/{{case_id}}/{path}", route, methods=["POST"], response_model=CaseRead, summary=summary
    )


for _action, _path, _summary in (
    (Action.DISPATCH, "dispatch", "Dispatch to the site and supervisors (supervisor)"),
    (Action.ACKNOWLEDGE, "acknowledge", "Acknowledge receipt (site manager)"),
    (Action.SCHEDULE_RECHECK, "recheck", "Schedule an on-site recheck (supervisor)"),
    (Action.APPROVE, "approve", "Approve the rectification (supervisor)"),
    (Action.REJECT, "reject", "Reject the rectification back to the site (supervisor)"),
    (Action.CLOSE, "close", "Close an approved case (supervisor)"),
    (Action.FALSE_ALARM, "false-alarm", "Close as a false alarm, 误报 (supervisor)"),
):
    _action_route(_action, _path, _summary)


@router.post(
    "/{case_id}/rectifications",
    response_model=CaseRead,
    summary="Submit rectification evidence: photos and a note (site)",
    max_body_size=upload_body_limit(files=MAX_PHOTOS, file_bytes=MAX_PHOTO_BYTES),
    openapi_extra=multipart_body(
        {"note": {"type": "string", "maxLength": NOTE_MAX_LENGTH}}, files={"photos": MAX_PHOTOS}
    ),
)
async def submit_rectification(
    case_id: str,
    request: Request,
    p: Principal = Depends(roles(*STAFF)),
    ctx: Context = Depends(get_ctx),
    session: AsyncSession = Depends(db_session),
) -> CaseRead:
    # The caller, the case and the transition are checked before a byte of the body is read (the
    # form is read here, not declared): an upload to a case that does not exist, is not the
    # caller's or cannot take evidence now is refused without being spooled, decoded or stored.
    # A short session of its own: no connection is held while a slow client uploads (``session``
    # connects only when _act locks the case and checks it again).
    async with ctx.db.session() as check:
        case = await _visible(check, case_id, p)
    try:
        check_transition(Action.SUBMIT, status=case.status, role=p.role)
    except TransitionRefused as exc:
        raise HTTPException(403 if exc.forbidden else 409, detail=str(exc)) from None
    form = await read_form(request, max_files=MAX_PHOTOS, max_fields=4)
    try:
        note = form_text(form, "note", max_length=NOTE_MAX_LENGTH)
        # Every photo must be a whole picture (bkcore.images): one that is not is a 422 naming it, and
        # nothing is stored — a broken "photo" would otherwise reach parents' pages.
        checked = await read_image_uploads(
            form_files(form, "photos"), field="photos", max_bytes=MAX_PHOTO_BYTES, max_count=MAX_PHOTOS
        )
    finally:
        await form.close()
    keys: list[str] = []
    for photo in checked:
        key = validate_key(f"{case.tenant_id}/rectifications/{case.id}/{uuid.uuid4().hex}.{photo.ext}")
        await ctx.runtime.store.put(key, photo.data, photo.content_type)
        keys.append(key)
    return await _act(ctx, session, case_id, Action.SUBMIT, p, TransitionIn(note=note), photo_keys=keys)
