"""Shared fixtures: settings tuned for fast tests, frames, and a scripted model."""

from __future__ import annotations

import pytest

from bk_detector.settings import DetectorSettings


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
    )
