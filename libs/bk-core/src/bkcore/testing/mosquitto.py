"""A Mosquitto broker of the test's own on a free loopback port (Debian's ``mosquitto``), never the
system one on 1883. No anonymous access: clients log in with the ``password_file``, and the
``acl_file`` says who may publish and read where; ``kill -HUP`` (the ``pid_file``) reloads both.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


class MosquittoUnavailable(RuntimeError):
    """The mosquitto binary is missing or the broker did not start: the test fails loudly, never skips."""


@dataclass
class Mosquitto:
    port: int
    password_file: Path
    acl_file: Path
    pid_file: Path
    log_file: Path
    command: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 20.0) -> None:
        """Start the broker (again: same port and files; sessions were in memory and are gone)."""
        self.pid_file.unlink(missing_ok=True)
        self.proc = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            self._wait_listening(self.proc, timeout_s)
        except BaseException:
            self.stop()
            raise

    def _wait_listening(self, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                raise MosquittoUnavailable(f"mosquitto exited ({proc.returncode}): {err}\n{self.log_tail()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                if self.pid_file.exists():
                    return
            if time.monotonic() > deadline:
                raise MosquittoUnavailable(f"mosquitto did not listen on {self.port}:\n{self.log_tail()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the broker: its clients see the connection drop."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def mosquitto_broker(
    root: Path, *, start_timeout_s: float = 20.0, debug_log: bool = True
) -> Iterator[Mosquitto]:
    """Start ``mosquitto`` with its files under ``root`` (empty password and ACL files until someone
    writes them); stop it on exit. Queues are unbounded so a slow subscriber loses nothing.
    ``debug_log`` logs every packet, refusals included ("Denied PUBLISH"); benches turn it off."""
    binary = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.path.exists(p)), None
    )
    if binary is None:
        raise MosquittoUnavailable(
            "`mosquitto` not found: apt-get install mosquitto (scripts/bootstrap does)"
        )
    root.mkdir(parents=True, exist_ok=True)
    broker = Mosquitto(
        _free_port(), root / "passwd", root / "acl", root / "mosquitto.pid", root / "mosquitto.log"
    )
    for f in (broker.password_file, broker.acl_file):
        if not f.exists():
            f.write_text("")
            f.chmod(0o600)
    conf = root / "mosquitto.conf"
    lines = [
        "per_listener_settings false",
        f"listener {broker.port} 127.0.0.1",
        "allow_anonymous false",
        f"password_file {broker.password_file}",
        f"acl_file {broker.acl_file}",
        f"pid_file {broker.pid_file}",
        "persistence false",
        "max_queued_messages 0",
        "max_inflight_messages 1000",
        f"log_dest file {broker.log_file}",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_type information",
        "connection_messages true",
    ]
    if debug_log:
        lines.append("log_type debug")
    if os.geteuid() == 0:
        lines.append("user root")  # otherwise it drops to `mosquitto`, who cannot read root's 0600 files
    conf.write_text("\n".join(lines) + "\n")
    broker.command = [binary, "-c", str(conf)]
    broker.start(start_timeout_s)
    try:
        yield broker
    finally:
        broker.stop()
