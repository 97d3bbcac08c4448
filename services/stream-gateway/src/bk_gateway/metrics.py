"""Gateway metrics. Per-camera series carry tenant and camera (a replica holds a bounded shard)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

CAMERA_UP = Gauge("bk_gateway_camera_online", "1 when the camera delivers video (online or degraded)",
                  ["tenant_id", "camera_id"])
CAMERA_FPS = Gauge("bk_gateway_camera_fps", "decoded frames per second", ["tenant_id", "camera_id"])
RECONNECTS = Counter("bk_gateway_reconnects_total", "stream reconnect attempts", ["tenant_id"])
FRAMES_SAMPLED = Counter("bk_gateway_frames_sampled_total", "frames queued for detection", ["tenant_id"])
FRAMES_GATED = Counter("bk_gateway_frames_gated_total", "sampled frames skipped by motion gating or schedule",
                       ["tenant_id", "reason"])
STATE_CHANGES = Counter("bk_gateway_state_changes_total", "camera state changes", ["tenant_id", "state"])
BATCHES_SENT = Counter("bk_gateway_batches_sent_total", "frame batches sent to detectors", ["endpoint"])
DETECTOR_ERRORS = Counter("bk_gateway_detector_errors_total", "detector stream failures", ["endpoint"])
