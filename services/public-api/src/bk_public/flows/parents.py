"""A parent's bindings to schools (SQL for ``bk_public.api.parents``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from bk_public.models import binding, invite_code
from bkcore.db import Database


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


async def usable_invite(db: Database, *, tenant_id: str, code: str, now: datetime) -> Any | None:
    """The invite code's row when it can bind now; None for unknown, expired, revoked and foreign
    codes alike (one answer: nothing to probe)."""
    async with db.session() as s:
        inv = (await s.execute(select(invite_code).where(invite_code.c.code == code))).first()
    if (
        inv is None
        or inv.tenant_id != tenant_id
        or inv.revoked_at is not None
        or _aware(inv.expires_at) <= now
    ):
        return None
    return inv


async def bind(
    db: Database, *, tenant_id: str, parent_id: str, site_id: str, code: str, child_label: str, now: datetime
) -> tuple[str, datetime, str]:
    """The parent's live binding to the site, made now unless one exists: (id, created_at, label)."""
    async with db.session() as s:
        existing = (
            await s.execute(
                select(binding).where(
                    binding.c.tenant_id == tenant_id,
                    binding.c.parent_id == parent_id,
                    binding.c.site_id == site_id,
                    binding.c.revoked_at.is_(None),
                )
            )
        ).first()
        if existing is not None:
            return existing.id, existing.created_at, existing.child_label
        bid = "b-" + uuid.uuid4().hex[:16]
        await s.execute(
            binding.insert().values(
                id=bid,
                tenant_id=tenant_id,
                parent_id=parent_id,
                site_id=site_id,
                invite_code=code,
                child_label=child_label,
                created_at=now,
            )
        )
        return bid, now, child_label


async def live_bindings(db: Database, *, tenant_id: str, parent_id: str) -> list[Any]:
    """The parent's live bindings (rows), oldest first."""
    async with db.session() as s:
        return list(
            (
                await s.execute(
                    select(binding)
                    .where(
                        binding.c.tenant_id == tenant_id,
                        binding.c.parent_id == parent_id,
                        binding.c.revoked_at.is_(None),
                    )
                    .order_by(binding.c.created_at)
                )
            ).all()
        )


async def unbind(db: Database, *, tenant_id: str, parent_id: str, binding_id: str, at: datetime) -> bool:
    """Revoke one of the parent's live bindings; False when there was none to revoke."""
    async with db.session() as s:
        result = await s.execute(
            update(binding)
            .where(
                binding.c.id == binding_id,
                binding.c.tenant_id == tenant_id,
                binding.c.parent_id == parent_id,
                binding.c.revoked_at.is_(None),
            )
            .values(revoked_at=at)
        )
    return bool(result.rowcount)
