"""The one clock of the backend: wall time, or a time a test has set.

Everything in chalicelib that needs the time of day reads it here: session
lifetimes (15-minute access tokens, a 30-day absolute limit), windows and
allowances, connection and idempotency TTLs, message times, leases. Tests set
this clock (forward, or to an instant) instead of patching `time`. A handler
reads it once at its edge and hands that instant down (`now_ms` / `now_s`).
Only measurements (a lag, a duration) and request signing read `time` itself:
they are about the machine's real time, not the domain's.
"""

from __future__ import annotations

import time

from chalicelib import lazy


class Clock:
    """Wall time, unless a time has been set (tests): then that time, moving on from there."""

    def __init__(self) -> None:
        self._offset_ms = 0
        self._stopped_at_ms: int | None = None

    def now_ms(self) -> int:
        if self._stopped_at_ms is not None:
            return self._stopped_at_ms
        return time.time_ns() // 1_000_000 + self._offset_ms

    def now_s(self) -> int:
        return self.now_ms() // 1000

    def set(self, epoch_s: float, stopped: bool = False) -> None:
        """From now on the clock reads `epoch_s`, and runs on from there (or stays, if stopped)."""
        at_ms = int(epoch_s * 1000)
        self._offset_ms = at_ms - time.time_ns() // 1_000_000
        self._stopped_at_ms = at_ms if stopped else None

    def advance(self, seconds: float) -> None:
        """Move the clock on by `seconds` (a stopped clock stays stopped there)."""
        self._offset_ms += int(seconds * 1000)
        if self._stopped_at_ms is not None:
            self._stopped_at_ms += int(seconds * 1000)


@lazy.cached()
def get() -> Clock:
    """The process's clock (lazy.reset() puts it back to wall time)."""
    return Clock()


def now_ms() -> int:
    """The time now in epoch milliseconds, by the process's clock."""
    return get().now_ms()


def now_s() -> int:
    """The time now in epoch seconds, by the process's clock."""
    return get().now_s()
