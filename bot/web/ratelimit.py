"""A small fixed-window rate limiter per client address (per server worker).

Flask-Limiter would do the same with more moving parts; one dict and a clock is enough for the
mini-program API, whose abuse case is a script hammering /ask.
"""
from __future__ import annotations

import threading
import time


class RateLimiter:
    def __init__(self, per_minute: int, clock=time.monotonic, max_clients: int = 100_000):
        self.per_minute = per_minute
        self.clock = clock
        self.max_clients = max_clients
        self._windows: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def hit(self, client: str) -> int:
        """Count a request; return 0 if allowed, else seconds until the window resets."""
        now = self.clock()
        window = int(now // 60)
        with self._lock:
            if len(self._windows) > self.max_clients:
                self._windows = {k: v for k, v in self._windows.items() if v[0] == window}
            start, count = self._windows.get(client, (window, 0))
            if start != window:
                start, count = window, 0
            count += 1
            self._windows[client] = (start, count)
        if count > self.per_minute:
            return max(1, int((window + 1) * 60 - now))
        return 0
