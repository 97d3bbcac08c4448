"""The directory as the detector enforces it: its HTTP routes check staff against the current
directory (``bkcore.directory``), so a deactivated operator is refused within a minute, not when
their token expires.

The detector keeps no database. Each process holds the read model in a small SQLite file of its own
under ``data_dir``, rebuilt at every start: it consumes ``directory.v1`` under a consumer group of its
own (``detector-directory-<pod identity>``, the identity carrying a random suffix), so it reads the
topic from the earliest retained event — every change since, and the snapshots the case-manager
publishes at its start-up and on ``POST /directory/snapshot`` — and then follows it. Tokens last at
most 12 hours, far within the bus's retention, so every change that narrows a live token is read.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import MetaData, create_engine

from bkcore.bus.base import Bus
from bkcore.db import Database, add_messaging_tables
from bkcore.directory import DirectoryReadModel, StaffAccess, add_directory_tables

SERVICE = "detector"

metadata = MetaData()
inbox, _outbox = add_messaging_tables(metadata)  # the inbox: each event applied once
tables = add_directory_tables(metadata)


class DirectoryFeed:
    """The process's read model of the directory and the staff check built on it."""

    def __init__(self, data_dir: Path, *, pod: str, ttl_s: float) -> None:
        self.path = data_dir / "directory" / f"{pod}.sqlite"
        self.group = f"{SERVICE}-directory-{pod}"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._remove()
        # Created here, not in start(): the routes check callers from the first request (a few ms, once).
        engine = create_engine(f"sqlite:///{self.path.resolve()}")
        try:
            metadata.create_all(engine)
        finally:
            engine.dispose()
        self.db = Database(f"sqlite+aiosqlite:///{self.path.resolve()}")
        self.read_model = DirectoryReadModel(self.db, tables, inbox, service=SERVICE, ttl_s=ttl_s)

    @property
    def access(self) -> StaffAccess:
        return self.read_model.access

    def subscribe(self, bus: Bus) -> None:
        """Consume ``directory.v1`` under this process's own group (call before the bus starts)."""
        self.read_model.subscribe(bus, self.group)

    async def stop(self) -> None:
        await self.db.dispose()
        self._remove()

    def _remove(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)
