"""Simulated time: real time sped up by ``scale`` plus whatever tests add with ``advance``.

Replication lag, throttling windows and other simulated delays are measured on this clock, so a soak can
cover minutes of lag in seconds. Token lifetimes stay on real time: real clients (msal, azure-identity) judge
expiry by the real clock.
"""

from __future__ import annotations

import threading
import time


class Clock:
    def __init__(self, scale: float = 1.0) -> None:
        if scale <= 0:
            raise ValueError("time scale must be positive")
        self.scale = scale
        self._start_real = time.monotonic()
        self._start_wall = time.time()
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Simulated seconds since the epoch."""
        with self._lock:
            return self._start_wall + (time.monotonic() - self._start_real) * self.scale + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds

    def to_real(self, simulated_seconds: float) -> float:
        """How many real seconds a span of simulated time takes (a Retry-After scaled down, say)."""
        return simulated_seconds / self.scale
