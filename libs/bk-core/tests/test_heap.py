"""The start-up heap is frozen out of the collector's way, and every pause is measured."""

from __future__ import annotations

import gc

from prometheus_client import REGISTRY

from bkcore import heap


def _pauses(generation: str) -> float:
    return REGISTRY.get_sample_value("bk_gc_pause_seconds_count", {"generation": generation}) or 0.0


def test_freeze_moves_live_objects_out_of_later_collections() -> None:
    keep = [{"i": i} for i in range(10_000)]  # start-up state: alive for the life of the process
    try:
        frozen = heap.freeze_startup_heap()
        assert frozen == gc.get_freeze_count() and frozen >= len(keep)
        assert not any(o is keep for o in gc.get_objects(2))  # a full collection no longer walks them
    finally:
        heap.unfreeze()
    assert gc.get_freeze_count() == 0
    assert any(o is keep for o in gc.get_objects(2))


def test_every_collection_pause_is_observed_by_generation() -> None:
    heap.install_gc_metrics()
    heap.install_gc_metrics()  # idempotent: one callback, one observation per collection
    assert gc.callbacks.count(heap._on_gc) == 1
    gc.disable()  # only the collections below, none triggered by allocation in between
    try:
        before = _pauses("2"), _pauses("0")
        gc.collect(2)
        gc.collect(0)
        after = _pauses("2"), _pauses("0")
    finally:
        gc.enable()
    assert after == (before[0] + 1, before[1] + 1)
