"""Cached public reads of the public API over real HTTP: requests/s and latency percentiles.

The server and the load generator run in separate processes: this script starts the public-api
(embedded adapters, a fake directory standing in for the other services, demo data seeded) under
uvicorn (uvloop + httptools) on loopback in a child process, warms the cache, then drives
``/public/red-black``, ``/public/notices`` and ``/public/kiosk/{site}`` with ``wrk`` (Debian's
``wrk``; a Lua script rotates the paths and prints p50/p95/p99) or, without wrk, with an httpx
client in this process.

    .venv/bin/python bench/public_api_bench.py [--seconds 10] [--connections 32] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PATHS = ["/public/red-black", "/public/notices", "/public/kiosk/s1", "/public/notices?kind=tip"]

_WRK_LUA = """
local paths = {%s}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i %% #paths) + 1])
end
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    'BENCH {"requests": %%d, "seconds": %%.3f, "errors": %%d, "p50": %%.3f, "p95": %%.3f, "p99": %%.3f}\\n',
    summary.requests, summary.duration / 1e6, errors,
    latency:percentile(50) / 1e3, latency:percentile(95) / 1e3, latency:percentile(99) / 1e3))
end
"""


# --- the server (child process) -------------------------------------------------------------


async def serve(port: int) -> None:
    import uvicorn

    sys.path.insert(0, str(ROOT / "services/public-api/tests"))
    from public_helpers import TENANT, FakeUpstream

    from bk_public.service import PublicService
    from bk_public.settings import PublicSettings
    from bkcore.bus.inproc import InProcessBus
    from bkcore.objstore.local import LocalObjectStore
    from bkcore.service import Runtime
    from bkcore.settings import CoreSettings
    from bkcore.testing.tokens import new_token_issuer

    tmp = Path(tempfile.mkdtemp(prefix="bk-bench-"))
    bus = InProcessBus(None)
    store = LocalObjectStore(tmp / "objects", "s" * 32, f"http://127.0.0.1:{port}")
    runtime = Runtime(settings=CoreSettings(data_dir=tmp), bus=bus, store=store, tokens=new_token_issuer())
    # One client IP drives everything: lift the per-IP budget so the bench measures serving, not 429s.
    settings = PublicSettings(data_dir=tmp, rate_ip_per_min=10**9, cache_ttl_s=60, log_json=False)
    svc = PublicService(runtime, settings, upstream=FakeUpstream())
    await bus.start()
    await svc.start()
    await svc.seed_demo(tenant_id=TENANT, site_ids=["s1", "s2"])
    config = uvicorn.Config(
        svc.app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        http="httptools",
        loop="none",
        lifespan="off",
        backlog=2048,
    )
    try:
        await uvicorn.Server(config).serve()
    finally:
        c = svc.ctx.cache
        print(f"server: cache_hits={c.hits} misses={c.misses}", file=sys.stderr, flush=True)
        await svc.stop()
        await bus.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def run_server(port: int) -> None:
    try:
        import uvloop

        uvloop.run(serve(port))
    except ImportError:
        asyncio.run(serve(port))


# --- the load generator (this process) -------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(base: str, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early with {proc.returncode}")
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("server did not come up")


def drive_wrk(base: str, seconds: float, connections: int) -> dict[str, float]:
    lua = _WRK_LUA % ", ".join(json.dumps(p) for p in PATHS)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua)
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "5s", "-s", f.name, base],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 30,
        ).stdout
    finally:
        os.unlink(f.name)
    line = next(ln for ln in out.splitlines() if ln.startswith("BENCH "))
    r = json.loads(line[6:])
    r["rps"] = r["requests"] / r["seconds"]
    return r  # type: ignore[no-any-return]


async def _drive_httpx(base: str, seconds: float, connections: int) -> dict[str, float]:
    import httpx

    lat: list[float] = []
    errors = 0

    async def worker(client: httpx.AsyncClient, until: float, n: int) -> None:
        nonlocal errors
        while time.perf_counter() < until:
            t0 = time.perf_counter()
            r = await client.get(PATHS[n % len(PATHS)])
            lat.append(time.perf_counter() - t0)
            errors += r.status_code != 200
            n += 1

    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=base, limits=limits) as client:
        start = time.perf_counter()
        await asyncio.gather(*(worker(client, start + seconds, i) for i in range(connections)))
        elapsed = time.perf_counter() - start
    q = statistics.quantiles(lat, n=100)
    return {
        "requests": len(lat),
        "seconds": elapsed,
        "errors": errors,
        "rps": len(lat) / elapsed,
        "p50": q[49] * 1000,
        "p95": q[94] * 1000,
        "p99": q[98] * 1000,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3, help="runs against the same server; median reported")
    ap.add_argument("--client", choices=("auto", "wrk", "httpx"), default="auto")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)  # the child process
    a = ap.parse_args()
    if a.serve:
        run_server(a.port)
        return
    port = a.port or _free_port()
    base = f"http://127.0.0.1:{port}"
    client = a.client if a.client != "auto" else ("wrk" if shutil.which("wrk") else "httpx")
    proc = subprocess.Popen([sys.executable, __file__, "--serve", "--port", str(port)], cwd=ROOT)
    try:
        _wait_ready(base, proc)
        import httpx

        for p in PATHS:  # warm the cache; every path must answer 200
            httpx.get(base + p, timeout=10).raise_for_status()
        results = []
        for i in range(a.rounds):
            if client == "wrk":
                r = drive_wrk(base, a.seconds, a.connections)
            else:
                r = asyncio.run(_drive_httpx(base, a.seconds, a.connections))
            results.append(r)
            print(
                f"round {i + 1}: {r['rps']:,.0f} req/s  p50={r['p50']:.2f} ms  p95={r['p95']:.2f} ms  "
                f"p99={r['p99']:.2f} ms  requests={r['requests']:.0f} errors={r['errors']:.0f}",
                flush=True,
            )
        med = {k: statistics.median(r[k] for r in results) for k in ("rps", "p50", "p95", "p99", "errors")}
        print(
            f"median of {a.rounds}: {med['rps']:,.0f} req/s  p50={med['p50']:.2f} ms  "
            f"p95={med['p95']:.2f} ms  p99={med['p99']:.2f} ms  errors={med['errors']:.0f}  "
            f"(client={client}, connections={a.connections}, {a.seconds:g} s, cpus={os.cpu_count()})"
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main()
