"""Identifiers and clocks.

Message ids sort as plain strings in the order they were made: 13 digits of
epoch milliseconds, a dash, 10 hex digits. Within one process the suffix
increases monotonically inside a millisecond (as ULIDs do), so a burst from one
container never sorts out of order; across containers the random start keeps
ids unique.
"""

from __future__ import annotations

import secrets
import threading
from datetime import UTC, datetime

from chalicelib import clock, lazy

_SUFFIX_BITS = 40


class _Sequence:
    """The last id this process made (ms, suffix), under a lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.last: tuple[int, int] = (0, 0)


@lazy.cached()
def _sequence() -> _Sequence:
    # Per process, and forgotten by lazy.reset(): a test that made an id far in
    # the future must not push every later id there.
    return _Sequence()


def now_ms() -> int:
    """The time in epoch milliseconds, by the process's clock (chalicelib/clock.py)."""
    return clock.get().now_ms()


def message_id(at_ms: int | None = None) -> str:
    """A new message id, time-sortable and unique."""
    ms = now_ms() if at_ms is None else at_ms
    sequence = _sequence()
    with sequence.lock:
        last_ms, last_suffix = sequence.last
        if ms <= last_ms and last_suffix + 1 < (1 << _SUFFIX_BITS):
            ms, suffix = last_ms, last_suffix + 1
        else:
            suffix = secrets.randbits(_SUFFIX_BITS - 1)  # room to count up
        sequence.last = (ms, suffix)
    return f"{ms:013d}-{suffix:010x}"


def iso_utc(ms: int) -> str:
    """Epoch milliseconds as ISO-8601 UTC with milliseconds and a Z."""
    stamp = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
