"""Ratings and complaints, each stored with its event in one transaction (SQL for
``bk_public.api.feedback``; the outbox relay publishes the events to the case-manager)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bk_public.models import complaint, outbox, rating
from bkcore.db import Database, enqueue_event
from bkproto.events.v1.complaints_pb2 import ComplaintFiled
from bkproto.events.v1.site_scores_pb2 import SiteRated


class AlreadyRated(Exception):
    """The parent rated this site today already (one rating per parent, site and local day)."""


async def add_rating(
    db: Database, *, event: SiteRated, parent_id: str, comment: str, created_at: datetime
) -> None:
    """Store the rating and its ``ratings.v1`` event; AlreadyRated when the parent rated the site
    that day already (the unique key decides, so two racing requests store one)."""
    try:
        await _add_rating(db, event=event, parent_id=parent_id, comment=comment, created_at=created_at)
    except IntegrityError:
        raise AlreadyRated from None


async def _add_rating(
    db: Database, *, event: SiteRated, parent_id: str, comment: str, created_at: datetime
) -> None:
    async with db.session() as s:
        await s.execute(
            rating.insert().values(
                id=event.rating_id,
                tenant_id=event.meta.tenant_id,
                site_id=event.site_id,
                parent_id=parent_id,
                day=event.day,
                score=event.score,
                comment=comment,
                created_at=created_at,
            )
        )
        await enqueue_event(s, outbox, "ratings.v1", event)  # → the case-manager's score


async def todays_score(db: Database, *, tenant_id: str, site_id: str, parent_id: str, day: str) -> int | None:
    """The score the parent gave the site on ``day``, or None."""
    async with db.session() as s:
        return (
            await s.execute(
                select(rating.c.score).where(
                    rating.c.tenant_id == tenant_id,
                    rating.c.site_id == site_id,
                    rating.c.parent_id == parent_id,
                    rating.c.day == day,
                )
            )
        ).scalar()


async def add_complaint(db: Database, *, event: ComplaintFiled, created_at: datetime) -> None:
    """Store the complaint and its ``complaints.v1`` event."""
    async with db.session() as s:
        await s.execute(
            complaint.insert().values(
                id=event.complaint_id,
                tenant_id=event.meta.tenant_id,
                site_id=event.site_id,
                parent_id=event.reporter_id,
                category=event.category,
                text=event.text,
                photo_keys=list(event.photo_keys),
                created_at=created_at,
            )
        )
        await enqueue_event(s, outbox, "complaints.v1", event)
