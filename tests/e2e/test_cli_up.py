"""``brightkitchen up`` as a user runs it: a case appears within a minute, and survives a restart."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "brightkitchen.main",
        "up",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--sim-fps",
        "3",
    ]
    return subprocess.Popen(cmd, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def _wait_for_case(
    base: str, proc: subprocess.Popen[bytes], log: Path, deadline_s: float
) -> tuple[dict, dict]:
    start = time.monotonic()
    headers: dict[str, str] = {}
    while time.monotonic() - start < deadline_s:
        if proc.poll() is not None:
            tail = log.read_text()[-3000:]
            raise AssertionError(f"brightkitchen up exited with {proc.returncode}:\n{tail}")
        try:
            if not headers:
                login = {"username": "city", "password": "demo-city"}
                r = httpx.post(f"{base}/api/cases/auth/login", json=login)
                if r.status_code == 200:
                    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
            if headers:
                r = httpx.get(f"{base}/api/cases/cases", headers=headers, params={"source": "detection"})
                if r.status_code == 200 and r.json()["items"]:
                    return r.json()["items"][-1], headers
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(1.0)
    proc.send_signal(signal.SIGUSR1)  # ask it where it is stuck (stacks of threads and tasks)
    time.sleep(2.0)
    raise AssertionError(f"no case within {deadline_s} s:\n{log.read_text()[-12000:]}")


def test_up_shows_a_case_and_keeps_it_across_a_restart(tmp_path: Path) -> None:
    data, log = tmp_path / "var", tmp_path / "up.log"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start(data, port, log)
    try:
        case, headers = _wait_for_case(base, proc, log, deadline_s=90)
        console = httpx.get(f"{base}/console/")
        assert console.status_code == 200 and "<html" in console.text.lower()
    finally:
        code = _stop(proc)
    assert code == 0, log.read_text()[-3000:]
    assert "demo users" in log.read_text()

    proc = _start(data, port, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"{base}/api/cases/cases/{case['id']}", headers=headers)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.5)
        assert r.status_code == 200, r.text
        assert r.json()["id"] == case["id"] and r.json()["case_type"] == case["case_type"]
    finally:
        assert _stop(proc) == 0, log.read_text()[-3000:]
