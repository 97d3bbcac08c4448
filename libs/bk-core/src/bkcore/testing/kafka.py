"""A Kafka-protocol broker for tests: librdkafka's mock cluster, hosted by Debian's ``kcat``.

No Kafka distribution can be installed on our test machines, but librdkafka ships a mock cluster
that speaks enough of the protocol (produce, fetch, consumer groups, idempotent producers) for
aiokafka. ``kcat`` runs it when given ``test.mock.num.brokers``; we keep kcat alive as a consumer
of a keep-alive topic, read the real bootstrap address from its debug log, and kill it afterwards.

Usage::

    with kafka_mock_cluster() as bootstrap: ...          # anywhere
    kafka_bootstrap = kafka_mock_fixture()               # in a conftest or test module
"""

from __future__ import annotations

import collections
import os
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

_BOOTSTRAP_RE = re.compile(r"bootstrap\.servers=(\S+)")
KEEPALIVE_TOPIC = "__bk_mock_keepalive"


class KafkaMockError(RuntimeError):
    """The mock Kafka cluster could not be started (kcat missing, or it exited)."""


def _mock_command(kcat: str, brokers: int) -> list[str]:
    # -b is required by kcat but ignored: the mock cluster replaces bootstrap.servers.
    # -C on a topic (without -e) keeps kcat, and so the cluster, running until it is killed.
    # -d mock makes librdkafka log "bootstrap.servers=127.0.0.1:PORT", the only way to learn the port.
    return [
        kcat,
        "-b",
        "127.0.0.1:1",
        "-X",
        f"test.mock.num.brokers={brokers}",
        "-d",
        "mock",
        "-C",
        "-t",
        KEEPALIVE_TOPIC,
        "-o",
        "end",
    ]


def _drain(
    stream: IO[bytes], found: threading.Event, box: dict[str, str], tail: collections.deque[str]
) -> None:
    # The debug log grows with every request: keep reading it so kcat never blocks on a full pipe.
    for raw in iter(stream.readline, b""):
        line = raw.decode(errors="replace").rstrip()
        tail.append(line)
        if not found.is_set() and (m := _BOOTSTRAP_RE.search(line)):
            box["bootstrap"] = m.group(1)
            found.set()
    found.set()  # EOF: wake the waiter, which sees that no address came


@contextmanager
def kafka_mock_cluster(*, brokers: int = 1, start_timeout_s: float = 15.0) -> Iterator[str]:
    """Start a mock Kafka cluster on loopback; yields ``host:port`` bootstrap servers."""
    kcat = shutil.which("kcat")
    if kcat is None:
        raise KafkaMockError(
            "kcat not found on PATH: the Kafka-protocol tests need Debian's `kcat` package "
            "(apt-get install kcat), which hosts librdkafka's mock cluster"
        )
    cmd = _mock_command(kcat, brokers)
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    found, box, tail = threading.Event(), {}, collections.deque[str](maxlen=40)
    assert proc.stderr is not None
    reader = threading.Thread(
        target=_drain, args=(proc.stderr, found, box, tail), name="kcat-mock-log", daemon=True
    )
    reader.start()
    try:
        found.wait(start_timeout_s)
        if "bootstrap" not in box or proc.poll() is not None:
            log = "\n".join(tail) or "(no output)"
            raise KafkaMockError(
                f"kcat mock cluster did not start within {start_timeout_s}s "
                f"(exit code {proc.poll()}); command: {' '.join(cmd)}\nlast log lines:\n{log}"
            )
        yield box["bootstrap"]
    finally:
        _stop(proc)
        reader.join(timeout=5)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        # Own session (start_new_session) so the signal reaches kcat and only kcat.
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def kafka_mock_fixture(*, scope: str = "session", brokers: int = 1) -> Callable[..., Any]:
    """A pytest fixture yielding a mock cluster's bootstrap: ``kafka_bootstrap = kafka_mock_fixture()``.

    pytest is imported here, not at module level, so production code may import this module freely.
    """
    import pytest

    @pytest.fixture(scope=scope)  # type: ignore[call-overload]
    def _kafka_bootstrap() -> Iterator[str]:
        with kafka_mock_cluster(brokers=brokers) as bootstrap:
            yield bootstrap

    return _kafka_bootstrap
