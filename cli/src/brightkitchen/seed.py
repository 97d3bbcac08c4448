"""Seed the demo tenant into every service, each through its own seeding function (idempotent)."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from brightkitchen import demo_data

if TYPE_CHECKING:
    from brightkitchen.platform import Platform


async def seed_demo(platform: Platform) -> None:
    """The case-manager seeds the directory and publishes it (``directory.v1``); the other services
    learn it from there. The seed returns once the ledger's read model holds the demo sites."""
    services = platform.services
    await services["cases"].seed_demo(demo_data)  # type: ignore[attr-defined]
    await wait_for_directory(platform, timeout_s=60.0)
    if platform.options.simulated_cameras:
        await seed_cameras(platform)
    await services["public"].seed_demo(  # type: ignore[attr-defined]
        tenant_id=demo_data.TENANT_ID, site_ids=[s.id for s in demo_data.SITES]
    )


async def wait_for_directory(platform: Platform, *, timeout_s: float) -> None:
    ledger = platform.services["ledger"]
    want = {s.id for s in demo_data.SITES}
    deadline = time.monotonic() + timeout_s
    while True:
        have = await ledger.directory.known_sites(  # type: ignore[attr-defined]
            tenant_id=demo_data.TENANT_ID, site_ids=want
        )
        if have == want:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"the ledger did not receive the demo directory within {timeout_s:g} s "
                f"(directory.v1; missing sites: {sorted(want - have)})"
            )
        await asyncio.sleep(0.05)


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
