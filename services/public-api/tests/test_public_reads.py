"""Cached public reads: the fast path answers exactly as the app does, and keeps its limits."""

from __future__ import annotations

from prometheus_client import REGISTRY
from public_helpers import staff_token

from bk_public.ratelimit import RateLimited, RateLimiter

PATHS = ("/public/red-black", "/public/notices?kind=tip", "/public/kiosk/s1")


async def test_a_hit_is_the_same_answer_as_the_miss(client, svc):
    for path in PATHS:
        miss = await client.get(path)
        hits = svc.ctx.cache.hits
        hit = await client.get(path)
        assert svc.ctx.cache.hits > hits, path  # served from the cache
        assert miss.status_code == hit.status_code == 200, path
        assert miss.content == hit.content, path
        for h in ("etag", "cache-control", "content-type", "content-length"):
            assert miss.headers[h] == hit.headers[h], (path, h)


async def test_etag_gives_304(client):
    first = await client.get("/public/kiosk/s1")
    again = await client.get("/public/kiosk/s1", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    other = await client.get("/public/kiosk/s1", headers={"If-None-Match": '"stale"'})
    assert other.status_code == 200


async def test_a_new_notice_is_seen_at_once(client, svc):
    before = await client.get("/public/notices")
    await client.get("/public/notices")  # cached now
    r = await client.post(
        "/admin/notices", json={"title": "停水通知", "body": "周三停水"}, headers=staff_token(svc)
    )
    assert r.status_code == 201
    after = await client.get("/public/notices")
    assert after.headers["etag"] != before.headers["etag"]
    assert any(n["title"] == "停水通知" for n in after.json())


async def test_invalid_parameters_are_refused_even_when_cached(client):
    assert (await client.get("/public/notices")).status_code == 200
    for path in ("/public/notices?kind=bogus", "/public/notices?tenant_id=", "/public/kiosk/s%201"):
        assert (await client.get(path)).status_code == 422, path
    assert (await client.get("/public/kiosk/nowhere")).status_code == 404


async def test_ip_limit_holds_on_the_fast_path(client, svc):
    await client.get("/public/red-black")  # cached
    svc.ctx.ip_limit = RateLimiter(2)
    assert [(await client.get("/public/red-black")).status_code for _ in range(2)] == [200, 200]
    r = await client.get("/public/red-black")
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert "rate limit" in r.json()["detail"]


async def test_request_id_and_route_metrics_on_the_fast_path(client):
    await client.get("/public/kiosk/s1")

    def served() -> float:
        route = "/public/kiosk/{site_id}"
        labels = {"service": "public-api", "method": "GET", "route": route, "status": "200"}
        return REGISTRY.get_sample_value("bk_http_requests_total", labels) or 0.0

    before = served()
    r = await client.get("/public/kiosk/s1", headers={"X-Request-ID": "req-42"})
    assert r.headers["x-request-id"] == "req-42"
    assert served() == before + 1
    assert len((await client.get("/public/kiosk/s1")).headers["x-request-id"]) == 32  # made up when absent


def test_rate_limiter_forgets_the_least_recently_used_at_capacity():
    now = [0.0]
    limiter = RateLimiter(1, clock=lambda: now[0], capacity=2)
    limiter.hit("a")
    limiter.hit("b")
    limiter.hit("c")  # evicts "a", the least recently used
    assert list(limiter._buckets) == ["b", "c"]
    try:
        limiter.hit("b")
    except RateLimited as exc:
        assert exc.retry_after_s == 60
    else:
        raise AssertionError("second hit within the minute must be limited")
