"""The clock sessions are judged by: wall time, or a time a test has set.

Session lifetimes (15-minute access tokens, a 30-day absolute limit) are
tested by setting this clock forward, never by patching `time`. Read once at
the edge of an invocation and handed down as `now_s`.
"""

from __future__ import annotations

import time

from chalicelib import lazy


class Clock:
    """Wall time, unless a time has been set (tests): then that time, moving on from there."""

    def __init__(self) -> None:
        self._offset_ms = 0

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self._offset_ms

    def now_s(self) -> int:
        return self.now_ms() // 1000

    def set(self, epoch_s: float) -> None:
        """From now on the clock reads `epoch_s`, and runs on from there."""
        self._offset_ms = int(epoch_s * 1000) - time.time_ns() // 1_000_000

    def advance(self, seconds: float) -> None:
        """Move the clock on by `seconds`."""
        self._offset_ms += int(seconds * 1000)


@lazy.cached()
def get() -> Clock:
    """The process's clock (lazy.reset() puts it back to wall time)."""
    return Clock()


def now_s() -> int:
    """The time now in epoch seconds, by the process's clock."""
    return get().now_s()
