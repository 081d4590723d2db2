"""One adaptive send rate per function process for the Management API.

429 LimitExceededException answers both "this client's buffer is full" and
"the account's request rate is spent" (10,000/s, burst 5,000, shared by every
API call in the region). The second is a property of the whole account, so
the answer to it is one rate for the process, not a retry loop per
connection: every call takes a turn from a token bucket whose rate halves on
a 429 (at most once per COOL_DOWN, so one burst of refusals counts once) and
creeps back up with each success (additive increase, multiplicative decrease).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from chalicelib import lazy, settings

COOL_DOWN_SECONDS = 0.1  # refusals closer together than this are one event
DECREASE = 0.5  # the rate after a 429, as a share of the rate before
BUCKET_SECONDS = 0.05  # the burst a process allows itself: this many seconds of its rate


class AdaptiveRate:
    """A token bucket whose rate follows the service's answers (thread-safe)."""

    def __init__(
        self,
        ceiling: float,
        floor: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.ceiling, self.floor = float(ceiling), float(min(floor, ceiling))
        self.rate = self.ceiling
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._tokens = self._capacity()
        self._refilled_at = clock()
        self._cut_at = float("-inf")
        self.throttles = 0  # 429s seen by this process (for logs and benchmarks)

    def _capacity(self) -> float:
        return max(1.0, self.rate * BUCKET_SECONDS)

    def acquire(self) -> None:
        """Wait for this call's turn (callers queue: each reserves the next token)."""
        with self._lock:
            now = self._clock()
            self._tokens = min(
                self._capacity(), self._tokens + (now - self._refilled_at) * self.rate
            )
            self._refilled_at = now
            self._tokens -= 1
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)

    def throttled(self) -> None:
        """The service answered 429: slow the whole process down (once per cool-down)."""
        with self._lock:
            self.throttles += 1
            now = self._clock()
            if now - self._cut_at >= COOL_DOWN_SECONDS:
                self._cut_at = now
                self.rate = max(self.floor, self.rate * DECREASE)
                self._tokens = min(self._tokens, self._capacity())

    def succeeded(self) -> None:
        """A call went through: recover towards the ceiling (about +1% of it per 100 calls)."""
        if self.rate < self.ceiling:
            with self._lock:
                self.rate = min(self.ceiling, self.rate + self.ceiling / 10_000)


@lazy.cached()
def get() -> AdaptiveRate:
    """This process's rate (every thread and invocation of the container shares it)."""
    config = settings.get()
    return AdaptiveRate(config.fanout_rate_max, config.fanout_rate_min)
