"""Is this failure an outage (the infrastructure is down) or poison (this one message is bad)?

The bus asks before it counts a failure against a message: an outage — database, broker, bucket or
network unavailable — is nobody's message's fault, so the consumer pauses and retries the same message
without committing, however long it lasts; only poison (bad bytes, a schema violation, a bug for this
one message) is retried a few times and then dead-lettered. Getting this wrong in the poison direction
loses events to the dead-letter topic during a routine failover; in the outage direction it stalls a
partition behind one bad message (visible in ``bk_bus_consumer_outage`` and its alert).

Rules, checked on every exception of the chain (``raise … from``, the exception being handled when
another was raised, exception groups, SQLAlchemy's ``orig``):
- a verdict that names the message (``MessagePoison``: undecodable bytes, a record the broker refuses
  for its size or content) wins: retrying cannot help;
- otherwise any outage in the chain makes the whole failure an outage: the chain says the handler never
  got a fair run;
- otherwise it is poison (``ValueError``, ``KeyError``, ``TypeError``, integrity violations, …).

Library modules are looked up in ``sys.modules`` rather than imported: an exception of a library that
was never imported cannot exist, and the embedded mode must not load aiokafka or asyncpg to ask.
"""

from __future__ import annotations

import errno
import socket
import sqlite3
import sys
from collections.abc import Callable, Iterator
from enum import Enum
from typing import Any


class Outage(RuntimeError):
    """Raise (``from`` the original error) when a dependency is unavailable and the message is fine —
    e.g. an upstream service answering 503 — so the bus pauses instead of dead-lettering."""


class MessagePoison(ValueError):
    """Raise (``from`` the original error) when a failure is this message's fault even though it looks
    like infrastructure, so it is dead-lettered instead of retried forever."""


class Verdict(Enum):
    OUTAGE = "outage"
    POISON = "poison"


# --- one rule per family of errors: each returns a verdict, or None when it has no opinion ---------

# Network and storage errnos: the far side or the disk is unavailable, not the message.
_OUTAGE_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EPIPE,
        errno.ETIMEDOUT,
        errno.ENETUNREACH,
        errno.ENETDOWN,
        errno.EHOSTUNREACH,
        errno.EHOSTDOWN,
        errno.EADDRNOTAVAIL,
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EIO,
    }
)


def _builtin(exc: BaseException) -> Verdict | None:
    if isinstance(exc, ConnectionError | TimeoutError | socket.gaierror):
        return Verdict.OUTAGE  # refused/reset/aborted/broken pipe, any timeout, DNS failure
    if isinstance(exc, OSError):
        if exc.errno in _OUTAGE_ERRNOS:
            return Verdict.OUTAGE
        # asyncio's create_connection, every address refused: OSError("Multiple exceptions: …"), no errno.
        if exc.errno is None and str(exc).startswith("Multiple exceptions:"):
            return Verdict.OUTAGE
    return None


# SQLite primary result codes: busy/locked (another writer), I/O error, disk full, cannot open file.
_SQLITE_OUTAGE = frozenset({5, 6, 10, 13, 14})  # BUSY, LOCKED, IOERR, FULL, CANTOPEN


def _sqlite(exc: BaseException) -> Verdict | None:
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None and code & 0xFF in _SQLITE_OUTAGE:
            return Verdict.OUTAGE
    return None


# SQLSTATE classes (PostgreSQL; asyncpg and SQLAlchemy's adapter ``sqlstate``, psycopg ``pgcode``):
# 08 connection exception, 53 insufficient resources, 57 operator intervention (shutdown, starting
# up, statement timeout / cancel), 58 system error; plus lock timeout, serialization failure, deadlock.
_SQLSTATE_CLASSES = frozenset({"08", "53", "57", "58"})
_SQLSTATES = frozenset({"55P03", "40001", "40P01"})


def _sqlstate(exc: BaseException) -> Verdict | None:
    state = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    if isinstance(state, str) and (state[:2] in _SQLSTATE_CLASSES or state in _SQLSTATES):
        return Verdict.OUTAGE
    return None


def _sqlalchemy(exc: BaseException) -> Verdict | None:
    sa = sys.modules.get("sqlalchemy.exc")
    if sa is None:
        return None
    if isinstance(exc, sa.DBAPIError) and exc.connection_invalidated:
        return Verdict.OUTAGE  # the pool saw the connection die under this statement
    if isinstance(exc, sa.TimeoutError | sa.DisconnectionError):
        return Verdict.OUTAGE  # no connection from the pool in time / dropped at checkout
    return None


# Kafka errors that are about the record itself; every other transport error is the cluster's state.
_KAFKA_POISON = frozenset(
    {
        "MessageSizeTooLargeError",
        "RecordTooLargeError",
        "RecordListTooLargeError",
        "InvalidMessageError",
        "CorruptRecordException",
        "InvalidTimestampError",
        "UnsupportedForMessageFormatError",
    }
)


def _kafka(exc: BaseException) -> Verdict | None:
    errors = sys.modules.get("aiokafka.errors")
    if errors is None or not isinstance(exc, errors.KafkaError):
        return None
    if any(cls.__name__ in _KAFKA_POISON for cls in type(exc).__mro__):
        return Verdict.POISON
    return Verdict.OUTAGE


def _bus(exc: BaseException) -> Verdict | None:
    base = sys.modules.get("bkcore.bus.base")
    if base is None:
        return None
    if isinstance(exc, base.MalformedEvent):
        return Verdict.POISON
    if isinstance(exc, base.PublishError):
        return Verdict.OUTAGE  # the bus did not accept an event: a message-level cause below wins
    return None


_HTTP_OUTAGE_STATUS = frozenset({408, 429, 502, 503, 504})


def _httpx(exc: BaseException) -> Verdict | None:
    httpx = sys.modules.get("httpx")
    if httpx is None:
        return None
    if isinstance(exc, httpx.TransportError) and not isinstance(exc, httpx.UnsupportedProtocol):
        return Verdict.OUTAGE  # connect/read/write errors and timeouts, pool timeout, protocol breaks
    if isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code in _HTTP_OUTAGE_STATUS:
        return Verdict.OUTAGE
    return None


_URLLIB3_OUTAGE = frozenset(
    {
        "MaxRetryError",
        "NewConnectionError",
        "NameResolutionError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
        "TimeoutError",
        "ProtocolError",
        "EmptyPoolError",
        "ClosedPoolError",
        "ProxyError",
        "IncompleteRead",
    }
)


def _urllib3(exc: BaseException) -> Verdict | None:
    errors = sys.modules.get("urllib3.exceptions")
    if errors is None or not isinstance(exc, errors.HTTPError):
        return None
    if any(cls.__name__ in _URLLIB3_OUTAGE for cls in type(exc).__mro__):
        return Verdict.OUTAGE
    return None


# S3 error codes meaning "the service, not the request": throttled, overloaded, not ready, full.
_S3_OUTAGE_CODES = frozenset(
    {
        "SlowDown",
        "ServiceUnavailable",
        "InternalError",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "XMinioServerNotInitialized",
        "XMinioStorageFull",
        "XMinioReadQuorum",
        "XMinioWriteQuorum",
    }
)


def _minio(exc: BaseException) -> Verdict | None:
    errors = sys.modules.get("minio.error")
    if errors is None:
        return None
    if isinstance(exc, errors.S3Error) and exc.code in _S3_OUTAGE_CODES:
        return Verdict.OUTAGE
    if isinstance(exc, errors.ServerError) and exc.status_code >= 500:
        return Verdict.OUTAGE
    if isinstance(exc, errors.InvalidResponseError) and (
        getattr(exc, "_code", 0) >= 500 or getattr(exc, "_code", 0) in _HTTP_OUTAGE_STATUS
    ):
        return Verdict.OUTAGE  # a proxy's HTML error page instead of S3's XML
    return None


def _grpc(exc: BaseException) -> Verdict | None:
    grpc = sys.modules.get("grpc")
    if grpc is None or not isinstance(exc, grpc.RpcError) or not hasattr(exc, "code"):
        return None
    down = (
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    )
    return Verdict.OUTAGE if exc.code() in down else None


def _markers(exc: BaseException) -> Verdict | None:
    if isinstance(exc, MessagePoison):
        return Verdict.POISON
    if isinstance(exc, Outage):
        return Verdict.OUTAGE
    return None


_RULES: tuple[Callable[[BaseException], Verdict | None], ...] = (
    _markers,
    _bus,
    _builtin,
    _sqlite,
    _sqlstate,
    _sqlalchemy,
    _kafka,
    _httpx,
    _urllib3,
    _minio,
    _grpc,
)


def _verdict(exc: BaseException) -> Verdict | None:
    for rule in _RULES:
        if (verdict := rule(exc)) is not None:
            return verdict
    return None


def _chain(exc: BaseException, limit: int = 64) -> Iterator[BaseException]:
    """``exc`` and everything it carries, each once, at most ``limit`` (chains can loop)."""
    todo: list[BaseException] = [exc]
    seen: set[int] = set()
    while todo and len(seen) < limit:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        more: list[Any] = [e.__cause__, e.__context__, getattr(e, "orig", None)]
        if isinstance(e, BaseExceptionGroup):
            more.extend(e.exceptions)
        todo.extend(m for m in more if isinstance(m, BaseException))


def outage_cause(exc: BaseException) -> BaseException | None:
    """The exception in ``exc``'s chain that makes it an outage, or None when it is poison."""
    first_outage: BaseException | None = None
    for e in _chain(exc):
        verdict = _verdict(e)
        if verdict is Verdict.POISON:
            return None
        if verdict is Verdict.OUTAGE and first_outage is None:
            first_outage = e
    return first_outage


def is_outage(exc: BaseException) -> bool:
    """True when ``exc`` means the infrastructure is unavailable, not that the message is bad."""
    return outage_cause(exc) is not None
