"""The cases read model: cases.v1 → ``case_view`` + ``case_event``, exactly once, then the alarm wall.

A case is scoped by its site's place in the directory: a site moved to another org unit takes its
cases along (``follow_site``, on directory.v1), and a case event published before the move but
arriving after it does not bring the old path back (the projector takes the directory's).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bk_public.models import case_event, case_view, inbox, site_score_view
from bkcore.bus.base import Delivery
from bkcore.db import Database, claim_event
from bkcore.directory import DirectoryReadModel, DirectorySite
from bkproto.events.v1.cases_pb2 import CaseChanged

CONSUMER = "public-api"
CLOSED = frozenset({"closed", "false_alarm", "archived"})


def case_row(ev: CaseChanged, at: datetime) -> dict[str, Any]:
    """The read-model row an event describes (pure)."""
    deadline = ev.deadline.ToDatetime(tzinfo=UTC) if ev.HasField("deadline") else None
    return {
        "case_id": ev.case_id,
        "tenant_id": ev.meta.tenant_id,
        "site_id": ev.site_id,
        "org_path": ev.org_path,
        "source": int(ev.source),
        "case_type": ev.case_type,
        "risk_class": int(ev.risk_class),
        "status": ev.status,
        "action": ev.action,
        "verdict": ev.verdict,
        "snapshot_key": ev.snapshot_key,
        "card_level": int(ev.card_level),
        "occurrences": int(ev.occurrences) or 1,
        "deadline": deadline,
        "updated_at": at,
        "closed_at": at if ev.status in CLOSED else None,
    }


async def follow_site(session: AsyncSession, site: DirectorySite) -> None:
    """A site change from directory.v1 (in the transaction applying it): a moved site's cases and
    score are scoped by its new path — the old unit's supervisors lose them, the new one's gain them."""
    for table in (case_view, site_score_view):
        await session.execute(
            update(table)
            .where(
                table.c.tenant_id == site.tenant_id,
                table.c.site_id == site.site_id,
                table.c.org_path != site.org_path,
            )
            .values(org_path=site.org_path)
        )


class CaseProjector:
    """Applies case events; returns the new row for the alarm hub (None for duplicates)."""

    def __init__(self, db: Database, directory: DirectoryReadModel | None = None) -> None:
        self._db, self._directory = db, directory

    async def apply(self, delivery: Delivery) -> dict[str, Any] | None:
        ev: CaseChanged = delivery.event  # type: ignore[assignment]
        at = (
            ev.meta.occurred_at.ToDatetime(tzinfo=UTC)
            if ev.meta.HasField("occurred_at")
            else datetime.now(UTC)
        )
        row = case_row(ev, at)
        async with self._db.session() as s:
            if not await claim_event(s, inbox, consumer=CONSUMER, event_id=delivery.event_id):
                return None
            if self._directory is not None:  # the site's place now, whatever the event was told
                site = await self._directory.site(s, tenant_id=row["tenant_id"], site_id=row["site_id"])
                if site is not None and not site.deleted:
                    row["org_path"] = site.org_path
            await s.execute(
                case_event.insert().values(  # claimed above, so never a duplicate
                    event_id=delivery.event_id,
                    case_id=ev.case_id,
                    tenant_id=ev.meta.tenant_id,
                    action=ev.action,
                    status=ev.status,
                    actor_id=ev.actor_id,
                    at=at,
                )
            )
            current = (
                await s.execute(
                    select(case_view.c.updated_at, case_view.c.created_at, case_view.c.snapshot_key).where(
                        case_view.c.case_id == ev.case_id
                    )
                )
            ).first()
            if current is None:
                await s.execute(case_view.insert().values(**row, created_at=at))
                return {**row, "created_at": at, "is_new": True}
            created_at = current.created_at
            if _aware(current.updated_at) > at:
                return None  # an older change arriving late must not roll the case back
            if not row["snapshot_key"]:
                row["snapshot_key"] = current.snapshot_key  # later events may not repeat the picture
            await s.execute(update(case_view).where(case_view.c.case_id == ev.case_id).values(**row))
        return {**row, "created_at": created_at, "is_new": False}


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)  # SQLite hands back naive datetimes
