"""The detector's Prometheus metrics (what SREs scale the detector pool on)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

BATCH_SIZE = Histogram(
    "bk_detector_batch_size", "frames per model call", buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256)
)
QUEUE_DEPTH = Gauge("bk_detector_queue_depth", "frames waiting for inference")
LOAD_RATIO = Gauge(
    "bk_detector_load_ratio",
    "frames served per second / frames per second this pod can serve (learned "
    "from its own batches), over the last ~15 s: what the pool scales on (bk_detector.load); 1 = "
    "saturated, the excess waits upstream",
)
INFERENCE_SECONDS = Histogram(
    "bk_detector_inference_seconds",
    "model call latency per batch",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
STAGE_SECONDS = Histogram(
    "bk_detector_stage_seconds",
    "time per model call by stage: decode, resize, model, copy (device "
    "time on a GPU), python (building results on the host)",
    ["stage"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)
BATCH_SECONDS = Histogram(
    "bk_detector_batch_seconds",
    "one FrameBatch in the server: read off its stream to its "
    "DetectionBatch handed back (checks, queue, model call, tracking, rules, voting, reply)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5),
)
QUEUE_WAIT_SECONDS = Histogram(
    "bk_detector_queue_wait_seconds",
    "time a FrameBatch's frames waited in the batcher's queue for their model call",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)


def observe_stage(stage: str, seconds: float) -> None:
    STAGE_SECONDS.labels(stage).observe(seconds)


FRAMES = Counter("bk_detector_frames_total", "frames handled", ["tenant", "outcome"])
PROFILES_REFUSED = Counter(
    "bk_detector_profiles_refused_total",
    "camera profiles refused (the camera keeps its last good one; "
    "the gateway raises a profile_refused camera alarm)",
    ["tenant"],
)
GPU_MEMORY_BYTES = Gauge("bk_detector_gpu_memory_bytes", "CUDA memory allocated by the model")
VIOLATIONS = Counter(
    "bk_detector_violations_total", "violation transitions raised", ["tenant", "type", "phase"]
)
DETECTIONS_PUBLISHED = Counter(
    "bk_detector_detections_published_total",
    "detections.v1 events published (the last stage of the "
    "capture path's watchdog, after the gateway's frames sampled, sent and answered)",
    ["tenant"],
)
EVIDENCE_PENDING = Gauge("bk_detector_evidence_pending", "violation events waiting for store/bus")
EVIDENCE_RETRIES = Counter("bk_detector_evidence_retries_total", "store/bus retries", ["step"])
EVIDENCE_DROPPED = Counter(
    "bk_detector_evidence_dropped_total", "violation events given up on", ["tenant", "reason"]
)
JOURNAL_ERRORS = Counter(
    "bk_detector_journal_errors_total",
    "object-store failures of the violation journal by step: open "
    "(a new violation not made durable), lookup (a camera's first frame), renew, after_publish, scan",
    ["step"],
)
NOT_DURABLE = Counter(
    "bk_detector_violations_not_durable_total",
    "frames answered with an error because the violation "
    "they raised was not in the object store in time (it is still delivered if this pod lives)",
)
HANDOVER = Counter(
    "bk_detector_handover_total",
    "violations handed between pods: adopted (from another pod), lost "
    "(moved away), take_back (came back), ended (on another pod), end_left_to_owner",
    ["outcome"],
)
RECOVERED = Counter(
    "bk_detector_recovered_total",
    "violation events published from the journal for a pod that did not",
    ["phase"],
)
SHADOW_FRAMES = Counter(
    "bk_detector_shadow_frames_total",
    "sampled frames a shadow (candidate) model saw beside the live one: "
    "compared, busy (skipped: the shadow was behind, live frames never wait for it), failed",
    ["outcome"],
)
SHADOW_CHANGES = Counter(
    "bk_detector_shadow_alarm_changes_total",
    "alarms (per-frame rule hits) the shadow model would change "
    "against the live one: appears (only the candidate raises it), disappears (only the live one does)",
    ["violation_type", "change"],
)
