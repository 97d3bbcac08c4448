"""The gateway's authorisation matrix: every route × every kind of caller × own site, a site in the
same subtree, another subtree, another tenant (``bkcore.testing.authz``). A new route without a row
fails ``test_every_route_has_a_row``."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from gateway_helpers import runtime, settings, until

from bk_gateway.service import GatewayService, create_service
from bkcore.auth import STREAM_GATEWAY
from bkcore.testing.authz import (
    ADMIN,
    ANONYMOUS,
    DEMO_PLACES,
    OTHER_ADMIN,
    SERVICE,
    STAFF_ROLES,
    SUPERVISING,
    WHERES,
    Call,
    Caller,
    Route,
    Where,
    allow,
    missing_routes,
    run_matrix,
    standard_callers,
)

P = DEMO_PLACES
READERS = allow(STAFF_ROLES, SERVICE)  # the public-api's identity holds cameras:read
EVERYONE = allow(STAFF_ROLES, SERVICE, "parent", ANONYMOUS)


def camera(where: Where) -> str:
    return f"{P.site(where)}-cam"


def camera_body(where: Where, camera_id: str) -> dict[str, Any]:
    place = P[where]
    return {
        **{"id": camera_id, "tenant_id": place.tenant_id, "site_id": place.site_id},
        **{"org_path": place.org_path, "zone": "cooking", "name": "matrix", "source_url": "sim:cooking"},
    }


class World:
    """The seeded gateway, a client, and each tenant's admin (to set up what a row needs)."""

    def __init__(self, svc: GatewayService, client: httpx.AsyncClient, callers: list[Caller]) -> None:
        self.svc, self.client = svc, client
        self.callers = callers
        by_name = {c.name: c for c in callers}
        self.admin_of = {
            w: by_name[OTHER_ADMIN if w == Where.OTHER_TENANT else ADMIN].headers for w in WHERES
        }
        self.ids = itertools.count()
        self.live: dict[Where, dict[str, str]] = {}

    async def fresh_camera(self, where: Where) -> str:
        cam = f"fresh-{next(self.ids)}"
        r = await self.client.put(
            f"/v1/cameras/{cam}", json=camera_body(where, cam), headers=self.admin_of[where]
        )
        assert r.status_code == 200, r.text
        return cam

    async def play_urls(self, where: Where) -> dict[str, str]:
        """The signed URLs the platform hands out for the place's camera (one live session each),
        with the newest segment the playlist names now (live playlists roll: older ones go)."""
        if where not in self.live:
            r = await self.client.post(f"/v1/cameras/{camera(where)}/live", headers=self.admin_of[where])
            assert r.status_code == 200, r.text
            self.live[where] = {k: _local(v) for k, v in r.json().items() if k in ("hls_url", "snapshot_url")}
        urls = dict(self.live[where])
        playlist = await self.client.get(urls["hls_url"])
        assert playlist.status_code == 200, playlist.text
        newest = [line for line in playlist.text.splitlines() if line.startswith("seg_")][-1]
        urls["segment"] = urls["hls_url"].split("?")[0].rsplit("/", 1)[0] + "/" + newest
        return urls

    def table(self) -> list[Route]:
        def on(suffix: str = "", **kw: Any):  # type: ignore[no-untyped-def]
            return lambda w: Call(f"/v1/cameras/{camera(w)}{suffix}", kw)

        async def fresh(w: Where) -> Call:
            return Call(f"/v1/cameras/{await self.fresh_camera(w)}")

        def put(w: Where) -> Call:
            cam = f"put-{next(self.ids)}"
            return Call(f"/v1/cameras/{cam}", {"json": camera_body(w, cam)})

        def played(key: str):  # type: ignore[no-untyped-def]
            async def build(w: Where) -> Call:
                return Call((await self.play_urls(w))[key])

            return build

        cameras = lambda r: P.of_sites(c["site_id"] for c in r.json())  # noqa: E731
        return [
            Route("GET /v1/cameras", READERS, listed=cameras),
            Route("GET /v1/cameras/status", READERS, listed=cameras),
            Route("GET /v1/cameras/{camera_id}", READERS, on()),
            Route("GET /v1/cameras/{camera_id}/status", READERS, on("/status")),
            Route("GET /v1/cameras/{camera_id}/snapshot.jpg", READERS, on("/snapshot.jpg")),
            Route("POST /v1/cameras/{camera_id}/live", READERS, on("/live")),
            Route("GET /v1/ai/status", READERS),
            # Writes: platform admins, supervisors for the sites of their subtree (and services
            # holding cameras:write, which the public-api does not). A camera declared in another
            # tenant or outside the caller's subtree is refused by name (403).
            Route("PUT /v1/cameras/{camera_id}", SUPERVISING, put, hidden=403),
            Route("POST /v1/cameras", SUPERVISING, lambda w: Call("/v1/cameras", put(w).kwargs), hidden=403),
            Route("PATCH /v1/cameras/{camera_id}", SUPERVISING, on(json={"name": "renamed"})),
            Route("DELETE /v1/cameras/{camera_id}", SUPERVISING, fresh),
            # Signed play URLs: no token; holding the URL is the authorisation (forgeries: below).
            Route(
                "GET /v1/live/{tenant_id}/{camera_id}/index.m3u8",
                EVERYONE,
                played("hls_url"),
                public=True,
                scoped=False,
                ok=frozenset({200, 503}),
            ),
            Route(
                "GET /v1/live/{tenant_id}/{camera_id}/snapshot.jpg",
                EVERYONE,
                played("snapshot_url"),
                public=True,
                scoped=False,
            ),
            Route(
                "GET /v1/live/{tenant_id}/{camera_id}/{segment}",
                EVERYONE,
                played("segment"),
                public=True,
                scoped=False,
            ),
        ]


def _local(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    rt = runtime(settings(tmp_path))
    svc = create_service(rt)
    await rt.bus.start()
    await svc.start()
    try:
        await svc.seed_cameras([camera_body(w, camera(w)) for w in WHERES])
        for w in WHERES:
            key = (P[w].tenant_id, camera(w))
            await until(lambda k=key: svc.fleet.workers[k].latest is not None, 60, f"a frame of {key}")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=svc.app), base_url="http://gw") as c:
            yield World(svc, c, standard_callers(rt.tokens, P, audience=STREAM_GATEWAY))
    finally:
        await svc.stop()
        await rt.bus.stop()


async def test_every_route_has_a_row(world: World) -> None:
    assert missing_routes(world.svc.app, world.table()) == []


async def test_authorisation_matrix(world: World) -> None:
    failures = await run_matrix(world.client, world.table(), world.callers)
    assert failures == [], "\n".join(failures)


async def test_a_play_route_without_a_valid_signature_is_refused_whatever_the_token(world: World) -> None:
    """Tokens do not open play routes: a path without its signature, or signed for another
    camera, is a 403 for everyone — the admin of the camera's own tenant included."""
    urls = await world.play_urls(Where.OWN)
    other = await world.play_urls(Where.OTHER_TENANT)
    for key in ("hls_url", "snapshot_url", "segment"):
        bare = urls[key].split("?")[0]
        borrowed = bare + "?" + other[key].split("?")[1]
        for caller in world.callers:
            for path in (bare, borrowed):
                r = await world.client.get(path, headers=dict(caller.headers))
                assert r.status_code == 403, (caller.name, path, r.status_code)
