"""Reconnect delays: exponential with jitter, so a thousand cameras behind one dead NVR don't
all retry in the same instant."""

from __future__ import annotations

import random


class Backoff:
    def __init__(
        self, initial_s: float, max_s: float, jitter: float = 0.2, *, rng: random.Random | None = None
    ) -> None:
        self.initial_s, self.max_s, self.jitter = initial_s, max_s, jitter
        self._rng = rng or random.Random()
        self.attempt = 0

    def next_delay(self) -> float:
        """The delay before the next attempt; each call doubles the base up to ``max_s``."""
        base = min(self.max_s, self.initial_s * (2**self.attempt))
        self.attempt += 1
        spread = base * self.jitter
        return max(0.0, min(self.max_s, base + self._rng.uniform(-spread, spread)))

    def reset(self) -> None:
        self.attempt = 0
