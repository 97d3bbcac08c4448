"""The case-manager's directory as the gateway keeps it (``directory.v1`` → ``bkcore.directory``).

A camera is scoped by its site's place in the org tree: when a site moves, every camera of it moves
with it (the old unit's supervisors lose it, the new unit's gain it), in the transaction that applies
the directory's event. A camera registered later takes its site's place from here, whatever org path
the caller sent.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bk_gateway.models import Camera, directory
from bkcore.directory import DirectorySite


async def place_cameras(session: AsyncSession, site: DirectorySite) -> None:
    """``DirectoryReadModel``'s site hook: the site's cameras take its current org path."""
    await session.execute(
        update(Camera)
        .where(
            Camera.tenant_id == site.tenant_id,
            Camera.site_id == site.site_id,
            Camera.org_path != site.org_path,
        )
        .values(org_path=site.org_path)
    )


async def site_org_path(session: AsyncSession, *, tenant_id: str, site_id: str) -> str | None:
    """The site's org path as the directory says (None: the directory has not told of it)."""
    t = directory.sites
    stmt = select(t.c.org_path).where(
        t.c.tenant_id == tenant_id, t.c.site_id == site_id, t.c.deleted.is_(False)
    )
    return (await session.execute(stmt)).scalar_one_or_none()
