"""The inputs of the public figures that are not cases, and the last figures published.

Ratings (``ratings.v1``, from the public-api) and ledger completeness (``ledger.completeness.v1``,
from the ledger) are kept here so the score can be recomputed at any time from facts this service
holds; ``published_scores`` remembers what ``site_scores.v1`` last said, so only changes go out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from bk_cases.coltypes import UTCDateTime
from bk_cases.db import Base


class SiteRating(Base):
    """A parent's smiley for a canteen (满意 / 一般 / 不满意), as the public-api reported it."""

    __tablename__ = "site_ratings"
    __table_args__ = (Index("ix_site_ratings_tenant_rated", "tenant_id", "rated_at"),)
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    rating_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64))
    score: Mapped[str] = mapped_column(String(16))  # satisfied, neutral, dissatisfied
    day: Mapped[str] = mapped_column(String(10))
    rated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LedgerDayRecord(Base):
    """One site's ledger completeness (台账完整率) for one local day; a later report replaces it."""

    __tablename__ = "ledger_completeness"
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, local
    score: Mapped[float] = mapped_column(Float)
    items: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PublishedScore(Base):
    """What ``site_scores.v1`` last said of a site (its fingerprint), and when."""

    __tablename__ = "published_scores"
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
