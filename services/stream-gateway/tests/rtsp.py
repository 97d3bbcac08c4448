"""Start and stop the Debian GStreamer RTSP server (tools/rtsp_server.py) for tests."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
from pathlib import Path

SERVER = Path(__file__).resolve().parents[1] / "tools" / "rtsp_server.py"
SYSTEM_PYTHON = "/usr/bin/python3"


def free_port_pair() -> int:
    """A port p with p and p + 1 free (open and credential-protected mounts)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair")


class RtspServer:
    def __init__(self, port: int, mounts: list[str], codecs: list[str] | None = None) -> None:
        self.port, self.mounts, self.codecs = port, mounts, codecs or []
        self.proc: subprocess.Popen[str] | None = None

    def start(self, wait_s: float = 15.0) -> None:
        cmd = [SYSTEM_PYTHON, str(SERVER), "--port", str(self.port)]
        cmd += [a for m in self.mounts for a in ("--mount", m)]
        cmd += [a for c in self.codecs for a in ("--codec", c)]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], wait_s)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith("READY"):
            rest = self.proc.stdout.read() if self.proc.poll() is not None else ""
            self.stop()
            raise RuntimeError(
                f"the GStreamer RTSP server did not start ({SYSTEM_PYTHON} needs python3-gi and "
                f"gir1.2-gst-rtsp-server-1.0): {line}{rest}"
            )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None

    def url(self, mount: str, user: str = "", password: str = "") -> str:
        if user:
            return f"rtsp://{user}:{password}@127.0.0.1:{self.port + 1}/{mount}"
        return f"rtsp://127.0.0.1:{self.port}/{mount}"
