"""Gateway metrics. Per-camera series carry tenant and camera (a replica holds a bounded shard)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

CAMERA_UP = Gauge(
    "bk_gateway_camera_online",
    "1 when the camera delivers video (online or degraded)",
    ["tenant_id", "camera_id"],
)
CAMERA_FPS = Gauge("bk_gateway_camera_fps", "decoded frames per second", ["tenant_id", "camera_id"])
RECONNECTS = Counter("bk_gateway_reconnects_total", "stream reconnect attempts", ["tenant_id"])
FRAMES_SAMPLED = Counter("bk_gateway_frames_sampled_total", "frames queued for detection", ["tenant_id"])
FRAMES_GATED = Counter(
    "bk_gateway_frames_gated_total",
    "sampled frames skipped by motion gating or schedule",
    ["tenant_id", "reason"],
)
STATE_CHANGES = Counter("bk_gateway_state_changes_total", "camera state changes", ["tenant_id", "state"])
# The watchdog of the capture path, stage by stage: frames in (FRAMES_SAMPLED), sent, answered (or
# lost); the detector counts what it publishes (bk_detector_detections_published_total). Frames
# flowing in with none answered is the silent stall BKDetectorsNotAnswering alerts on.
BATCHES_SENT = Counter("bk_gateway_batches_sent_total", "frame batches sent to detectors", ["endpoint"])
BATCHES_ANSWERED = Counter(
    "bk_gateway_batches_answered_total", "frame batches detectors answered", ["endpoint"]
)
FRAMES_SENT = Counter("bk_gateway_frames_sent_total", "frames sent to detectors", ["tenant_id"])
FRAMES_ANSWERED = Counter("bk_gateway_frames_answered_total", "frames detectors answered", ["tenant_id"])
FRAMES_LOST = Counter(
    "bk_gateway_frames_lost_total",
    "frames sent (or taken for sending) to a detector "
    "stream that broke before answering them: timeout, closed, unavailable, "
    "unreachable, error, shutdown",
    ["tenant_id", "reason"],
)
DETECTOR_WINDOW = Gauge(
    "bk_gateway_detector_window_frames",
    "frames a detector stream may have unanswered "
    "now: shrinks while the detector answers slowly (overloaded), grows back after",
    ["endpoint"],
)
DETECTOR_ERRORS = Counter(
    "bk_gateway_detector_errors_total", "detector stream failures (every retry)", ["endpoint", "reason"]
)
AI_RUNNING = Gauge(
    "bk_gateway_ai_running",
    "1 while detectors answer this replica's frames (or none "
    "are waiting); 0 while the AI is not running (GET /v1/ai/status says why)",
)
