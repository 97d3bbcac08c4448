"""Outage or poison: the classifier over exception objects of the real libraries (no I/O here; the
errors those libraries raise against real servers are checked in test_outage_real.py)."""

from __future__ import annotations

import errno
import socket
import sqlite3

import aiokafka.errors as kafka_errors
import asyncpg.exceptions as pg
import grpc
import grpc.aio
import httpx
import pytest
import sqlalchemy.exc as sa
import urllib3
import urllib3.exceptions as u3
from minio.error import InvalidResponseError, S3Error, ServerError

from bkcore.bus.base import MalformedEvent, PublishError
from bkcore.bus.outages import Outages, backoff_s
from bkcore.outage import MessagePoison, Outage, is_outage, outage_cause


def chained(top: BaseException, cause: BaseException) -> BaseException:
    """``top`` raised ``from cause``, as a handler or a library wrapper would."""
    try:
        try:
            raise cause
        except BaseException as exc:
            raise top from exc
    except BaseException as exc:
        return exc


def during(top: BaseException, handling: BaseException) -> BaseException:
    """``top`` raised while ``handling`` was being handled (implicit ``__context__``)."""
    try:
        try:
            raise handling
        except BaseException:
            raise top  # noqa: B904 - the implicit context is the point
    except BaseException as exc:
        return exc


def sqlite_error(sql_setup: list[str], sql: str, *, other: bool = False) -> sqlite3.Error:
    """A real sqlite3 error from an in-memory database (two connections share it when ``other``)."""
    uri = "file:outage-test?mode=memory&cache=shared"
    a = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=0)
    b = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=0) if other else a
    try:
        for s in sql_setup:
            a.execute(s)
        b.execute(sql)
    except sqlite3.Error as exc:
        return exc
    finally:
        a.close()
        b.close()
    raise AssertionError("expected an sqlite error")


def s3_error(code: str) -> S3Error:
    response = urllib3.HTTPResponse(body=b"", status=503 if code == "SlowDown" else 404)
    return S3Error(response, code, "msg", "/bucket/key", "req-1", "host-1")


def dbapi(orig: Exception, *, invalidated: bool = False) -> sa.DBAPIError:
    err = sa.DBAPIError.instance("SELECT 1", {}, orig, Exception, connection_invalidated=invalidated)
    return err  # type: ignore[return-value]


OUTAGES = {
    "connection refused": ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed"),
    "connection reset": ConnectionResetError(errno.ECONNRESET, "reset by peer"),
    "broken pipe": BrokenPipeError(errno.EPIPE, "broken pipe"),
    "timeout": TimeoutError(),
    "dns": socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
    "network unreachable": OSError(errno.ENETUNREACH, "Network is unreachable"),
    "disk full": OSError(errno.ENOSPC, "No space left on device"),
    "asyncio every address refused": OSError(
        "Multiple exceptions: [Errno 111] Connect call failed, [Errno 99]"
    ),
    "pg connection gone": pg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    "pg cannot connect now": pg.CannotConnectNowError("the database system is starting up"),
    "pg admin shutdown": pg.AdminShutdownError("terminating connection due to administrator command"),
    "pg statement timeout": pg.QueryCanceledError("canceling statement due to statement timeout"),
    "pg lock timeout": pg.LockNotAvailableError("canceling statement due to lock timeout"),
    "pg deadlock": pg.DeadlockDetectedError("deadlock detected"),
    "pg too many connections": pg.TooManyConnectionsError("sorry, too many clients already"),
    "pg disk full": pg.DiskFullError("could not extend file"),
    "sqlalchemy invalidated": dbapi(Exception("connection was closed"), invalidated=True),
    "sqlalchemy wraps statement timeout": dbapi(pg.QueryCanceledError("statement timeout")),
    "sqlalchemy pool timeout": sa.TimeoutError("QueuePool limit of size 10 overflow 0 reached"),
    "sqlalchemy disconnect": sa.DisconnectionError("dropped at checkout"),
    "kafka connection": kafka_errors.KafkaConnectionError("Unable to bootstrap from [('127.0.0.1', 1)]"),
    "kafka request timed out": kafka_errors.RequestTimedOutError(),
    "kafka not leader": kafka_errors.NotLeaderForPartitionError(),
    "kafka timeout": kafka_errors.KafkaTimeoutError(),
    "kafka commit failed": kafka_errors.CommitFailedError("rebalanced"),
    "bus publish": PublishError("Kafka did not accept an event"),
    "bus publish from kafka outage": chained(PublishError("not accepted"), kafka_errors.NodeNotReadyError()),
    "httpx connect": httpx.ConnectError("All connection attempts failed"),
    "httpx read timeout": httpx.ReadTimeout("timed out"),
    "httpx 503": httpx.HTTPStatusError(
        "503",
        request=httpx.Request("GET", "http://x/"),
        response=httpx.Response(503, request=httpx.Request("GET", "http://x/")),
    ),
    "urllib3 max retries": u3.MaxRetryError(None, "/bucket/key", u3.NewConnectionError(None, "refused")),  # type: ignore[arg-type]
    "urllib3 read timeout": u3.ReadTimeoutError(None, "/k", "read timed out"),  # type: ignore[arg-type]
    "urllib3 protocol": u3.ProtocolError("Connection aborted."),
    "s3 slow down": s3_error("SlowDown"),
    "s3 server error": ServerError("server failed with HTTP status code 502", 502),
    "s3 proxy error page": InvalidResponseError(503, "text/html", "<html>Service Unavailable</html>"),
    "grpc unavailable": grpc.aio.AioRpcError(
        grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "failed to connect"
    ),
    "grpc deadline": grpc.aio.AioRpcError(
        grpc.StatusCode.DEADLINE_EXCEEDED, grpc.aio.Metadata(), grpc.aio.Metadata(), "deadline"
    ),
    "marked by a handler": Outage("upstream answered 503"),
    "handler error while db down": during(ValueError("no row"), ConnectionResetError()),
    "handler error from db down": chained(KeyError("case"), TimeoutError()),
    "exception group": ExceptionGroup("several", [ValueError("a"), ConnectionRefusedError()]),
}

POISON = {
    "value error": ValueError("bad score"),
    "key error": KeyError("site_id"),
    "type error": TypeError("NoneType"),
    "missing file": FileNotFoundError(errno.ENOENT, "No such file"),
    "undecodable": MalformedEvent("not a ViolationDetected"),
    "pg unique": pg.UniqueViolationError("duplicate key value"),
    "pg too long for its column": pg.StringDataRightTruncationError("value too long for type varchar(64)"),
    "sqlalchemy integrity": sa.IntegrityError("INSERT", {}, pg.UniqueViolationError("dup")),
    "sqlalchemy data error": dbapi(pg.StringDataRightTruncationError("too long")),
    "kafka record too large": kafka_errors.MessageSizeTooLargeError(),
    "bus publish of a record too large": chained(
        PublishError("not accepted"), kafka_errors.MessageSizeTooLargeError()
    ),
    "httpx 404": httpx.HTTPStatusError(
        "404",
        request=httpx.Request("GET", "http://x/"),
        response=httpx.Response(404, request=httpx.Request("GET", "http://x/")),
    ),
    "httpx bad scheme": httpx.UnsupportedProtocol("Request URL has an unsupported protocol 'ftp://'"),
    "s3 no such key": s3_error("NoSuchKey"),
    "grpc invalid argument": grpc.aio.AioRpcError(
        grpc.StatusCode.INVALID_ARGUMENT, grpc.aio.Metadata(), grpc.aio.Metadata(), "bad frame"
    ),
    "marked poison over a timeout": chained(MessagePoison("this camera's URL never answers"), TimeoutError()),
    "outage below a message-level verdict": chained(
        PublishError("x"), chained(kafka_errors.RecordTooLargeError(), ConnectionResetError())
    ),
}


@pytest.mark.parametrize("exc", OUTAGES.values(), ids=OUTAGES.keys())
def test_outages(exc: BaseException) -> None:
    assert is_outage(exc)


@pytest.mark.parametrize("exc", POISON.values(), ids=POISON.keys())
def test_poison(exc: BaseException) -> None:
    assert not is_outage(exc)


def test_sqlite_busy_and_locked_are_outages_a_missing_table_is_not() -> None:
    locked = sqlite_error(
        ["CREATE TABLE IF NOT EXISTS t (x)", "BEGIN EXCLUSIVE", "INSERT INTO t VALUES (1)"],
        "SELECT * FROM t",
        other=True,
    )
    assert "locked" in str(locked) and is_outage(locked)
    missing = sqlite_error([], "SELECT * FROM no_such_table")
    assert "no such table" in str(missing) and not is_outage(missing)
    wrapped = chained(sa.OperationalError("SELECT", {}, locked), locked)  # as SQLAlchemy raises it
    assert is_outage(wrapped)


def test_the_cause_is_the_outage_itself_not_the_wrapper() -> None:
    refused = ConnectionRefusedError(errno.ECONNREFUSED, "refused")
    assert outage_cause(chained(RuntimeError("handler gave up"), refused)) is refused
    assert outage_cause(ValueError("x")) is None


def test_a_looping_chain_ends() -> None:
    a, b = ValueError("a"), KeyError("b")
    a.__context__, b.__context__ = b, a
    assert not is_outage(a)


def test_backoff_doubles_up_to_its_cap_with_bounded_jitter() -> None:
    plain = [backoff_s(n, base_s=0.5, cap_s=10, jitter=0.5) for n in range(1, 8)]
    assert plain == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert backoff_s(1, base_s=1, cap_s=10, jitter=0.0) == pytest.approx(0.9)
    assert backoff_s(50, base_s=1, cap_s=10, jitter=0.999) < 11.0
    with pytest.raises(ValueError):
        backoff_s(0, base_s=1, cap_s=10, jitter=0)


def test_outages_pause_per_topic_and_group_until_the_last_partition_recovers() -> None:
    now = [100.0]
    outages = Outages(backoff_s=1, backoff_max_s=4, monotonic=lambda: now[0], jitter=lambda: 0.5)
    down = ConnectionRefusedError(errno.ECONNREFUSED, "refused")
    outages.failed("cases.v1", "g", 0, down)
    outages.failed("cases.v1", "g", 0, down)
    outages.failed("cases.v1", "g", 1, down)
    assert [outages.wait_s("cases.v1", "g", p) for p in (0, 1)] == [2.0, 1.0]
    [info] = outages.current()
    assert (info.topic, info.group, info.partitions, info.retries) == ("cases.v1", "g", (0, 1), 3)
    assert "ConnectionRefusedError" in info.cause
    outages.recovered("cases.v1", "g", 0)
    assert outages.current()[0].partitions == (1,)
    outages.forget("cases.v1", "g", 1)  # partition moved to another consumer
    assert outages.current() == []
    outages.recovered("cases.v1", "g", 1)  # recovering what is not paused changes nothing
    assert outages.current() == []
