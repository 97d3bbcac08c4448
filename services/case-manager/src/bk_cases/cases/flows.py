"""Multi-step work with side effects: a signal becomes a case, a case moves through the loop.

Every function runs inside the caller's transaction and writes the state change, its timeline
entry, its audit entry and its events (outbox) together, so all of them happen or none does.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bk_cases.audit import service as audit
from bk_cases.cases import routing
from bk_cases.cases import service as cases
from bk_cases.cases.enums import Action, CaseStatus, RiskClass, Source
from bk_cases.cases.messaging import case_changed
from bk_cases.cases.models import Case, CaseCopy, CaseEvent, Rectification
from bk_cases.cases.rules import (
    AWAITING_SITE,
    EDUCATION_KINDS,
    Grade,
    check_recheck_at,
    check_rectification,
    check_transition,
    deadline_from_dispatch,
    grade,
    joins_open_case,
    open_key,
    recheck_result,
    upgraded,
    verdict_for,
)
from bk_cases.context import Context
from bk_cases.db import enqueue, enqueue_many, staged_outbox
from bk_cases.directory import service as directory
from bk_cases.notifications.flows import Message, deferred_notify, notify
from bkcore.auth import Principal
from bkproto.events.v1.cases_pb2 import CaseChanged

log = logging.getLogger(__name__)
SYSTEM = "system"
_TTL_S = 60.0


@dataclass(frozen=True, slots=True)
class Signal:
    """Anything that may open a case: a detection, a camera alarm, a ledger alert, a complaint."""

    tenant_id: str
    site_id: str
    case_type: str
    source: Source
    source_ref: str
    seen_at: datetime
    camera_id: str = ""
    zone: str = ""
    score: float = 0.0
    box: tuple[float, ...] = ()
    raw_snapshot_key: str = ""
    annotated_snapshot_key: str = ""
    model_version: str = ""
    description: str = ""
    aggregate: bool = True  # complaints are individual: each is its own case
    subject_id: str = ""  # a sensor, staff member, supplier or camera: cases aggregate per subject
    severity: str = ""  # the ledger's own grading of its alert (warning | alarm), graded by tenant rules


@dataclass(frozen=True, slots=True)
class SiteInfo:
    org_path: str
    kind: str


class UnknownSite(RuntimeError):
    """A signal reached ``intake`` for a site the directory lacks.

    Should not happen: the consumers hold such signals before intake (``bk_cases.held.admit``) and
    sites are never deleted. Raised, never logged and dropped: the bus retries the event and then
    dead-letters it with this message, where the dead-letter alert shows it.
    """


async def _site(ctx: Context, session: AsyncSession, tenant_id: str, site_id: str) -> SiteInfo:
    key = f"site|{tenant_id}|{site_id}"
    if (hit := ctx.ttl_get(key)) is not None:
        return hit  # type: ignore[return-value]
    site = await directory.get_site(db_session=session, tenant_id=tenant_id, site_id=site_id)
    if site is None:
        raise UnknownSite(
            f"signal for site {site_id!r} of tenant {tenant_id!r}, which the directory lacks, reached "
            "intake (held signals should never get here): not dropped, left to the bus to dead-letter"
        )
    info = SiteInfo(site.org_path, site.kind)
    ctx.ttl_put(key, info, _TTL_S)
    return info


async def _grade(ctx: Context, session: AsyncSession, signal: Signal, site: SiteInfo) -> Grade:
    key = f"grades|{signal.tenant_id}"
    rules = ctx.ttl_get(key)
    if rules is None:
        rules = await cases.tenant_grades(db_session=session, tenant_id=signal.tenant_id)
        ctx.ttl_put(key, rules, _TTL_S)
    s = ctx.settings
    return grade(
        signal.case_type,
        rules=rules,  # type: ignore[arg-type]
        deadline_i_h=s.deadline_class_i_h,
        deadline_ii_h=s.deadline_class_ii_h,
        severity=signal.severity,
        site_kind=site.kind,
    )


async def record(
    session: AsyncSession,
    case: Case,
    *,
    action: Action,
    actor_id: str,
    previous: str,
    at: datetime,
    note: str = "",
    data: dict[str, str] | None = None,
    audited: bool = True,
) -> None:
    """Timeline + audit + ``cases.v1`` for one change of ``case`` (same transaction)."""
    session.add(
        CaseEvent(
            case_id=case.id,
            tenant_id=case.tenant_id,
            at=at,
            action=action.value,
            actor_id=actor_id,
            from_status=previous,
            to_status=case.status,
            note=note,
            data=data or {},
        )
    )
    if audited:
        await audit.append(
            db_session=session,
            tenant_id=case.tenant_id,
            at=at,
            actor_id=actor_id,
            action=action.value,
            entity_type="case",
            entity_id=case.id,
            data={
                "from": previous,
                "to": case.status,
                "note": note,
                "card": case.card_level,
                "verdict": case.verdict,
                **(data or {}),
            },
        )
    if case.update_pending_since is not None:
        case.update_pending_since = None  # this event carries the merged count: nothing left to tell
    await enqueue(
        session,
        "cases.v1",
        case_changed(case, action=action.value, actor_id=actor_id, previous_status=previous, at=at),
    )


async def intake(ctx: Context, session: AsyncSession, signal: Signal) -> tuple[Case, bool]:
    """Open a case for ``signal`` or join the open one; (case, created). ``UnknownSite`` when the
    directory lacks its site (the consumer holds those first)."""
    now = ctx.runtime.clock.now()
    site = await _site(ctx, session, signal.tenant_id, signal.site_id)
    key = _key(signal)
    current = await cases.get_open(db_session=session, open_key=key) if key else None
    if current is not None:
        if _joins(ctx, current, signal):
            _merge(current, signal, now)
            g = await _grade(ctx, session, signal, site)
            if upgraded(current.risk_class, g.risk_class):
                await _regrade(ctx, session, current, g, now)
                return current, False
            # Merges are not transitions: no audit entry, but read models still see the count grow
            # (coalesced: at most one cases.v1 per case per ``case_update_coalesce_s``).
            if ctx.settings.case_update_coalesce_s > 0:
                _mark_pending(current, now)
            else:
                await enqueue(session, "cases.v1", _merged(current, now))
            return current, False
        current.open_key = None  # out of the window: it stays in the loop but stops aggregating
        await session.flush()
    return await _open_case(ctx, session, signal, site, key, now), True


async def intake_many(ctx: Context, session: AsyncSession, signals: Sequence[Signal]) -> int:
    """``intake`` for a batch of signals in one transaction; returns how many cases were opened.

    Signals are grouped by their open case (tenant, site, type) and applied in arrival order within
    a group, so the outcome equals one ``intake`` per signal; what differs is the cost: the open
    cases are read (and locked, in key order) with one query, and all merges into one case leave one
    ``cases.v1`` event carrying the final count, not one per repeat.
    """
    now = ctx.runtime.clock.now()
    groups: dict[str | None, list[tuple[Signal, SiteInfo]]] = {}
    singles: list[tuple[Signal, SiteInfo]] = []
    for signal in signals:
        site = await _site(ctx, session, signal.tenant_id, signal.site_id)  # UnknownSite: the batch fails
        if (key := _key(signal)) is not None:
            groups.setdefault(key, []).append((signal, site))
        else:
            singles.append((signal, site))
    keys = sorted(k for k in groups if k is not None)
    current_by_key = {c.open_key: c for c in await cases.get_open_many(db_session=session, open_keys=keys)}
    opened = 0
    merged: dict[str, Case] = {}
    # Every outgoing event in one insert, in order; the shared rows (the tenant's audit chain, the
    # supervisors' notification state) locked only at the end, in the order single events take them.
    async with staged_outbox(session), deferred_notify(session), audit.deferred_chain(session):
        for key in keys:
            current = current_by_key.get(key)
            for signal, site in groups[key]:
                if current is not None and _joins(ctx, current, signal):
                    _merge(current, signal, now)
                    merged[current.id] = current
                    continue
                if current is not None:  # out of the window (rare): release its key first
                    current.open_key = None
                    await session.flush()
                # No flush per case: the batch's inserts go together; a racing replica's case with
                # the same open_key fails the batch at the commit, and the bus splits and retries it.
                current = await _open_case(ctx, session, signal, site, key, now, flush=False)
                opened += 1
        for signal, site in singles:
            await _open_case(ctx, session, signal, site, None, now, flush=False)
            opened += 1
    if ctx.settings.case_update_coalesce_s > 0:  # told later by flush_case_updates, coalesced
        for case in merged.values():
            _mark_pending(case, now)
    else:
        await enqueue_many(session, [("cases.v1", _merged(case, now)) for case in merged.values()])
    return opened


def _key(signal: Signal) -> str | None:
    if not signal.aggregate:
        return None
    return open_key(signal.tenant_id, signal.site_id, signal.case_type, signal.subject_id)


async def _regrade(ctx: Context, session: AsyncSession, case: Case, g: Grade, now: datetime) -> None:
    """A repeat graded more severe (an expiring licence now expired) raises the open case: its class,
    its rectification time, an earlier deadline if dispatched; Class I is dispatched at once."""
    before = case.risk_class
    case.risk_class, case.rectify_h, case.updated_at = int(g.risk_class), g.deadline_h, now
    if case.dispatched_at is not None:
        sooner = deadline_from_dispatch(g.deadline_h, now)
        if sooner is not None and (case.deadline is None or sooner < case.deadline):
            case.deadline = sooner
    await record(
        session,
        case,
        action=Action.REGRADED,
        actor_id=SYSTEM,
        previous=case.status,
        at=now,
        data={"from_class": RiskClass(before).name, "to_class": g.risk_class.name},
    )
    if g.risk_class == RiskClass.I and case.status == CaseStatus.NEW:
        await _dispatch(ctx, session, case, actor_id=SYSTEM, now=now, note="Class I: dispatched at once")


def _mark_pending(case: Case, now: datetime) -> None:
    if case.update_pending_since is None:  # the first untold merge dates the pending update
        case.update_pending_since = now


async def flush_case_updates(ctx: Context, *, force: bool = False, limit: int = 2000) -> int:
    """Tell read models (``cases.v1`` "merged", the case's current state) about the cases whose
    merges have waited ``case_update_coalesce_s`` (all of them with ``force``); returns how many.

    One event per case however many repeats joined it meanwhile, so a burst of repeats costs the
    bus a few events per case rather than one per consumer batch. Replicas may flush at once: rows
    are taken with SKIP LOCKED (PostgreSQL), so each pending update is told once.
    """
    now = ctx.runtime.clock.now()
    stmt = select(Case).where(Case.update_pending_since.is_not(None))
    if not force:
        stmt = stmt.where(
            Case.update_pending_since <= now - timedelta(seconds=ctx.settings.case_update_coalesce_s)
        )
    stmt = stmt.order_by(Case.update_pending_since).limit(limit).with_for_update(skip_locked=True)
    async with ctx.db.session() as session:
        due = (await session.scalars(stmt)).all()
        for case in due:
            case.update_pending_since = None
        await enqueue_many(session, [("cases.v1", _merged(case, now)) for case in due])
    if due:
        ctx.wake_relay()
    return len(due)


def _joins(ctx: Context, current: Case, signal: Signal) -> bool:
    return joins_open_case(
        status=current.status,
        last_seen_at=current.last_seen_at,
        seen_at=signal.seen_at,
        window_s=ctx.settings.aggregation_window_s,
    )


def _merge(current: Case, signal: Signal, now: datetime) -> None:
    current.occurrences += 1
    current.last_seen_at = max(current.last_seen_at, signal.seen_at)
    current.updated_at = now
    current.cleared_at = None  # the condition is back


def _merged(case: Case, now: datetime) -> CaseChanged:
    return case_changed(
        case, action=Action.MERGED.value, actor_id=SYSTEM, previous_status=case.status, at=now
    )


async def _open_case(
    ctx: Context,
    session: AsyncSession,
    signal: Signal,
    site: SiteInfo,
    key: str | None,
    now: datetime,
    *,
    flush: bool = True,
) -> Case:
    """A new case for ``signal``: graded, recorded, its people told; Class I dispatched at once.

    No deadline yet: the clock starts when the case is dispatched to the site (``_dispatch``).
    """
    g = await _grade(ctx, session, signal, site)
    # The site's path as it is now, not as cached: a case opened just after a move belongs to the new unit.
    now_at = await directory.get_site(db_session=session, tenant_id=signal.tenant_id, site_id=signal.site_id)
    case = Case(
        id=str(uuid.uuid4()),
        tenant_id=signal.tenant_id,
        site_id=signal.site_id,
        org_path=now_at.org_path if now_at is not None else site.org_path,
        site_kind=site.kind,
        source=signal.source.value,
        source_ref=signal.source_ref,
        case_type=signal.case_type,
        risk_class=int(g.risk_class),
        status=CaseStatus.NEW.value,
        verdict="",
        card_level=0,
        escalated_to="",
        occurrences=1,
        open_key=key,
        subject_id=signal.subject_id,
        severity=signal.severity,
        rectify_h=g.deadline_h,
        recheck_result="",
        camera_id=signal.camera_id,
        zone=signal.zone,
        score=signal.score,
        box=list(signal.box),
        model_version=signal.model_version,
        raw_snapshot_key=signal.raw_snapshot_key,
        annotated_snapshot_key=signal.annotated_snapshot_key,
        description=signal.description,
        first_seen_at=signal.seen_at,
        last_seen_at=signal.seen_at,
        created_at=now,
        updated_at=now,
        deadline=None,
    )
    session.add(case)
    if flush:  # a racing replica's insert fails here (open_key unique): the bus retries
        await session.flush()
    await record(session, case, action=Action.CREATED, actor_id=SYSTEM, previous="", at=now)
    urgent = g.risk_class == RiskClass.I
    managers = await routing.site_managers(ctx, session, tenant_id=case.tenant_id, site_id=case.site_id)
    supers = await routing.supervisors(ctx, session, tenant_id=case.tenant_id, org_path=case.org_path)
    await notify(
        session,
        tenant_id=case.tenant_id,
        recipients=[*managers, *supers],
        msg=_message(case, "case_created", urgent=urgent),
        now=now,
        cooldown_s=ctx.settings.notify_cooldown_s,
    )
    if urgent:  # Class I is pushed at once (双推送): dispatched without waiting for a supervisor
        await _dispatch(ctx, session, case, actor_id=SYSTEM, now=now, note="Class I: dispatched at once")
    return case


def _message(case: Case, template: str, *, urgent: bool = False, extra: str = "") -> Message:
    cls = RiskClass(case.risk_class).name
    title = f"[{cls}] {case.case_type} @ {case.site_id}"
    body = f"{template}: case {case.id} ({case.case_type}, class {cls}){' — ' + extra if extra else ''}"
    deadline = case.deadline.isoformat() if case.deadline else ""
    return Message(
        template=template,
        title=title,
        body=body,
        case_id=case.id,
        urgent=urgent,
        data={"site_id": case.site_id, "risk_class": cls, "deadline": deadline},
    )


async def _dispatch(
    ctx: Context, session: AsyncSession, case: Case, *, actor_id: str, now: datetime, note: str
) -> None:
    previous, case.status, case.updated_at = case.status, CaseStatus.DISPATCHED.value, now
    case.dispatched_at, case.deadline = now, deadline_from_dispatch(case.rectify_h, now)
    await record(
        session, case, action=Action.DISPATCH, actor_id=actor_id, previous=previous, at=now, note=note
    )
    urgent = case.risk_class == RiskClass.I
    managers = await routing.site_managers(ctx, session, tenant_id=case.tenant_id, site_id=case.site_id)
    supers = await routing.supervisors(ctx, session, tenant_id=case.tenant_id, org_path=case.org_path)
    await notify(
        session,
        tenant_id=case.tenant_id,
        recipients=[*managers, *supers],
        msg=_message(case, "case_dispatched", urgent=urgent),
        now=now,
        cooldown_s=ctx.settings.notify_cooldown_s,
    )
    if case.site_kind in EDUCATION_KINDS:
        await _copy_to_education(ctx, session, case, now=now)


async def _copy_to_education(ctx: Context, session: AsyncSession, case: Case, *, now: datetime) -> None:
    """抄告: a school's case, once dispatched, is copied to the education bureau over the site.

    Recorded on the case (``CaseCopy``, a timeline entry, the audit) whoever receives it; a case is
    copied once, however often it is dispatched.
    """
    if await session.get(CaseCopy, (case.id, routing.EDUCATION)) is not None:
        return
    routed = await routing.ladder(
        ctx, session, tenant_id=case.tenant_id, org_path=case.org_path, department=routing.EDUCATION
    )
    who = routed.holders()
    session.add(
        CaseCopy(
            case_id=case.id,
            department=routing.EDUCATION,
            tenant_id=case.tenant_id,
            org_path=case.org_path,
            unit_path=routed.ladder.unit,
            recipient_ids=[r.user_id for r in who],
            copied_at=now,
        )
    )
    await record(
        session,
        case,
        action=Action.COPIED,
        actor_id=SYSTEM,
        previous=case.status,
        at=now,
        data={"department": routing.EDUCATION, "unit": routed.ladder.unit or "(nobody in the directory)"},
    )
    await notify(
        session,
        tenant_id=case.tenant_id,
        recipients=who,
        msg=_message(case, "case_copy", urgent=case.risk_class == RiskClass.I),
        now=now,
        cooldown_s=ctx.settings.notify_cooldown_s,
    )


async def transition(
    ctx: Context,
    session: AsyncSession,
    case: Case,
    action: Action,
    principal: Principal,
    *,
    note: str = "",
    recheck_at: datetime | None = None,
    photo_keys: Sequence[str] = (),
) -> Case:
    """Apply a user's action (checked: role, department, state, evidence) with its timeline, audit,
    events and messages. Raises TransitionRefused or LoopInputRefused."""
    actor = await directory.get_user(db_session=session, tenant_id=case.tenant_id, user_id=principal.subject)
    department = actor.department if actor is not None else routing.MARKET
    target = check_transition(action, status=case.status, role=principal.role, department=department)
    now = ctx.runtime.clock.now()
    if action == Action.SUBMIT:
        check_rectification(photo_keys)
    elif action == Action.SCHEDULE_RECHECK:
        recheck_at = check_recheck_at(recheck_at, now=now)
    if action == Action.DISPATCH:
        await _dispatch(ctx, session, case, actor_id=principal.subject, now=now, note=note)
        return case
    previous = case.status
    case.status, case.updated_at = target.value, now
    if target not in AWAITING_SITE:
        case.open_key = None  # repeats after the site has answered open a new case
    data: dict[str, str] = {}
    if action == Action.SUBMIT:
        previous_rect = await cases.latest_rectification(db_session=session, case_id=case.id)
        rect = Rectification(
            attempt=previous_rect.attempt + 1 if previous_rect else 1,
            id=str(uuid.uuid4()),
            case_id=case.id,
            tenant_id=case.tenant_id,
            note=note,
            photo_keys=list(photo_keys),
            submitted_by=principal.subject,
            submitted_at=now,
        )
        session.add(rect)
        data = {"rectification_id": rect.id, "photos": ",".join(photo_keys)}
    elif action in (Action.APPROVE, Action.REJECT):
        rect = await cases.latest_rectification(db_session=session, case_id=case.id)
        if rect is not None:
            rect.review = "approved" if action == Action.APPROVE else "rejected"
            rect.reviewed_by, rect.reviewed_at, rect.review_note = principal.subject, now, note
        if result := recheck_result(action, status=previous):  # the on-site recheck's outcome
            case.recheck_result = result
            data = {"recheck_result": result}
    elif action == Action.SCHEDULE_RECHECK:
        case.recheck_at = recheck_at
        data = {"recheck_at": recheck_at.isoformat() if recheck_at else ""}
    elif action in (Action.CLOSE, Action.FALSE_ALARM):
        case.verdict, case.closed_at = verdict_for(action), now
    await record(
        session,
        case,
        action=action,
        actor_id=principal.subject,
        previous=previous,
        at=now,
        note=note,
        data=data,
    )
    await _notify_after(ctx, session, case, action, now=now, note=note)
    return case


async def _notify_after(
    ctx: Context, session: AsyncSession, case: Case, action: Action, *, now: datetime, note: str
) -> None:
    """The site hears the supervisor's verdicts; the supervisors hear the site's answers."""
    to_site = {
        Action.REJECT: "case_rejected",
        Action.SCHEDULE_RECHECK: "case_recheck",
        Action.APPROVE: "case_approved",
        Action.FALSE_ALARM: "case_false_alarm",
    }
    to_supervisor = {Action.SUBMIT: "case_submitted", Action.ACKNOWLEDGE: "case_acknowledged"}
    if action in to_site:
        who = await routing.site_managers(ctx, session, tenant_id=case.tenant_id, site_id=case.site_id)
        template = to_site[action]
    elif action in to_supervisor:
        who = await routing.supervisors(ctx, session, tenant_id=case.tenant_id, org_path=case.org_path)
        template = to_supervisor[action]
    else:
        return
    # Replies in a running case are expected: they bypass the alarm cooldown.
    await notify(
        session,
        tenant_id=case.tenant_id,
        recipients=who,
        msg=_message(case, template, urgent=case.risk_class == RiskClass.I, extra=note),
        now=now,
        cooldown_s=0,
    )
