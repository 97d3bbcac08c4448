"""Run the detector on its own: ``python -m bk_detector`` (settings from ``BK_*`` variables).

gRPC on BK_GRPC_HOST:BK_GRPC_PORT for gateways; HTTP (health, readiness, metrics, /model) on
BK_HTTP_HOST:BK_HTTP_PORT for Kubernetes probes and Prometheus.
"""

from __future__ import annotations

import asyncio

import uvicorn

from bk_detector.service import create_service
from bk_detector.settings import DetectorSettings
from bkcore.logging import setup_logging
from bkcore.runtime import build_runtime
from bkcore.settings import load_settings


async def main() -> None:
    settings = load_settings(DetectorSettings)
    setup_logging(settings.service_name, settings.log_level, settings.log_json)
    runtime = build_runtime(settings)
    service = create_service(runtime, settings)
    await runtime.bus.start()
    try:
        await service.start()
        config = uvicorn.Config(service.app, host=settings.http_host, port=settings.http_port,
                                log_config=None, access_log=False)
        # uvicorn owns SIGINT/SIGTERM: when it returns, Kubernetes asked us to go.
        await uvicorn.Server(config).serve()
    finally:
        await service.stop()
        await runtime.bus.stop()


if __name__ == "__main__":
    asyncio.run(main())
