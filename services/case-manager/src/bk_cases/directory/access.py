"""Staff access in the case-manager: every request checked against the directory as it is now.

The case-manager owns the directory, so it reads its own ``users`` table (through the same
``bkcore.directory.StaffAccess`` rule and cache as the services that keep a read model). A user
deleted through ``directory.events.record_change`` leaves a version row behind: a token of theirs is
refused, not taken for a user the directory never knew.
"""

from __future__ import annotations

from bk_cases.context import Context
from bk_cases.directory.models import DirectoryVersion, User
from bkcore.directory import StaffAccess, StaffRecord


def staff_access(ctx: Context) -> StaffAccess:
    """The context's one ``StaffAccess`` (made on first use)."""
    if ctx.staff_access is None:

        async def load(tenant_id: str, user_id: str) -> StaffRecord | None:
            return await load_staff(ctx, tenant_id=tenant_id, user_id=user_id)

        ctx.staff_access = StaffAccess(load, service="case-manager", ttl_s=ctx.settings.directory_check_ttl_s)
    return ctx.staff_access


async def load_staff(ctx: Context, *, tenant_id: str, user_id: str) -> StaffRecord | None:
    async with ctx.db.session() as session:
        user = await session.get(User, user_id)
        if user is None:
            gone = await session.get(DirectoryVersion, (tenant_id, "user", user_id))
            return None if gone is None else StaffRecord(tenant_id, "", "/", frozenset(), deleted=True)
        return StaffRecord(
            tenant_id=user.tenant_id,
            role=user.role,
            org_path=user.org_path or "/",
            site_ids=frozenset(user.site_ids or ()),
            active=user.active is not False,
            name=user.name or "",
        )
