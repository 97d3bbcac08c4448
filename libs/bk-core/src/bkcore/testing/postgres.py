"""PostgreSQL for tests: a fresh database on the local server, or a private cluster to restart.

``temporary_database``: the python-svc machines (and CI) run PostgreSQL on 127.0.0.1:5432 with trust
auth; override with ``BK_TEST_PG_DSN`` (a libpq/asyncpg DSN to an admin database).

``private_cluster``: a cluster of our own (``initdb`` + ``pg_ctl``) on a free loopback port, for the
tests that stop and restart the server mid-stream without touching the one other tests share.

If a server cannot be reached or started the caller gets an error naming what is missing — tests
fail loudly, never skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg

DEFAULT_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


class PostgresUnavailable(RuntimeError):
    pass


def admin_dsn() -> str:
    return os.environ.get("BK_TEST_PG_DSN", DEFAULT_ADMIN_DSN)


async def _connect(dsn: str) -> asyncpg.Connection:
    try:
        return await asyncio.wait_for(asyncpg.connect(dsn), timeout=10)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        raise PostgresUnavailable(
            f"PostgreSQL is not reachable at {dsn} ({exc}). Start it (on python-svc machines: "
            "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) or set "
            "BK_TEST_PG_DSN."
        ) from exc


@contextlib.asynccontextmanager
async def temporary_database(prefix: str = "bk_test") -> AsyncIterator[str]:
    """Create an empty database; yield its SQLAlchemy asyncpg URL; drop it on exit."""
    dsn = admin_dsn()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = await _connect(dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = dsn.rsplit("/", 1)[0]
    try:
        yield "postgresql+asyncpg://" + f"{base}/{name}".split("://", 1)[1]
    finally:
        conn = await _connect(dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


# --- a private cluster ------------------------------------------------------------------------------


def _pg_tool(name: str) -> str:
    """``initdb``/``pg_ctl``: on PATH, or in Debian's versioned directory (not on PATH there)."""
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise PostgresUnavailable(
        f"`{name}` not found (PATH, /usr/lib/postgresql/*/bin): the tests that restart PostgreSQL "
        "need the server binaries (apt-get install postgresql)"
    )


def _as_owner(cmd: list[str]) -> list[str]:
    # initdb and pg_ctl refuse to run as root: run them as the `postgres` system user then.
    if os.geteuid() != 0:
        return cmd
    runuser = shutil.which("runuser")
    if runuser is None:
        raise PostgresUnavailable("running as root, and `runuser` (util-linux) is missing to run as postgres")
    return [runuser, "-u", "postgres", "--", *cmd]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PrivateCluster:
    """A PostgreSQL cluster of our own; ``stop``/``start`` keep its data, port and databases."""

    data_dir: Path
    port: int
    log_path: Path

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        """SQLAlchemy asyncpg URL of ``database`` on this cluster."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def _pg_ctl(self, *args: str, timeout_s: float = 60.0) -> None:
        cmd = _as_owner(
            [
                _pg_tool("pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_path),
                "-t",
                str(int(timeout_s)),
                *args,
            ]
        )
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s + 10, check=False)
        if done.returncode != 0:
            raise PostgresUnavailable(
                f"pg_ctl {' '.join(args)} failed ({done.returncode}): {done.stdout}{done.stderr}\n"
                f"server log tail:\n{self.log_tail()}"
            )

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.data_dir} -c listen_addresses=127.0.0.1"
        self._pg_ctl("-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` disconnects every client (what a restart does to them);
        ``immediate`` is a crash (recovery replays the WAL at the next start)."""
        self._pg_ctl("-m", mode, "-w", "stop")

    def running(self) -> bool:
        cmd = _as_owner([_pg_tool("pg_ctl"), "-D", str(self.data_dir), "status"])
        return subprocess.run(cmd, capture_output=True, timeout=30, check=False).returncode == 0

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    async def create_database(self, name: str) -> str:
        """Create ``name``; returns its SQLAlchemy URL."""
        conn = await _connect(self.admin_dsn)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.url(name)


@contextlib.contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    """``initdb`` a throw-away cluster, start it on a free loopback port, remove it afterwards.

    Trust authentication on loopback only; ``fsync=off`` because the data is thrown away (a clean
    ``stop`` still writes everything, so restarts keep every committed row).
    """
    root = Path(tempfile.mkdtemp(prefix="bk-pg-"))
    root.chmod(0o755)  # the postgres user must reach its data directory below
    data_dir = root / "data"
    data_dir.mkdir(mode=0o700)
    if os.geteuid() == 0:
        shutil.chown(data_dir, "postgres", "postgres")
    cluster = PrivateCluster(data_dir, _free_port(), root / "server.log")
    init = _as_owner(
        [
            _pg_tool("initdb"),
            "-D",
            str(data_dir),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        ]
    )
    done = subprocess.run(init, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise PostgresUnavailable(f"initdb failed ({done.returncode}): {done.stdout}{done.stderr}")
    with (data_dir / "postgresql.conf").open("a") as conf:
        conf.write("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")  # the server writes its log here
    try:
        cluster.start()
        yield cluster
    finally:
        with contextlib.suppress(Exception):
            if cluster.running():
                cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
