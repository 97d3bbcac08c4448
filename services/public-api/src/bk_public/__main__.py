"""Run the public API alone (production: one service per pod): ``python -m bk_public``.

Serves the API under ``/api/public`` and the web clients (console, H5, kiosk) at ``/``.
"""

from fastapi import FastAPI

from bk_public.service import PublicService, create_service
from bk_public.settings import PublicSettings
from bkcore.standalone import serve_standalone


def _with_web_clients(service: PublicService) -> FastAPI:  # type: ignore[override]
    root = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    root.mount("/api/public", service.app)
    root.mount("/", service.static_app())
    return root


if __name__ == "__main__":
    serve_standalone(PublicSettings, create_service, wrap=_with_web_clients)  # type: ignore[arg-type]
