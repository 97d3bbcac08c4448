"""The web clients (plain HTML/JS/CSS, no build step): console/, h5/, kiosk/, common/."""

from __future__ import annotations

from pathlib import Path

from starlette.staticfiles import StaticFiles

WEB_DIR = Path(__file__).parent


def static_app() -> StaticFiles:
    """An ASGI app serving the clients; mount it at ``/`` (``/console/``, ``/h5/``, ``/kiosk/``)."""
    return StaticFiles(directory=WEB_DIR, html=True)
