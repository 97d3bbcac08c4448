"""Background loops: one named task per loop, errors logged and retried, an orderly stop.

Relays, sweeps and flushers all have the same life: do a step, wait (or go on at once when the
step says more work is waiting), survive a failing step, stop when the service stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

# A step returns True when more work is waiting (loop again at once), False/None to wait.
Step = Callable[[], Awaitable[bool | None]]


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait until ``event`` is set or ``seconds`` pass; True when it is set.

    Use this, not ``asyncio.wait_for(event.wait(), timeout)``: on Python 3.11 ``wait_for``
    swallows a cancellation that arrives just as the event is set, so a loop being stopped runs
    on, and whoever cancelled it to stop it waits for as long as the loop's next wait (a service
    stop that hung a test for its whole 300 s timeout)."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return event.is_set()
    return True


async def cancel_and_wait(task: asyncio.Task[object]) -> None:
    """Cancel ``task`` and wait until it has finished. Its own CancelledError ends here; the
    caller's (the caller being cancelled while it waits) is raised on, never absorbed."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise


class BackgroundLoop:
    """Runs ``step`` until stopped; between steps waits ``interval_s`` or until ``wake()``.

    ``initial_delay_s`` delays the first step (e.g. while a tenant is still being seeded);
    ``error_delay_s`` is an extra pause after a failing step, so a broken dependency is not hammered.
    """

    def __init__(
        self,
        name: str,
        step: Step,
        *,
        interval_s: float,
        initial_delay_s: float = 0.0,
        error_delay_s: float = 0.0,
    ) -> None:
        self.name = name
        self._step = step
        self._interval_s = interval_s
        self._initial_delay_s = initial_delay_s
        self._error_delay_s = error_delay_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def wake(self) -> None:
        """Run the next step now instead of at the end of the interval."""
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._stopping = True  # ends the loop even if a cancellation were lost on the way
            await cancel_and_wait(self._task)
            self._task = None
            self._stopping = False

    async def _run(self) -> None:
        if self._initial_delay_s:
            await asyncio.sleep(self._initial_delay_s)
        while not self._stopping:
            try:
                if await self._step():
                    continue  # more waiting: don't sleep
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s failed; retrying", self.name)
                if self._error_delay_s:
                    await asyncio.sleep(self._error_delay_s)
            await wait_event(self._wake, self._interval_s)
            self._wake.clear()
