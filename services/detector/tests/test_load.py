"""The pod's load ratio (what the pool scales on), on synthetic batch timelines (no I/O, no clock),
and last a real batcher reading its event loop's CPU share.

A batch that costs the same for 2 frames as for 8 (a GPU) keeps a dynamic batcher busy at a
fraction of what it can serve; the ratio must still say that fraction, not "busy"."""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Callable

import pytest

from bk_detector.batching import DynamicBatcher
from bk_detector.load import PodLoad
from bk_detector.testing import ScriptedModel

TAU = 1.0
MAX_BATCH = 8


def replay(
    load: PodLoad,
    *,
    rate: float,
    sizes: list[int],
    cost: Callable[[int], float],
    seconds: float = 10 * TAU,
    slots: int = 1,
) -> float:
    """Frames arriving at ``rate`` served in batches of ``sizes`` (cycled), each batch starting when
    its frames have arrived (or when its slot is free) and taking ``cost(n)``; the ratio at the end."""
    t, free = 0.0, [0.0] * slots
    events: list[tuple[float, int, int, float]] = []  # (time, +1 begin / -1 end, frames, seconds)
    for n in itertools.cycle(sizes):
        t += n / rate
        slot = min(range(slots), key=free.__getitem__)
        begin = max(t, free[slot])
        assert begin - t < 0.05, "the timeline must keep up with `rate` (pick bigger batches)"
        if begin > seconds:
            break
        free[slot] = begin + cost(n)
        events += [(begin, +1, n, 0.0), (free[slot], -1, n, cost(n))]
    for at, kind, n, took in sorted(events, key=lambda e: (e[0], e[1])):
        if kind > 0:
            load.begin(now=at)
        else:
            load.end(n, took, now=at)
    return load.ratio(now=seconds)


def fixed(n: int) -> float:
    return 0.020  # a GPU: 20 ms for any batch up to 8 frames -> 400 frames/s at full batches


def per_frame(n: int) -> float:
    return 0.0025 * n  # a CPU: 2.5 ms a frame -> 400 frames/s whatever the batch


@pytest.mark.parametrize("cost", [fixed, per_frame], ids=["fixed-cost", "per-frame-cost"])
@pytest.mark.parametrize("rate", [40.0, 100.0, 200.0, 300.0])
def test_the_ratio_follows_the_frames_served_over_what_the_pod_can_serve(cost, rate) -> None:
    # a batch of n must be done before the next n frames arrive: n >= rate x cost
    least = max(1, math.ceil(rate * 0.020)) if cost is fixed else 1
    sizes = [min(MAX_BATCH, least + d) for d in (0, 1, 2, 1, 0, 2)]
    got = replay(PodLoad(MAX_BATCH, 1, TAU, now=0.0), rate=rate, sizes=sizes, cost=cost)
    assert got == pytest.approx(rate / 400, rel=0.1)


def test_a_fixed_cost_batcher_busy_all_the_time_is_not_read_as_full() -> None:
    load = PodLoad(MAX_BATCH, 1, TAU, now=0.0)
    # batches of ~3 back to back: busy 2/3 of the time at a quarter of the capacity
    assert replay(load, rate=100.0, sizes=[2, 3, 4], cost=fixed) < 0.3


def test_a_saturated_pod_reads_one_on_one_slot_or_two() -> None:
    one = replay(PodLoad(MAX_BATCH, 1, TAU, now=0.0), rate=400.0, sizes=[8], cost=fixed)
    assert one == pytest.approx(1.0, rel=0.05)
    # two slots, each batch 40 ms when both run (they share the device): still 400 frames/s
    two = replay(PodLoad(MAX_BATCH, 2, TAU, now=0.0), rate=400.0, sizes=[8], cost=lambda n: 0.040, slots=2)
    assert two == pytest.approx(1.0, rel=0.05)


def test_an_idle_pod_decays_to_zero_and_knows_its_capacity() -> None:
    load = PodLoad(MAX_BATCH, 1, TAU, now=0.0)
    assert load.ratio(now=0.0) == 0.0 and load.capacity(now=0.0) is None
    replay(load, rate=200.0, sizes=[4, 6, 5, 8], cost=fixed)
    assert load.ratio(now=10 * TAU + 10 * TAU) < 0.001
    assert load.capacity(now=20 * TAU) == pytest.approx(400, rel=0.05)


def test_sizes_too_alike_to_split_the_costs_read_high_not_low() -> None:
    # every batch 2 frames: fixed and per-frame cost cannot be told apart; the true load is 0.25
    got = replay(PodLoad(MAX_BATCH, 1, TAU, now=0.0), rate=100.0, sizes=[2], cost=fixed)
    assert got >= 0.25


def test_a_failed_call_counts_no_frames() -> None:
    load = PodLoad(MAX_BATCH, 1, TAU, now=0.0)
    load.begin(now=0.0)
    load.end(0, 0.02, now=0.02)
    assert load.capacity(now=1.0) is None and load.ratio(now=1.0) == 0.0


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="PodLoad needs"):
        PodLoad(0, 1, TAU)
    with pytest.raises(ValueError, match="PodLoad needs"):
        PodLoad(8, 1, 0.0)


# --- the event loop's reading ---------------------------------------------------------------------


def test_a_loop_bound_pod_reads_its_loop_share_when_the_model_is_far_from_full() -> None:
    load = PodLoad(MAX_BATCH, 1, TAU, now=0.0)
    replay(load, rate=100.0, sizes=[2, 3, 4], cost=fixed)  # the model at ~0.25
    for i in range(101):  # the loop thread on the CPU 80% of the time
        load.loop_sample(cpu_s=5.0 + 0.08 * i, now=i * 0.1)
    assert load.ratio(now=10.0) == pytest.approx(0.8, rel=0.02)


def test_the_model_reading_wins_when_it_is_the_busier_stage() -> None:
    load = PodLoad(MAX_BATCH, 1, TAU, now=0.0)
    for i in range(101):
        load.loop_sample(cpu_s=0.01 * i, now=i * 0.1)  # the loop at 10%
    got = replay(load, rate=300.0, sizes=[6, 7, 8], cost=fixed)
    assert got == pytest.approx(0.75, rel=0.1)


def test_the_first_loop_sample_only_starts_the_clock() -> None:
    load = PodLoad(MAX_BATCH, 1, TAU, now=0.0)
    load.loop_sample(cpu_s=123.0, now=5.0)  # CPU time since the thread began: not a share
    assert load.ratio(now=5.0) == 0.0


async def test_the_batcher_reads_its_event_loops_cpu_share() -> None:
    batcher = DynamicBatcher(
        ScriptedModel(), max_batch_size=8, max_wait_ms=5, max_queue=64, load_tau_s=0.3, loop_probe_s=0.05
    )
    await batcher.start()
    try:
        await asyncio.sleep(1.0)
        idle = batcher.load.ratio()
        end = time.perf_counter() + 1.5
        while time.perf_counter() < end:  # the loop busy with Python work, the model idle
            chunk = time.perf_counter() + 0.01
            while time.perf_counter() < chunk:
                pass
            await asyncio.sleep(0)
        busy = batcher.load.ratio()
    finally:
        await batcher.stop()
    # on an idle machine `busy` is ~1; other processes can take the CPU, so only the contrast holds
    assert busy > max(0.1, 3 * idle), (idle, busy)
