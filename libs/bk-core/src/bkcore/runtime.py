"""Build a service Runtime from settings: the one place adapters are chosen."""

from __future__ import annotations

from bkcore.auth import TokenIssuer
from bkcore.bus.factory import make_bus
from bkcore.clock import Clock, SystemClock
from bkcore.objstore.factory import make_object_store
from bkcore.secrets import embedded_secret
from bkcore.service import Runtime
from bkcore.settings import CoreSettings


def token_issuer(settings: CoreSettings) -> TokenIssuer:
    secret = settings.jwt_secret.get_secret_value() or embedded_secret(settings.data_dir, "jwt")
    return TokenIssuer(secret)


def build_runtime(settings: CoreSettings, *, clock: Clock | None = None) -> Runtime:
    return Runtime(
        settings=settings,
        bus=make_bus(settings),
        store=make_object_store(settings),
        tokens=token_issuer(settings),
        clock=clock or SystemClock(),
    )
