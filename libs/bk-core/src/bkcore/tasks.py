"""Background loops: one named task per loop, errors logged and retried, an orderly stop.

Relays, sweeps and flushers all have the same life: do a step, wait (or go on at once when the
step says more work is waiting), survive a failing step, stop when the service stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

# A step returns True when more work is waiting (loop again at once), False/None to wait.
Step = Callable[[], Awaitable[bool | None]]


class BackgroundLoop:
    """Runs ``step`` until stopped; between steps waits ``interval_s`` or until ``wake()``.

    ``initial_delay_s`` delays the first step (e.g. while a tenant is still being seeded);
    ``error_delay_s`` is an extra pause after a failing step, so a broken dependency is not hammered.
    """

    def __init__(self, name: str, step: Step, *, interval_s: float, initial_delay_s: float = 0.0,
                 error_delay_s: float = 0.0) -> None:
        self.name = name
        self._step = step
        self._interval_s = interval_s
        self._initial_delay_s = initial_delay_s
        self._error_delay_s = error_delay_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Run the next step now instead of at the end of the interval."""
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        if self._initial_delay_s:
            await asyncio.sleep(self._initial_delay_s)
        while True:
            try:
                if await self._step():
                    continue  # more waiting: don't sleep
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s failed; retrying", self.name)
                if self._error_delay_s:
                    await asyncio.sleep(self._error_delay_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval_s)
            self._wake.clear()
