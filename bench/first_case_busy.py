"""Time to the first AI case of ``brightkitchen up`` (what ``./scripts/up`` runs) on a busy machine.

    .venv/bin/python bench/first_case_busy.py [--runs 3] [--busy 2] [--deadline-s 180] [-- up options]

Each run: ``--busy`` CPU-bound processes start first and keep every core they can busy; then the
real CLI, ``brightkitchen up``, starts on a fresh temporary data directory and a free port, with its
defaults (the demo's simulated cameras at the default frame rate) unless options follow ``--``.
The time printed is from launching the command to the first case from a detection in the
case-manager's API (polled every 0.5 s as the demo's city supervisor). Each run also prints the
gateway's watchdog counters (frames sampled, sent, answered, lost) and ``/readyz`` at that moment,
so a run that finds no case says where the path stopped. Processes are stopped at the end of each
run (SIGINT, then SIGKILL after 30 s).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

BURN = "while True:\n    pass\n"
HTTP_TIMEOUT_S = 30.0  # a login hashes a password: on a machine this busy it takes seconds
WATCHDOG = (
    "bk_gateway_frames_sampled_total",
    "bk_gateway_frames_sent_total",
    "bk_gateway_frames_answered_total",
    "bk_gateway_frames_lost_total",
    "bk_gateway_frames_dropped_total",
)


@dataclass
class Run:
    up_s: float | None  # launch to the API answering a login (services started, demo seeded)
    load: str  # the machine's load averages (1, 5, 15 min) at the end: what else was running
    seconds: float | None  # launch to the first AI case; None: none within the deadline
    counters: dict[str, float]
    ready: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def counters(base: str) -> dict[str, float]:
    """The gateway's watchdog counters, summed over their labels."""
    try:
        text = httpx.get(f"{base}/api/gateway/metrics", timeout=5).text
    except httpx.HTTPError:
        return {}
    out = dict.fromkeys(WATCHDOG, 0.0)
    for line in text.splitlines():
        m = re.match(r"^(bk_gateway_[a-z_]+_total)(?:\{[^}]*\})? ([0-9.eE+-]+)$", line)
        if m and m.group(1) in out:
            out[m.group(1)] += float(m.group(2))
    return out


def load_average() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "unknown"


def readiness(base: str) -> str:
    try:
        return httpx.get(f"{base}/api/gateway/readyz", timeout=5).text
    except httpx.HTTPError as exc:
        return f"unreachable: {exc}"


def first_case(
    base: str, proc: subprocess.Popen[bytes], started: float, deadline_s: float
) -> tuple[float | None, float | None]:
    """(seconds until a login works, seconds until the first case from a detection)."""
    headers: dict[str, str] = {}
    up_s = None
    while time.monotonic() - started < deadline_s:
        if proc.poll() is not None:
            raise RuntimeError(f"brightkitchen up exited with {proc.returncode}")
        try:
            if not headers:
                login = {"username": "city", "password": "demo-city"}
                r = httpx.post(f"{base}/api/cases/auth/login", json=login, timeout=HTTP_TIMEOUT_S)
                if r.status_code == 200:
                    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
                    up_s = time.monotonic() - started
            if headers:
                r = httpx.get(f"{base}/api/cases/cases", headers=headers, params={"source": "detection"},
                              timeout=HTTP_TIMEOUT_S)  # fmt: skip
                if r.status_code == 200 and r.json()["items"]:
                    return up_s, time.monotonic() - started
        except httpx.TransportError:
            pass  # not listening yet (or too busy to answer in time: asked again)
        time.sleep(0.5)
    return up_s, None


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def one_run(n: int, busy: int, deadline_s: float, up_args: list[str], keep: Path) -> Run:
    burners = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(busy)]
    try:
        with tempfile.TemporaryDirectory(prefix="bk-first-case-") as tmp:
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            log = keep / f"first_case_busy-run{n}.log"
            cmd = [sys.executable, "-m", "brightkitchen.main", "up", "--port", str(port), "--data-dir",
                   str(Path(tmp) / "var"), *up_args]  # fmt: skip
            started = time.monotonic()
            with log.open("wb") as out:
                proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
            try:
                up_s, seconds = first_case(base, proc, started, deadline_s)
                return Run(up_s, load_average(), seconds, counters(base), readiness(base))
            finally:
                stop(proc)
    finally:
        for b in burners:
            b.kill()
        for b in burners:
            b.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--busy", type=int, default=2, help="CPU-bound processes kept running meanwhile")
    ap.add_argument("--deadline-s", type=float, default=180.0, help="give up on a run after this long")
    ap.add_argument("--logs", type=Path, default=Path(tempfile.gettempdir()),
                    help="where each run's output of brightkitchen up is kept")  # fmt: skip
    ap.add_argument("up_args", nargs="*", help="options for brightkitchen up, after --")
    args = ap.parse_args()
    args.logs.mkdir(parents=True, exist_ok=True)
    up = " ".join(["brightkitchen up", *args.up_args])
    print(f"machine: {os.cpu_count()} CPUs ({cpu_model()}), Python {platform.python_version()}; "
          f"{args.busy} CPU-bound processes running; {up}")  # fmt: skip
    times: list[float] = []
    for n in range(1, args.runs + 1):
        run = one_run(n, args.busy, args.deadline_s, args.up_args, args.logs)
        shown = f"{run.seconds:.1f} s" if run.seconds is not None else f"none within {args.deadline_s:.0f} s"
        c = {k.removeprefix("bk_gateway_").removesuffix("_total"): int(v) for k, v in run.counters.items()}
        up = f"{run.up_s:.1f} s" if run.up_s is not None else "never"
        print(f"run {n}: first AI case after {shown} (API up after {up}; load average {run.load}); "
              f"gateway {c}; readyz {run.ready}", flush=True)  # fmt: skip
        if run.seconds is not None:
            times.append(run.seconds)
    if times:
        print(f"first case: {len(times)}/{args.runs} runs; min {min(times):.1f} s, median "
              f"{statistics.median(times):.1f} s, max {max(times):.1f} s")  # fmt: skip
    else:
        print(f"first case: 0/{args.runs} runs")
    sys.exit(0 if len(times) == args.runs else 1)


if __name__ == "__main__":
    main()
