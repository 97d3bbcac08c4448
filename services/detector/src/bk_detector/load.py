"""How loaded a detector pod is: the load of its busiest stage, the model or the event loop.

This is what the pool scales on (``bk_detector_load_ratio``; the chart's HPA or KEDA target, e.g.
0.7). The queue depth it replaces could never pass its target: the queue is bounded
(``max_queue_frames``) and the bound was the target. A plain busy-time share fails too: a dynamic
batcher runs its next batch as soon as the last one ends, with whatever frames arrived meanwhile,
so a GPU whose batch costs the same for 4 frames as for 32 is busy all the time at a tenth of what
it can serve.

So the pod learns its own capacity from its batches: model time = fixed + per-frame x frames
(least squares over the last few hundred batches), at a full batch, over the slots it actually
overlaps. The ratio is proportional to the offered frames while the pod keeps up (half the frames,
half the ratio: the autoscaler's ``ceil(pods x ratio / target)`` gets the pool size right in one
step) and reaches 1 when it cannot keep up, above any target under 1, so an overloaded pool always
grows. How far past saturation the offered load is cannot be seen inside a pod: backpressure keeps
the excess upstream, in the gateways' queues, where the oldest frames drop. A pool under a 3x
overload therefore grows by ``1/target`` per autoscaler period until it keeps up.

Where the batch sizes seen do not tell the fixed cost from the per-frame cost (all alike), the cost
is taken as per-frame: the ratio reads high rather than low, and the pool grows early, not late.

The model is not the only stage that saturates: on a large GPU one detector process is bound by its
Python event loop (gRPC, tracking, rules, replies), and its model calls then run small and fast, far
from the model's capacity. So the loop thread's CPU share (``time.thread_time`` sampled on it) is the
second reading, and the ratio is the larger of the two: the bottleneck's. It is proportional too
(per-batch and per-frame Python work), but reads under 1 when the loop also waits for the GIL held
by other threads, so a loop-bound pod saturates below 1 (how far below is not yet measured on a GPU;
the pool grows as long as it is above the target).
"""

from __future__ import annotations

import math
import threading
import time


class _Decaying:
    """The exponential average of a step function of time (e.g. slots busy), time constant tau_s."""

    def __init__(self, tau_s: float, at: float) -> None:
        self.tau_s, self.level, self.mean, self.at = tau_s, 0.0, 0.0, at

    def value(self, t: float) -> float:
        # level held since `at`: the mean moves towards it by 1 - e^(-dt/tau)
        return self.level + (self.mean - self.level) * math.exp(-max(0.0, t - self.at) / self.tau_s)

    def set(self, level: float, t: float) -> None:
        """From ``t`` on the level is ``level``."""
        self.mean, self.at, self.level = self.value(t), max(t, self.at), level

    def held(self, level: float, t: float) -> None:
        """The level was ``level`` from the last change up to ``t`` (a sampled share)."""
        self.level = level
        self.mean, self.at = self.value(t), max(t, self.at)


class PodLoad:
    """Frames served / frames servable, averaged over the last ``tau_s`` (0 idle, 1 saturated)."""

    def __init__(
        self, max_batch: int, slots: int, tau_s: float, *, fit_batches: int = 256, now: float | None = None
    ) -> None:
        if max_batch < 1 or slots < 1 or tau_s <= 0 or fit_batches < 2:
            raise ValueError(
                f"PodLoad needs max_batch, slots >= 1, tau_s > 0, fit_batches >= 2; got "
                f"{max_batch}, {slots}, {tau_s}, {fit_batches}"
            )
        t = time.monotonic() if now is None else now
        self.max_batch, self.slots, self.tau_s = max_batch, slots, tau_s
        self._keep = 1 - 1 / fit_batches  # per batch: the fit forgets old batches gradually
        self._sums = [0.0] * 5  # weighted count, sum n, sum s, sum n^2, sum n*s
        self._served = 0.0  # frames served, each decayed by e^(-age/tau)
        self._served_at = t
        self._busy = 0
        self._slots_busy = _Decaying(tau_s, t)  # mean slots busy
        self._any_busy = _Decaying(tau_s, t)  # share of time at least one slot is busy
        self._loop_share = _Decaying(tau_s, t)  # the event loop thread's CPU share
        self._loop_cpu: float | None = None  # its CPU seconds at the last sample
        self._lock = threading.Lock()  # scrapes may read from another thread

    def begin(self, now: float | None = None) -> None:
        """A slot starts a model call."""
        with self._lock:
            self._step(+1, time.monotonic() if now is None else now)

    def end(self, frames: int, seconds: float, now: float | None = None) -> None:
        """A slot's model call of ``frames`` frames took ``seconds`` (0 frames: it failed early)."""
        t = time.monotonic() if now is None else now
        with self._lock:
            self._step(-1, t)
            if frames <= 0 or seconds <= 0:
                return
            self._served = self._served * math.exp(-max(0.0, t - self._served_at) / self.tau_s) + frames
            self._served_at = max(t, self._served_at)
            for i, v in enumerate((1.0, frames, seconds, frames * frames, frames * seconds)):
                self._sums[i] = self._sums[i] * self._keep + v

    def loop_sample(self, cpu_s: float, now: float | None = None) -> None:
        """The event loop thread's CPU seconds so far (``time.thread_time()`` called on it)."""
        t = time.monotonic() if now is None else now
        with self._lock:
            if self._loop_cpu is not None and t > self._loop_share.at:
                share = (cpu_s - self._loop_cpu) / (t - self._loop_share.at)
                self._loop_share.held(min(1.0, max(0.0, share)), t)
            else:
                self._loop_share.at = max(t, self._loop_share.at)  # the first sample starts the clock
            self._loop_cpu = cpu_s

    def ratio(self, now: float | None = None) -> float:
        """The busiest stage's load up to ``now``: the model's (frames served per second / frames
        per second it can serve) or the event loop's (its thread's CPU share)."""
        t = time.monotonic() if now is None else now
        with self._lock:
            return max(self._model_ratio(t), self._loop_share.value(t))

    def _model_ratio(self, t: float) -> float:
        capacity = self._capacity(t)
        if capacity is None:
            return 0.0
        return self._served * math.exp(-max(0.0, t - self._served_at) / self.tau_s) / self.tau_s / capacity

    def capacity(self, now: float | None = None) -> float | None:
        """Frames per second the pod can serve, as learned so far; None before its first batch."""
        with self._lock:
            return self._capacity(time.monotonic() if now is None else now)

    def _capacity(self, t: float) -> float | None:
        full = self.full_batch_seconds()
        if full is None:
            return None
        any_busy = self._any_busy.value(t)
        overlap = self._slots_busy.value(t) / any_busy if any_busy > 1e-9 else 1.0
        return self.max_batch * max(1.0, overlap) / full

    def full_batch_seconds(self) -> float | None:
        """Model time of a full batch, fitted as fixed + per-frame x frames; None before any batch."""
        w, sn, ss, snn, sns = self._sums
        if w <= 0:
            return None
        n, s = sn / w, ss / w
        spread = snn / w - n * n
        if spread >= 0.25:  # sizes differ by about a frame or more: fixed and per-frame cost separate
            per_frame = max(0.0, (sns / w - n * s) / spread)
            fixed = s - per_frame * n
            if fixed >= 0:
                return fixed + per_frame * self.max_batch
        return s * self.max_batch / n  # all cost per frame: the cautious reading

    def _step(self, delta: int, t: float) -> None:
        self._busy = max(0, self._busy + delta)
        self._slots_busy.set(self._busy, t)
        self._any_busy.set(1.0 if self._busy else 0.0, t)
