"""Shared fixtures: settings tuned for fast tests, and the object stores the pod tests run on."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bk_detector.settings import DetectorSettings
from bkcore.testing.s3 import S3Server, seaweedfs_s3


@pytest.fixture
def settings(tmp_path) -> DetectorSettings:  # type: ignore[no-untyped-def]
    return DetectorSettings(
        data_dir=tmp_path,
        grpc_port=0,
        max_batch_size=8,
        max_wait_ms=5,
        vote_window=5,
        vote_ratio=0.6,
        vote_min_observations=3,
        end_after_s=5,
        update_interval_s=0,
        fire_unattended_s=10,
        max_frame_bytes=200_000,
        max_pixels=1920 * 1080,
        evidence_retry_base_s=0.01,
        evidence_retry_max_s=0.05,
        evidence_max_attempts=4,
        operator_tenant="t",  # the tests' platform admins (tenant "t") run the platform: its models
    )


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    with seaweedfs_s3() as server:  # raises (a test error, never a skip) if weed cannot run
        yield server


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.integration)])
def store_config(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """The object store a detector pod journals to: a local folder, and SeaweedFS's S3."""
    if request.param == "local":
        return {"kind": "local", "root": str(tmp_path / "objects")}
    server: S3Server = request.getfixturevalue("s3_server")
    return {
        "kind": "s3",
        "endpoint": server.endpoint,
        "access_key": server.access_key,
        "secret_key": server.secret_key,
        "bucket": f"bk-{uuid.uuid4().hex[:12]}",
    }
