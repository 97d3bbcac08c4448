"""The HTTP app every service starts from: health, readiness, metrics, request ids, JSON errors."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.middleware.base import BaseHTTPMiddleware

from bkcore.auth import AuthError, Forbidden
from bkcore.logging import log_context
from bkcore.metrics import HTTP_LATENCY, HTTP_REQUESTS

log = logging.getLogger("bkcore.http")
ReadinessCheck = Callable[[], Awaitable[dict[str, bool]]]


def create_app(*, service: str, title: str, readiness: ReadinessCheck | None = None,
               version: str = "0.1.0", metrics_endpoint: bool = True, **fastapi_kwargs: object) -> FastAPI:
    """A FastAPI app with /healthz, /readyz and (optionally) /metrics."""
    app = FastAPI(title=title, version=version, **fastapi_kwargs)  # type: ignore[arg-type]
    app.add_middleware(_RequestContext, service=service)

    @app.get("/healthz", tags=["ops"], summary="Liveness: the process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @app.get("/readyz", tags=["ops"], summary="Readiness: dependencies reachable")
    async def readyz() -> JSONResponse:
        checks = await readiness() if readiness else {}
        ok = all(checks.values())
        return JSONResponse({"ready": ok, "checks": checks}, status_code=200 if ok else 503)

    if metrics_endpoint:
        @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", include_in_schema=False)
        async def metrics() -> Response:
            return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(AuthError)
    async def _unauthenticated(_: Request, exc: AuthError) -> JSONResponse:
        return JSONResponse({"detail": str(exc) or "not authenticated"}, status_code=401,
                            headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(Forbidden)
    async def _forbidden(_: Request, exc: Forbidden) -> JSONResponse:
        return JSONResponse({"detail": str(exc) or "forbidden"}, status_code=403)

    return app


class _RequestContext(BaseHTTPMiddleware):
    """Request id in and out (X-Request-ID), log context, metrics per route template."""

    def __init__(self, app, service: str) -> None:  # type: ignore[no-untyped-def]
        super().__init__(app)
        self.service = service

    async def dispatch(self, request: Request, call_next):  # type: ignore[no-untyped-def]
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        start = time.perf_counter()
        with log_context(request_id=request_id):
            response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        HTTP_REQUESTS.labels(self.service, request.method, template, str(response.status_code)).inc()
        HTTP_LATENCY.labels(self.service, request.method, template).observe(time.perf_counter() - start)
        response.headers["X-Request-ID"] = request_id
        return response
