"""Background loops stop when told, even when a wake-up races the stop."""

from __future__ import annotations

import asyncio
import time

import pytest

from bkcore.tasks import BackgroundLoop, cancel_and_wait, wait_event


async def _running_loop(steps: list[float], interval_s: float = 60.0) -> BackgroundLoop:
    async def step() -> None:
        steps.append(time.monotonic())

    loop = BackgroundLoop("test-loop", step, interval_s=interval_s)
    loop.start()
    for _ in range(3):  # the first step runs, then the loop waits for a wake-up or its interval
        await asyncio.sleep(0)
    assert len(steps) == 1
    return loop


async def test_stop_wins_over_a_wake_up_in_the_same_instant() -> None:
    # A write wakes the relay just as the service stops it. With asyncio.wait_for (Python 3.11)
    # the cancellation was swallowed: the loop ran another step and stop() waited out the whole
    # interval (60 s here; a case-manager test hung for its 300 s timeout).
    steps: list[float] = []
    loop = await _running_loop(steps)
    start = time.monotonic()
    async with asyncio.timeout(5):  # a guard only: the old stop() absorbed even this cancellation
        loop.wake()
        await loop.stop()  # in the same instant as the wake-up: no loop iteration in between
    assert time.monotonic() - start < 1.0
    assert len(steps) == 1  # no step after the stop
    loop.start()  # a stopped loop starts again (the stop flag does not stick)
    await asyncio.sleep(0)
    assert len(steps) >= 2
    await loop.stop()


async def test_wake_runs_the_next_step_at_once() -> None:
    steps: list[float] = []
    loop = await _running_loop(steps)
    loop.wake()
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(steps) == 2
    await loop.stop()


async def test_wait_event_reports_set_or_timeout() -> None:
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await wait_event(event, 5) is True


async def test_wait_event_never_swallows_a_cancellation() -> None:
    event = asyncio.Event()
    waiter = asyncio.create_task(wait_event(event, 60))
    await asyncio.sleep(0)
    event.set()
    waiter.cancel()  # arrives together with the event, as in the stop race above
    with pytest.raises(asyncio.CancelledError):
        await waiter


async def test_cancel_and_wait_passes_on_the_callers_own_cancellation() -> None:
    async def stubborn() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            await asyncio.sleep(0.2)  # takes a while to finish
            raise

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    stopper = asyncio.create_task(cancel_and_wait(task))
    await asyncio.sleep(0.05)
    stopper.cancel()  # whoever was stopping the task is itself being cancelled
    with pytest.raises(asyncio.CancelledError):
        await stopper
    await asyncio.sleep(0.3)
    assert task.cancelled()
