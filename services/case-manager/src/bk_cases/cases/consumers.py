"""Bus consumers: every source of cases, each exactly-once through the inbox (claim_event).

The claim, the case change and the outgoing events share one transaction, so a crash anywhere
before the commit leaves nothing behind and the redelivered event does it all again — once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bk_cases.cases import service as cases
from bk_cases.cases.enums import Action, Source
from bk_cases.cases.flows import SYSTEM, Signal, intake, intake_many, record
from bk_cases.context import Context
from bk_cases.db import claim_events, inbox
from bk_cases.held.flows import admit
from bkcore.bus.base import Delivery
from bkcore.db import claim_event
from bkproto.events.v1.camera_status_pb2 import CameraAlarm, CameraStatusChanged
from bkproto.events.v1.complaints_pb2 import ComplaintFiled
from bkproto.events.v1.detections_pb2 import ViolationDetected, ViolationPhase
from bkproto.events.v1.ledger_alerts_pb2 import LedgerAlert

_CAMERA_TYPES = {
    CameraAlarm.CAMERA_ALARM_OFFLINE: "camera_offline",
    CameraAlarm.CAMERA_ALARM_FROZEN: "camera_frozen",
    CameraAlarm.CAMERA_ALARM_COVERED: "camera_covered",
    # A detector refused the camera's profile: it judges the camera by an older one, or by no rule.
    CameraAlarm.CAMERA_ALARM_PROFILE_REFUSED: "camera_profile_refused",
}

Body = Callable[[Context, AsyncSession, Delivery], Awaitable[None]]
BatchBody = Callable[[Context, AsyncSession, list[Delivery]], Awaitable[None]]


def _occurred(delivery: Delivery) -> datetime:
    return delivery.event.meta.occurred_at.ToDatetime(tzinfo=UTC)  # type: ignore[attr-defined]


def _detection_signal(d: Delivery) -> Signal | None:
    e: ViolationDetected = d.event  # type: ignore[assignment]
    if e.phase != ViolationPhase.VIOLATION_PHASE_STARTED:
        return None  # UPDATED/ENDED describe a violation already counted by its STARTED
    seen = e.started_at.ToDatetime(tzinfo=UTC) if e.HasField("started_at") else _occurred(d)
    box = (e.box.x1, e.box.y1, e.box.x2, e.box.y2) if e.HasField("box") else ()
    return Signal(
        tenant_id=d.tenant_id,
        site_id=e.site_id,
        case_type=e.violation_type,
        source=Source.DETECTION,
        source_ref=e.violation_id,
        seen_at=seen,
        camera_id=e.camera_id,
        zone=e.zone,
        score=e.score,
        box=box,
        raw_snapshot_key=e.raw_snapshot_key,
        annotated_snapshot_key=e.annotated_snapshot_key,
        model_version=e.model_version,
    )


async def _on_detection(ctx: Context, session: AsyncSession, d: Delivery) -> None:
    if (signal := _detection_signal(d)) is not None:
        await intake(ctx, session, signal)


async def _on_detections(ctx: Context, session: AsyncSession, ds: list[Delivery]) -> None:
    """The hot path: a partition's batch of detections in one transaction (``intake_many``)."""
    await intake_many(ctx, session, [s for d in ds if (s := _detection_signal(d)) is not None])


async def _on_camera(ctx: Context, session: AsyncSession, d: Delivery) -> None:
    e: CameraStatusChanged = d.event  # type: ignore[assignment]
    case_type = _CAMERA_TYPES.get(e.alarm)
    if case_type is None:
        return
    ref = f"{e.camera_id}|{case_type}"
    if e.alarm_active:
        await intake(
            ctx,
            session,
            Signal(
                tenant_id=d.tenant_id,
                site_id=e.site_id,
                case_type=case_type,
                source=Source.CAMERA,
                source_ref=ref,
                seen_at=_occurred(d),
                camera_id=e.camera_id,
                zone=e.zone,
                description=e.reason,
                subject_id=e.camera_id,  # two cameras offline are two cases, clearing one by one
            ),
        )
    else:
        await _cleared(ctx, session, d.tenant_id, Source.CAMERA, ref, note=e.reason or "camera recovered")


async def _on_ledger(ctx: Context, session: AsyncSession, d: Delivery) -> None:
    e: LedgerAlert = d.event  # type: ignore[assignment]
    if not e.active:
        await _cleared(
            ctx, session, d.tenant_id, Source.LEDGER, e.alert_id, note=e.message or "ledger rule recovered"
        )
        return
    await intake(
        ctx,
        session,
        Signal(
            tenant_id=d.tenant_id,
            site_id=e.site_id,
            case_type=e.rule or e.ledger,
            source=Source.LEDGER,
            source_ref=e.alert_id,
            seen_at=_occurred(d),
            description=e.message,
            subject_id=e.subject_id,  # the sensor, staff member, supplier or record concerned
            severity=e.severity,  # graded on receipt by the tenant's rules (rules.grade)
        ),
    )


async def _on_complaint(ctx: Context, session: AsyncSession, d: Delivery) -> None:
    e: ComplaintFiled = d.event  # type: ignore[assignment]
    await intake(
        ctx,
        session,
        Signal(
            tenant_id=d.tenant_id,
            site_id=e.site_id,
            case_type=f"complaint_{e.category or 'other'}",
            source=Source.COMPLAINT,
            source_ref=e.complaint_id,
            seen_at=_occurred(d),
            description=e.text,
            raw_snapshot_key=e.photo_keys[0] if e.photo_keys else "",
            aggregate=False,
        ),
    )


async def _cleared(
    ctx: Context, session: AsyncSession, tenant_id: str, source: Source, ref: str, *, note: str
) -> None:
    """The condition of one subject ended by itself: note it on that subject's open cases (another
    subject's — the other silent sensor — stays as it is); closing stays a supervisor's call."""
    now = ctx.runtime.clock.now()
    for case in await cases.open_by_source(
        db_session=session, tenant_id=tenant_id, source=source.value, source_ref=ref
    ):
        if case.cleared_at is not None:
            continue
        case.cleared_at, case.updated_at = now, now
        await record(
            session,
            case,
            action=Action.CLEARED,
            actor_id=SYSTEM,
            previous=case.status,
            at=now,
            note=note,
            audited=False,
        )


def handler(ctx: Context, body: Body) -> Callable[[Delivery], Awaitable[None]]:
    """Wrap ``body`` in one transaction with the inbox claim; wake the relay after the commit."""
    consumer = ctx.settings.consumer_group

    async def handle(delivery: Delivery) -> None:
        async with ctx.db.session() as session:
            if not await claim_event(session, inbox, consumer=consumer, event_id=delivery.event_id):
                return  # handled before (redelivery after a crash, a producer retry)
            if await admit(ctx, session, [delivery]):  # else held: its site is unknown (bk_cases.held)
                await body(ctx, session, delivery)
        ctx.wake_relay()

    return handle


def batch_handler(ctx: Context, body: BatchBody) -> Callable[[list[Delivery]], Awaitable[None]]:
    """``handler`` for a batch: one transaction, one statement claiming every event in the inbox;
    only the events claimed now reach ``body`` (the others were handled before a crash or retry)."""
    consumer = ctx.settings.consumer_group

    async def handle(deliveries: list[Delivery]) -> None:
        async with ctx.db.session() as session:
            fresh = await claim_events(session, consumer=consumer, event_ids=[d.event_id for d in deliveries])
            # Those of an unknown site are held (bk_cases.held), the others handled now.
            known = await admit(ctx, session, [d for d in deliveries if d.event_id in fresh])
            if known:
                await body(ctx, session, known)
        ctx.wake_relay()

    return handle


CONSUMERS: dict[str, Body] = {
    "detections.v1": _on_detection,
    "camera.status.v1": _on_camera,
    "ledger.alerts.v1": _on_ledger,
    "complaints.v1": _on_complaint,
}


#: Topics whose volume needs batches (one transaction per partition batch); same effects as CONSUMERS.
BATCH_CONSUMERS: dict[str, BatchBody] = {"detections.v1": _on_detections}


def subscribe_all(ctx: Context) -> None:
    bus, group = ctx.runtime.bus, ctx.settings.consumer_group
    for topic, body in CONSUMERS.items():
        if topic in BATCH_CONSUMERS:
            bus.subscribe_batch(
                topic,
                group,
                batch_handler(ctx, BATCH_CONSUMERS[topic]),
                max_batch=ctx.settings.consumer_batch,
                max_attempts=5,
            )
        else:
            bus.subscribe(topic, group, handler(ctx, body), max_attempts=5)
