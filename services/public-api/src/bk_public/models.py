"""Tables of the public API: the cases read model, parents and their bindings, feedback, notices."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from bkcore.db import UtcDateTime, add_messaging_tables
from bkcore.directory import add_directory_tables
from bkcore.throttle import throttle_table

metadata = MetaData()
inbox, outbox = add_messaging_tables(metadata)
#: The case-manager's directory as published on directory.v1: staff are checked against it.
directory = add_directory_tables(metadata)

#: One row per case, kept current from cases.v1 (the console's alarm wall and the public window).
case_view = Table(
    "case_view",
    metadata,
    Column("case_id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("site_id", String(64), nullable=False),
    Column("org_path", String(512), nullable=False),
    Column("source", Integer, nullable=False, default=0),
    Column("case_type", String(64), nullable=False),
    Column("risk_class", Integer, nullable=False, default=0),
    Column("status", String(32), nullable=False),
    Column("action", String(32), nullable=False, default=""),
    Column("verdict", String(32), nullable=False, default=""),
    Column("snapshot_key", String(1024), nullable=False, default=""),
    Column("card_level", Integer, nullable=False, default=0),
    Column("occurrences", Integer, nullable=False, default=1),
    Column("deadline", UtcDateTime(), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("closed_at", UtcDateTime(), nullable=True),
    Index("ix_case_view_tenant_site", "tenant_id", "site_id", "updated_at"),
    Index("ix_case_view_tenant_updated", "tenant_id", "updated_at"),
)

#: Every change of a case, for the timeline (kept from the same events).
case_event = Table(
    "case_event",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("case_id", String(64), nullable=False, index=True),
    Column("tenant_id", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("status", String(32), nullable=False),
    Column("actor_id", String(64), nullable=False, default=""),
    Column("at", UtcDateTime(), nullable=False),
)

parent = Table(
    "parent",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("openid", String(128), nullable=False),
    Column("nickname", String(64), nullable=False, default=""),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("tenant_id", "openid", name="uq_parent_openid"),
)

#: A code a school hands to its parents (邀请码); revoking it ends every binding made with it.
invite_code = Table(
    "invite_code",
    metadata,
    Column("code", String(32), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("site_id", String(64), nullable=False, index=True),
    Column("label", String(64), nullable=False, default=""),
    Column("created_by", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
)

binding = Table(
    "binding",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("parent_id", String(64), nullable=False),
    Column("site_id", String(64), nullable=False),
    Column("invite_code", String(32), nullable=False, index=True),
    Column("child_label", String(64), nullable=False, default=""),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
    Index("ix_binding_parent", "tenant_id", "parent_id", "revoked_at"),
)

rating = Table(
    "rating",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("site_id", String(64), nullable=False),
    Column("parent_id", String(64), nullable=False),
    Column("day", String(10), nullable=False),  # local date, YYYY-MM-DD
    Column("score", String(16), nullable=False),
    Column("comment", Text, nullable=False, default=""),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("tenant_id", "site_id", "parent_id", "day", name="uq_rating_per_day"),
)

complaint = Table(
    "complaint",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("site_id", String(64), nullable=False, index=True),
    Column("parent_id", String(64), nullable=False),
    Column("category", String(32), nullable=False),
    Column("text", Text, nullable=False),
    Column("photo_keys", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

#: Notices (公告) and food-safety tips (科普), tenant-wide or for one site.
notice = Table(
    "notice",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("site_id", String(64), nullable=True),
    Column("kind", String(16), nullable=False),  # notice | tip
    Column("title", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("published_at", UtcDateTime(), nullable=False),
    Index("ix_notice_tenant", "tenant_id", "published_at"),
)

#: Failed invite codes (bk_public.invites): in total, per parent and per client IP.
invite_throttle = throttle_table(metadata, "invite_throttle")

#: Each site's risk score as the case-manager last published it (site_scores.v1): the public side
#: shows these figures and computes none of its own.
site_score_view = Table(
    "site_score_view",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("site_id", String(64), primary_key=True),
    Column("org_path", String(512), nullable=False),
    Column("score", Float, nullable=False),
    Column("grade", String(16), nullable=False),
    Column("inspection_frequency", String(16), nullable=False),
    Column("list", String(8), nullable=False),  # red, black or ""
    Column("rank", Integer, nullable=False),
    Column("figures", JSON, nullable=False),  # the event's other fields, as published
    Column("computed_at", UtcDateTime(), nullable=False),
    Index("ix_site_score_view_list", "tenant_id", "list", "rank"),
)
