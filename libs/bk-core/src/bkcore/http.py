"""The HTTP app every service starts from: health, readiness, metrics, request ids, JSON errors."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bkcore.auth import AuthError, Forbidden
from bkcore.inputs import MAX_BODY_BYTES
from bkcore.logging import log_context
from bkcore.metrics import HTTP_LATENCY, HTTP_REQUESTS
from bkcore.text_guard import TextGuard

log = logging.getLogger("bkcore.http")


@dataclass(frozen=True, slots=True)
class Check:
    """A readiness check that can say why it fails: ``/readyz`` shows ``reason`` under ``reasons``."""

    ok: bool
    reason: str = ""


ReadinessCheck = Callable[[], Awaitable[Mapping[str, bool | Check]]]


def create_app(
    *,
    service: str,
    title: str,
    readiness: ReadinessCheck | None = None,
    version: str = "0.1.0",
    metrics_endpoint: bool = True,
    max_body_size: int = MAX_BODY_BYTES,
    **fastapi_kwargs: object,
) -> FastAPI:
    """A FastAPI app with /healthz, /readyz and (optionally) /metrics.

    Every request body is capped at ``max_body_size`` while it streams in (413 from its
    Content-Length, or as soon as it passes the cap); an upload route raises its own cap with
    ``max_body_size=bkcore.inputs.upload_body_limit(...)``. Invalid text in the path, query or
    JSON body is a 422 before routing (``bkcore.text_guard``).
    """
    app = FastAPI(title=title, version=version, max_body_size=max_body_size, **fastapi_kwargs)  # type: ignore[arg-type]
    app.add_middleware(TextGuard)
    app.add_middleware(_RequestContext, service=service)  # outermost: refusals get ids and metrics too

    @app.get("/healthz", tags=["ops"], summary="Liveness: the process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @app.get("/readyz", tags=["ops"], summary="Readiness: dependencies reachable")
    async def readyz() -> JSONResponse:
        raw = await readiness() if readiness else {}
        checks = {k: v.ok if isinstance(v, Check) else bool(v) for k, v in raw.items()}
        ok = all(checks.values())
        body: dict[str, Any] = {"ready": ok, "checks": checks}
        reasons = {k: v.reason for k, v in raw.items() if isinstance(v, Check) and not v.ok and v.reason}
        if reasons:
            body["reasons"] = reasons
        return JSONResponse(body, status_code=200 if ok else 503)

    if metrics_endpoint:

        @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", include_in_schema=False)
        async def metrics() -> Response:
            return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(AuthError)
    async def _unauthenticated(_: Request, exc: AuthError) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc) or "not authenticated"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    @app.exception_handler(Forbidden)
    async def _forbidden(_: Request, exc: Forbidden) -> JSONResponse:
        return JSONResponse({"detail": str(exc) or "forbidden"}, status_code=403)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": jsonable_encoder(validation_details(exc.errors()))}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 422:  # a route's own 422 has the documented shape too
            return JSONResponse(
                {"detail": jsonable_encoder(unprocessable_details(exc.detail))},
                status_code=422,
                headers=getattr(exc, "headers", None),
            )
        return await http_exception_handler(request, exc)

    return app


def unprocessable_details(detail: Any) -> Any:
    """A route's ``HTTPException(422, ...)`` as the list every 422 documents (``HTTPValidationError``),
    each item with ``type``, ``loc`` and ``msg`` (extra keys kept). Bare strings and items without a
    type answered otherwise than the spec says (schemathesis found three such routes). A structured
    report (a dict, e.g. an import's rows) is left as its route documents it."""
    if isinstance(detail, dict):
        return detail
    out = []
    for item in detail if isinstance(detail, list) else [detail]:
        if isinstance(item, dict):
            loc = item.get("loc")
            out.append(
                {
                    **item,
                    "type": str(item.get("type") or "value_error"),
                    "loc": list(loc) if isinstance(loc, list | tuple) else ["body"],
                    "msg": str(item.get("msg", "")),
                }
            )
        else:
            out.append({"type": "value_error", "loc": ["body"], "msg": str(item)})
    return out


def validation_details(errors: Any) -> list[dict[str, Any]]:
    """422 details without the rejected input: a bad request must not echo back what it carried
    (a camera URL with its password, a phone number), which would then sit in proxies' and
    clients' logs. Each error keeps where (``loc``), what (``msg``) and its ``type``."""
    return [{k: v for k, v in e.items() if k in ("type", "loc", "msg")} for e in errors]


class _RequestContext:
    """Request id in and out (X-Request-ID), log context, metrics per route template.

    A pure ASGI middleware: ``BaseHTTPMiddleware`` costs a task and a stream per request, which
    dominated the hot path of cached reads.
    """

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service
        # Label lookups take a lock and hash the label tuple: keep the children per key.
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._latencies: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                request_id = value.decode("latin-1")
                break
        request_id = request_id or uuid.uuid4().hex
        rid_header = (b"x-request-id", request_id.encode("latin-1"))
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [h for h in message.get("headers", ()) if h[0].lower() != b"x-request-id"]
                headers.append(rid_header)
                message = {**message, "headers": headers}
            await send(message)

        start = time.perf_counter()
        try:
            with log_context(request_id=request_id):
                await self.app(scope, receive, send_with_id)
        finally:
            self._observe(scope, status, time.perf_counter() - start)

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        method = scope["method"]
        template = getattr(scope.get("route"), "path", "unmatched")
        counter = self._counters.get((method, template, status))
        if counter is None:
            counter = self._counters[(method, template, status)] = HTTP_REQUESTS.labels(
                self.service, method, template, str(status)
            )
        latency = self._latencies.get((method, template))
        if latency is None:
            latency = HTTP_LATENCY.labels(self.service, method, template)
            self._latencies[(method, template)] = latency
        counter.inc()
        latency.observe(seconds)
