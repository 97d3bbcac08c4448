"""All five services in one process: the embedded default, and the harness of end-to-end tests.

The same service code runs in production as separate processes; here one Runtime (bus, object
store, token issuer, clock) is shared, and every service's HTTP app is mounted under one server:

    /api/cases  /api/ledger  /api/gateway  /api/detector  /api/public  /objects  / (web clients)

The detector still serves gRPC on its own loopback port and the gateway streams frames to it,
exactly as across pods.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from dataclasses import dataclass
from typing import TypeVar

import uvicorn
from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from bkcore.clock import Clock
from bkcore.objstore.local import LocalObjectStore
from bkcore.runtime import build_runtime
from bkcore.service import Runtime, Service
from bkcore.settings import CoreSettings, StoreKind, load_settings

log = logging.getLogger("brightkitchen.platform")
S = TypeVar("S", bound=CoreSettings)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PlatformOptions:
    host: str = "127.0.0.1"
    port: int = 8080  # 0 = any free port
    seed_demo: bool = True
    simulated_cameras: bool = True  # seed the demo's simulated cameras
    camera_ids: tuple[str, ...] = ()  # only these demo cameras (empty = all of them)
    sim_fps: float = 2.0
    detector_model: object | None = None  # a model object to use instead of the shipped one
    clock: Clock | None = None


def _service_settings(cls: type[S], core: CoreSettings, verify_with: str, **extra: object) -> S:
    """A service's own settings: its fields from the environment, the shared ones from ``core``.

    The schema and service name stay the service's own defaults, so each keeps its own data. The
    token-signing key stays in the shared runtime (the process's one issuer); each service's own
    settings hold only the public key, ``verify_with``, as they would in their own pods.
    """
    shared = core.model_dump(
        exclude={
            "service_name",
            "db_schema",
            "jwt_private_key",
            "jwt_private_key_file",
            "jwt_public_keys_file",
        }
    )
    shared["jwt_public_keys"] = verify_with
    return load_settings(cls, **{k: v for k, v in {**shared, **extra}.items() if k in cls.model_fields})


class Platform:
    """Start with ``async with Platform(settings, options) as p:``; ``p.base_url`` is the server."""

    def __init__(self, settings: CoreSettings, options: PlatformOptions | None = None) -> None:
        self.settings = settings
        self.options = options or PlatformOptions()
        self.runtime: Runtime | None = None
        self.services: dict[str, Service] = {}
        self.app = FastAPI(title="Bright Kitchen", docs_url=None, redoc_url=None, openapi_url=None)
        self._server: uvicorn.Server | None = None
        self._server_task: asyncio.Task[None] | None = None
        self.port = self.options.port or free_port()
        self._bus_started = False

    @property
    def base_url(self) -> str:
        return f"http://{self.options.host}:{self.port}"

    async def __aenter__(self) -> Platform:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        from bk_cases.service import create_service as create_cases
        from bk_detector.service import create_service as create_detector
        from bk_gateway.service import create_service as create_gateway
        from bk_ledger.service import create_service as create_ledger
        from bk_public.service import create_service as create_public

        settings = self.settings.model_copy(
            update={"public_base_url": self.base_url, "http_host": self.options.host, "http_port": self.port}
        )
        # The demo's platform admin runs the platform — opens tenants, administers the detector's
        # models — unless BK_OPERATOR_TENANT names another tenant; every service reads the same one.
        if self.options.seed_demo and not settings.operator_tenant:
            from brightkitchen.demo_data import TENANT_ID

            settings = settings.model_copy(update={"operator_tenant": TENANT_ID})
        self.runtime = rt = build_runtime(settings, clock=self.options.clock)
        keys = rt.tokens.public_keys_pem()  # each service's own settings: verification keys only

        detector = create_detector(rt, model=self.options.detector_model)
        await detector.start()  # its gRPC address is known only once it serves
        self.services["detector"] = detector
        from bk_cases.settings import CaseSettings
        from bk_gateway.settings import GatewaySettings
        from bk_ledger.settings import LedgerSettings
        from bk_public.settings import PublicSettings

        created: list[tuple[str, Service]] = [
            ("cases", create_cases(rt, settings=_service_settings(CaseSettings, settings, keys))),
            ("ledger", create_ledger(rt, settings=_service_settings(LedgerSettings, settings, keys))),
            (
                "gateway",
                create_gateway(
                    rt,
                    settings=_service_settings(
                        GatewaySettings,
                        settings,
                        keys,
                        detector_endpoints=detector.grpc_address,  # type: ignore[attr-defined]
                        sim_fps=self.options.sim_fps,
                    ),
                ),
            ),
            ("public", create_public(rt, settings=_service_settings(PublicSettings, settings, keys))),
        ]
        for name, service in created:
            if name == "public":
                service.local_base_url = self.base_url  # type: ignore[attr-defined]
            await service.start()
            self.services[name] = service
        # Consumers subscribed in start(); Kafka wants every subscription before the bus starts.
        await rt.bus.start()
        self._bus_started = True

        self._mount()
        if self.options.seed_demo:
            from brightkitchen.seed import seed_demo

            await seed_demo(self)
        await self._serve()
        log.info("platform up", extra={"url": self.base_url})

    def _mount(self) -> None:
        app = self.app
        for name, service in self.services.items():
            app.mount(f"/api/{name}", service.app)
        assert self.runtime is not None
        if self.settings.object_store == StoreKind.LOCAL and isinstance(self.runtime.store, LocalObjectStore):
            from bkcore.objstore.http import object_router

            app.include_router(object_router(self.runtime.store))

        @app.get("/", include_in_schema=False)
        async def index() -> RedirectResponse:
            return RedirectResponse("/console/")

        # Last: the web clients take every path the APIs above did not.
        static = getattr(self.services.get("public"), "static_app", None)
        if callable(static):
            app.mount("/", static())

    async def _serve(self) -> None:
        config = uvicorn.Config(
            self.app,
            host=self.options.host,
            port=self.port,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._server_task = asyncio.create_task(self._server.serve(), name="http")
        for _ in range(200):
            if self._server.started:
                return
            if self._server_task.done():
                raise RuntimeError(f"HTTP server failed to start on {self.base_url}")
            await asyncio.sleep(0.05)
        raise RuntimeError(f"HTTP server did not start on {self.base_url} within 10 s")

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            if self._server_task:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._server_task, 10)
        for service in reversed(list(self.services.values())):
            try:
                await service.stop()
            except Exception:
                log.exception("stopping %s failed", service.name)
        if self.runtime is not None and self._bus_started:
            await self.runtime.bus.stop()
            self._bus_started = False
        self.services.clear()
