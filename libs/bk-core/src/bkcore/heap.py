"""Garbage-collector pauses: measured, and kept short for long-running services.

CPython's oldest-generation collection walks every tracked object. After importing torch, grpc,
SQLAlchemy and friends a service holds some 400k of them, all alive for the life of the process,
and every full collection walks them again: one pause of 80-200 ms on the event loop, which every
request in flight waits out (it was the detector's p99 at half load; see docs/benchmarks.md).

``freeze_startup_heap`` moves everything alive after start-up into the permanent generation
(``gc.freeze``), so later collections walk only what the service allocates while serving.
Reference cycles among frozen objects are never collected, which is what start-up state (modules,
models, settings) wants anyway. ``bk_gc_pause_seconds`` shows every collection's pause by generation.
"""

from __future__ import annotations

import gc
import logging
import time

from prometheus_client import Histogram

log = logging.getLogger("bkcore.heap")

GC_PAUSE = Histogram(
    "bk_gc_pause_seconds",
    "garbage collector pauses (the whole process stops)",
    ["generation"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5),
)

_started: float | None = None
_installed = False


def _on_gc(phase: str, info: dict) -> None:
    global _started
    if phase == "start":
        _started = time.perf_counter()
    elif _started is not None:
        GC_PAUSE.labels(str(info.get("generation", "?"))).observe(time.perf_counter() - _started)
        _started = None


def install_gc_metrics() -> None:
    """Observe every collection's pause into ``bk_gc_pause_seconds`` (idempotent)."""
    global _installed
    if not _installed:
        gc.callbacks.append(_on_gc)
        _installed = True


def freeze_startup_heap() -> int:
    """Collect once, then move every surviving object to the permanent generation; returns how
    many objects were frozen. Call when start-up is done (models loaded, warm-up run)."""
    install_gc_metrics()
    start = time.perf_counter()
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.info(
        "froze %d start-up objects out of the collector's way (%.0f ms)",
        frozen,
        (time.perf_counter() - start) * 1000,
    )
    return frozen


def unfreeze() -> None:
    """Undo ``freeze_startup_heap`` (benchmarks compare both)."""
    gc.unfreeze()
