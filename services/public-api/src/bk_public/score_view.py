"""The scores read model: site_scores.v1 → ``site_score_view``, exactly once, newest wins.

The case-manager owns every public figure (bk_cases.stats); this side only keeps what it published,
so the mini-program, the kiosk and the public red/black list show the console's numbers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.protobuf.json_format import MessageToDict
from sqlalchemy import select, update

from bk_public.models import inbox, site_score_view
from bkcore.bus.base import Delivery
from bkcore.db import Database, claim_event
from bkproto.events.v1.site_scores_pb2 import SiteScore

CONSUMER = "public-api"
_COLUMNS = ("site_id", "org_path", "score", "grade", "inspection_frequency", "list", "rank")


def score_row(ev: SiteScore) -> dict[str, Any]:
    """The read-model row an event describes (pure): the list columns, the rest as published."""
    figures = MessageToDict(ev, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
    figures.pop("meta", None)
    for k in _COLUMNS:
        figures.pop(k, None)
    return {
        "tenant_id": ev.meta.tenant_id,
        "site_id": ev.site_id,
        "org_path": ev.org_path,
        "score": ev.score,
        "grade": ev.grade,
        "inspection_frequency": ev.inspection_frequency,
        "list": ev.list,
        "rank": ev.rank,
        "figures": figures,
        "computed_at": ev.meta.occurred_at.ToDatetime(tzinfo=UTC),
    }


class ScoreProjector:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def apply(self, delivery: Delivery) -> bool:
        """Store the score; False for a duplicate or for an older score arriving late."""
        ev: SiteScore = delivery.event  # type: ignore[assignment]
        row = score_row(ev)
        v = site_score_view.c
        async with self._db.session() as s:
            if not await claim_event(s, inbox, consumer=CONSUMER, event_id=delivery.event_id):
                return False
            current = (
                await s.execute(
                    select(v.computed_at).where(v.tenant_id == row["tenant_id"], v.site_id == row["site_id"])
                )
            ).scalar()
            if current is None:
                await s.execute(site_score_view.insert().values(**row))
                return True
            if _aware(current) > row["computed_at"]:
                return False
            await s.execute(
                update(site_score_view)
                .where(v.tenant_id == row["tenant_id"], v.site_id == row["site_id"])
                .values(**row)
            )
        return True


def public_score(row: Any) -> dict[str, Any]:
    """A site's published score as the API shows it (no org path: the public needs none)."""
    f = row.figures or {}
    return {
        "score": row.score,
        "grade": row.grade,
        "inspection_frequency": row.inspection_frequency,
        "list": row.list,
        "rank": row.rank,
        "list_reason": f.get("list_reason", ""),
        "computed_at": _aware(row.computed_at),
    }


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)  # SQLite hands back naive datetimes
