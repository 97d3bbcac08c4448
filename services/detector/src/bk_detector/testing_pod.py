"""A detector pod in a child process, for tests that kill it (``kill -9``) while it works.

The child runs the real detector service (gRPC on loopback, journal, evidence, sweeper) with the
scripted model, over an object store the test shares (a local directory, or S3). Its broker takes
every publish and never answers: each event it raises is still in flight when it is killed, the
hardest case for recovery and handover. Run as ``python -m bk_detector.testing_pod CONFIG_JSON``;
it prints one JSON line with its gRPC address once it serves.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bk_detector.settings import DetectorSettings
from bk_detector.testing import FakeDetection, ScriptedModel, by_colour
from bkcore.bus.base import Delivery
from bkcore.bus.inproc import InProcessBus
from bkcore.objstore.base import ObjectStore
from bkcore.objstore.local import LocalObjectStore
from bkcore.objstore.s3 import S3ObjectStore
from bkcore.service import Runtime
from bkcore.testing.tokens import new_token_issuer
from bkproto.events.v1.detections_pb2 import ViolationDetected

RED, GREY = (200, 30, 30), (128, 128, 128)
#: A cook without a chef's hat, standing still: what a RED frame shows.
HATLESS = FakeDetection(
    "person", 0.9, (0.1, 0.1, 0.3, 0.9), {"chef_hat": 0.1, "mask": 0.9, "uniform": 0.9, "gloves": 0.9}
)
SCENES = {RED: [HATLESS], GREY: []}


def pod_settings(data_dir: Path | str, **overrides: Any) -> DetectorSettings:
    """Small windows and short journal times: a violation raised on the 3rd of 5 frames, ended
    2 s (capture time) after it was last seen, a dead pod's records stale after 1 s."""
    values: dict[str, Any] = dict(
        data_dir=data_dir,
        grpc_port=0,
        max_batch_size=8,
        max_wait_ms=5,
        vote_window=5,
        vote_ratio=0.6,
        vote_min_observations=3,
        end_after_s=2,
        end_after_observations=2,
        update_interval_s=0,
        max_frame_bytes=200_000,
        evidence_retry_base_s=0.01,
        evidence_retry_max_s=0.05,
        evidence_max_attempts=4,
        journal_renew_s=0.2,
        journal_lease_s=1.0,
        journal_scan_s=0.3,
        journal_timeout_s=5.0,
    )
    values.update(overrides)
    return DetectorSettings(**values)


def store_from(config: dict[str, Any]) -> ObjectStore:
    """``{"kind": "local", "root": ...}`` or ``{"kind": "s3", "endpoint", "access_key", "secret_key",
    "bucket"}``."""
    if config["kind"] == "local":
        return LocalObjectStore(Path(config["root"]), "signing-secret", "http://127.0.0.1:8000")
    if config["kind"] == "s3":
        return S3ObjectStore(config["endpoint"], config["access_key"], config["secret_key"], config["bucket"])
    raise ValueError(f"unknown store kind {config['kind']!r}")


class BrokerNeverAnswers(InProcessBus):
    """A bus whose broker accepted the connection and never answers a publish."""

    async def publish(self, topic: str, event: ViolationDetected) -> None:  # type: ignore[override]
        await asyncio.Event().wait()


@dataclass
class ChildPod:
    address: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def kill(self) -> None:
        """``kill -9``: nothing is drained, nothing runs after it."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)


@contextmanager
def child_pod(
    store: dict[str, Any], data_dir: Path, *, pod_name: str, start_timeout_s: float = 60.0
) -> Iterator[ChildPod]:
    """A detector pod in a child process; killed (if still alive) when the block ends."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "pod.log"
    config = {"store": store, "settings": {"data_dir": str(data_dir), "pod_name": pod_name}}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bk_detector.testing_pod", json.dumps(config)],
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )
    try:
        pod = ChildPod(_read_address(proc, log_path, start_timeout_s), proc, log_path)
        yield pod
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def _read_address(proc: subprocess.Popen[bytes], log_path: Path, timeout_s: float) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if ready:
            line = proc.stdout.readline()
            if line:
                return str(json.loads(line)["address"])
            break  # EOF: the child died
    tail = log_path.read_text(errors="replace")[-3000:] if log_path.exists() else "(no log)"
    raise RuntimeError(f"detector child pod did not start (exit code {proc.poll()}); log tail:\n{tail}")


async def _serve(config: dict[str, Any]) -> None:
    from bk_detector.service import create_service  # the service imports a lot: only in the child

    settings = pod_settings(**config["settings"])
    runtime = Runtime(
        settings=settings,
        bus=BrokerNeverAnswers(),
        store=store_from(config["store"]),
        tokens=new_token_issuer(),
    )
    service = create_service(runtime, settings, model=ScriptedModel(by_colour(SCENES)))
    await service.start()
    print(json.dumps({"address": service.grpc_address}), flush=True)
    await asyncio.Event().wait()  # until killed


if __name__ == "__main__":
    asyncio.run(_serve(json.loads(sys.argv[1])))


class Collector:
    """Every detections.v1 event a test's bus carried, in order, with a bounded wait for more."""

    def __init__(self, bus: InProcessBus) -> None:
        self.events: list[ViolationDetected] = []
        self._arrived = asyncio.Event()
        bus.subscribe("detections.v1", "test", self._collect)

    async def _collect(self, delivery: Delivery) -> None:
        self.events.append(delivery.event)  # type: ignore[arg-type]
        self._arrived.set()

    async def wait_events(self, n: int, timeout_s: float = 20.0) -> list[ViolationDetected]:
        async with asyncio.timeout(timeout_s):
            while len(self.events) < n:
                self._arrived.clear()
                await self._arrived.wait()
        return self.events
