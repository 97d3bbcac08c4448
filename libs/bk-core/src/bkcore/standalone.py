"""Run one service as its own process (production: one service per pod).

Every service's ``python -m <package>`` is this: settings from the environment, the adapters they
choose, the service started before the bus (Kafka takes subscriptions only before it starts), its
HTTP app on ``BK_HTTP_HOST:BK_HTTP_PORT``, and an orderly stop when uvicorn is told to go
(SIGTERM from Kubernetes, Ctrl-C).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

import uvicorn
from fastapi import FastAPI

from bkcore.heap import freeze_startup_heap, install_gc_metrics
from bkcore.logging import setup_logging
from bkcore.runtime import build_runtime
from bkcore.service import Runtime, Service
from bkcore.settings import CoreSettings, load_settings

S = TypeVar("S", bound=CoreSettings)


def serve_standalone(
    settings_cls: type[S],
    create: Callable[[Runtime, S], Service],
    *,
    wrap: Callable[[Service], FastAPI] | None = None,
) -> None:
    """Load ``settings_cls`` (a bad setting exits naming it), then run the service until stopped.

    ``wrap`` builds the app uvicorn serves from the service, when it is more than ``service.app``
    (the public API also serves the web clients at ``/``).
    """
    settings = load_settings(settings_cls)
    setup_logging(settings.service_name, settings.log_level, settings.log_json)
    asyncio.run(_serve(settings, create, wrap))


async def _serve(
    settings: S, create: Callable[[Runtime, S], Service], wrap: Callable[[Service], FastAPI] | None
) -> None:
    install_gc_metrics()
    runtime = build_runtime(settings)
    service = create(runtime, settings)
    await service.start()
    try:
        await runtime.bus.start()
        try:
            if settings.gc_freeze:  # models loaded, warmed up, connections open: start-up is over
                freeze_startup_heap()
            app = wrap(service) if wrap else service.app
            # proxy_headers=False: X-Forwarded-For is read by bkcore.clientip alone, by the
            # configured trusted hops (uvicorn would rewrite the peer by its own rule first).
            config = uvicorn.Config(
                app,
                host=settings.http_host,
                port=settings.http_port,
                log_config=None,
                access_log=False,
                proxy_headers=False,
            )
            await uvicorn.Server(config).serve()
        finally:
            await runtime.bus.stop()
    finally:
        await service.stop()
