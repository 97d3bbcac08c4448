"""Run the public API alone (production: one service per pod): ``python -m bk_public``."""

from __future__ import annotations

import asyncio
import contextlib

import uvicorn
from fastapi import FastAPI

from bk_public.service import create_service
from bk_public.settings import PublicSettings
from bkcore.logging import setup_logging
from bkcore.runtime import build_runtime
from bkcore.settings import load_settings


def main() -> None:
    settings = load_settings(PublicSettings)
    setup_logging(settings.service_name, level=settings.log_level, json_logs=settings.log_json)
    runtime = build_runtime(settings)
    service = create_service(runtime, settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI):  # type: ignore[no-untyped-def]
        await runtime.bus.start()
        await service.start()
        try:
            yield
        finally:
            await service.stop()
            await runtime.bus.stop()

    root = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    root.mount("/api/public", service.app)
    root.mount("/", service.static_app())
    asyncio.run(
        uvicorn.Server(
            uvicorn.Config(
                root, host=settings.http_host, port=settings.http_port, proxy_headers=True, log_config=None
            )
        ).serve()
    )


if __name__ == "__main__":
    main()
