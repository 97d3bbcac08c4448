"""Seed the demo tenant into every service, each through its own seeding function (idempotent)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from brightkitchen import demo_data

if TYPE_CHECKING:
    from brightkitchen.platform import Platform


async def seed_demo(platform: Platform) -> None:
    from bk_ledger.sites.models import SiteSeed

    services = platform.services
    org_paths = {unit.id: unit.path for unit in demo_data.ORG_UNITS}
    await services["cases"].seed_demo(demo_data)  # type: ignore[attr-defined]
    await services["ledger"].seed_sites(  # type: ignore[attr-defined]
        demo_data.TENANT_ID,
        [
            SiteSeed(site_id=s.id, name=s.name, kind=s.kind, org_path=org_paths[s.org_id], opening=s.opening)
            for s in demo_data.SITES
        ],
        timezone=demo_data.TIMEZONE,
    )
    if platform.options.simulated_cameras:
        await seed_cameras(platform)
    await services["public"].seed_demo(  # type: ignore[attr-defined]
        tenant_id=demo_data.TENANT_ID, site_ids=[s.id for s in demo_data.SITES]
    )


async def seed_cameras(platform: Platform) -> None:
    org_paths = {unit.id: unit.path for unit in demo_data.ORG_UNITS}
    await platform.services["gateway"].seed_cameras(
        [  # type: ignore[attr-defined]
            {
                "id": cam.id,
                "tenant_id": demo_data.TENANT_ID,
                "site_id": site.id,
                "org_path": org_paths[site.org_id],
                "zone": cam.zone,
                "name": cam.name,
                "scenario": cam.scenario,
                "sample_fps": platform.options.sim_fps,
                "profile": {"timezone": demo_data.TIMEZONE},
            }
            for site in demo_data.SITES
            for cam in site.cameras
            if not platform.options.camera_ids or cam.id in platform.options.camera_ids
        ]
    )
