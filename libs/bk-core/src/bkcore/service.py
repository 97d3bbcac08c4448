"""What a service is, so one process can host all five (embedded) or one (production).

A service module offers ``create_service(runtime) -> Service``; the runner starts it, mounts its
HTTP app, and stops it. The service never picks its adapters: the runtime hands them in.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI

from bkcore.auth import TokenIssuer, TokenVerifier
from bkcore.bus.base import Bus
from bkcore.clock import Clock, SystemClock
from bkcore.objstore.base import ObjectStore
from bkcore.settings import CoreSettings


@dataclass
class Runtime:
    """The adapters a service runs on, chosen by configuration (see ``bkcore.runtime``)."""

    settings: CoreSettings
    bus: Bus
    store: ObjectStore
    tokens: TokenVerifier  # a TokenIssuer only where the signing key is (the case-manager, embedded)
    clock: Clock = field(default_factory=SystemClock)

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    @property
    def issuer(self) -> TokenIssuer | None:
        """The token signer when this process holds the private key; None where it only verifies."""
        return self.tokens if isinstance(self.tokens, TokenIssuer) else None


class Service(ABC):
    """One service: an HTTP app plus background work (consumers, relays, workers)."""

    name: str
    app: FastAPI

    @abstractmethod
    async def start(self) -> None:
        """Open the database, migrate, subscribe to topics, start background tasks."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop background work and release connections."""

    async def readiness(self) -> dict[str, bool]:
        return {}
