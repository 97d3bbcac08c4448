"""Run the gateway alone: ``python -m bk_gateway`` (settings from BK_* environment variables)."""

from __future__ import annotations

import asyncio

import uvicorn

from bk_gateway.service import create_service
from bk_gateway.settings import GatewaySettings
from bkcore.logging import setup_logging
from bkcore.runtime import build_runtime
from bkcore.settings import load_settings


async def main() -> None:
    settings = load_settings(GatewaySettings)
    setup_logging(settings.service_name, settings.log_level, settings.log_json)
    runtime = build_runtime(settings)
    service = create_service(runtime, settings)
    await runtime.bus.start()
    await service.start()
    server = uvicorn.Server(uvicorn.Config(service.app, host=settings.http_host, port=settings.http_port,
                                           log_config=None))
    try:
        await server.serve()
    finally:
        await service.stop()
        await runtime.bus.stop()


if __name__ == "__main__":
    asyncio.run(main())
