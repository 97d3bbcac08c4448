"""What the internet reaches through the chart's ingress (#17.4, #17.10), checked against the code it
fronts: the app's own internals are refused at the edge, bodies are capped at the sizes the services
take, and nothing but the public API and the play URLs is routed.

Paths are resolved the way ingress-nginx does: every Ingress of a host is one server, and the
longest matching path wins (Prefix matches whole path elements).
"""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest
from fastapi.routing import APIRoute

from bkcore.http import create_app
from bkcore.inputs import MAX_BODY_BYTES, upload_body_limit

from .test_chart import PROFILES, rendered

DENY_ALL = "0.0.0.0/0,::/0"
BODY_SIZE = "nginx.ingress.kubernetes.io/proxy-body-size"
DENYLIST = "nginx.ingress.kubernetes.io/denylist-source-range"


def ingresses(profile: str) -> list[dict]:
    return [d for d in rendered(profile) if d["kind"] == "Ingress"]


def _prefix_match(prefix: str, path: str) -> bool:
    prefix = prefix.rstrip("/") or "/"
    return prefix == "/" or path == prefix or path.startswith(prefix + "/")


def route(profile: str, host: str, path: str) -> tuple[dict, dict]:
    """(the Ingress, the path entry) that serves ``path`` on ``host``: the longest match."""
    candidates = [
        (ing, p)
        for ing in ingresses(profile)
        for rule in ing["spec"]["rules"]
        if rule["host"] == host
        for p in rule["http"]["paths"]
        if _prefix_match(p["path"], path)
    ]
    assert candidates, f"{path} is not routed at all on {host}"
    return max(candidates, key=lambda c: len(c[1]["path"]))


def nginx_bytes(size: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kKmMgG]?)", size).groups()  # type: ignore[union-attr]
    return int(number) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit.lower()]


def public_prefix(profile: str) -> str:
    svc = next(
        d
        for d in rendered(profile)
        if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("public-api")
    )
    probe = svc["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["path"]
    return probe.removesuffix("/healthz")


def ops_paths() -> list[str]:
    """Every route bk-core's shared app adds besides a service's own: health, readiness, metrics and
    the API description (FastAPI's docs)."""
    return sorted(r.path for r in create_app(service="probe", title="probe").routes)


@pytest.mark.parametrize("profile", PROFILES)
def test_the_public_apis_internals_are_refused_to_every_address(profile: str) -> None:
    host = ingresses(profile)[0]["spec"]["rules"][0]["host"]
    prefix = public_prefix(profile)
    paths = ops_paths()
    assert {"/healthz", "/readyz", "/metrics", "/openapi.json"} <= set(paths)
    for p in paths:
        for attack in (prefix + p, prefix + p + "/", prefix + p + "/x"):
            ing, _ = route(profile, host, attack)
            assert ing["metadata"]["annotations"].get(DENYLIST) == DENY_ALL, (attack, ing["metadata"]["name"])
    # and the API itself still goes through
    ing, _ = route(profile, host, prefix + "/sites/s1/cases")
    assert DENYLIST not in ing["metadata"]["annotations"]


@pytest.mark.parametrize("profile", PROFILES)
def test_only_the_public_api_and_the_play_urls_are_routed(profile: str) -> None:
    backends = {
        p["backend"]["service"]["name"]
        for ing in ingresses(profile)
        for rule in ing["spec"]["rules"]
        for p in rule["http"]["paths"]
    }
    assert backends <= {"bk-public-api", "bk-zlmediakit"}, backends  # never the detector, ledger...


def _public_routes() -> list[APIRoute]:
    import bk_public.api as api

    routes = []
    for info in pkgutil.iter_modules(api.__path__):
        router = getattr(importlib.import_module(f"bk_public.api.{info.name}"), "router", None)
        routes += [r for r in getattr(router, "routes", []) if isinstance(r, APIRoute)]
    return routes


@pytest.mark.parametrize("profile", PROFILES)
def test_bodies_are_capped_at_the_edge_at_the_sizes_the_services_take(profile: str) -> None:
    from bk_public.settings import PublicSettings

    host = ingresses(profile)[0]["spec"]["rules"][0]["host"]
    prefix = public_prefix(profile)
    # JSON and forms: the edge's cap is the apps' default cap
    ing, _ = route(profile, host, prefix + "/auth/wx-login")
    assert nginx_bytes(ing["metadata"]["annotations"][BODY_SIZE]) == MAX_BODY_BYTES
    ing, _ = route(profile, host, "/console/index.html")
    assert nginx_bytes(ing["metadata"]["annotations"][BODY_SIZE]) == MAX_BODY_BYTES
    # every route that takes more (photos) is under an upload path, sized for the default settings
    fields = PublicSettings.model_fields
    complaint = upload_body_limit(
        files=fields["max_photos"].default, file_bytes=fields["max_photo_bytes"].default
    )
    uploads = [r for r in _public_routes() if (r.max_body_size or 0) > MAX_BODY_BYTES]
    assert uploads, "the public API has upload routes (complaints with photos)"
    for r in uploads:
        path = prefix + re.sub(r"\{[^}]+\}", "x", r.path)
        ing, _ = route(profile, host, path)
        edge = nginx_bytes(ing["metadata"]["annotations"][BODY_SIZE])
        assert complaint <= edge <= r.max_body_size, (r.path, edge)  # type: ignore[operator]
