"""The one deadline loop of the tests: wait for a condition, up to a generous limit.

A behaviour check ("closed within 5 s"), never a timing assertion: the limit
only bounds how long a broken build takes to fail.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T],
    what: str | Callable[[], str],
    timeout: float = 10.0,
    interval: float = 0.01,
) -> T:
    """Call `condition` until it returns something truthy, and return that.

    AssertionError naming `what` (a text, or a function making one, e.g. the
    server's log) when `timeout` seconds pass first.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for "
                                 f"{what() if callable(what) else what}")
        time.sleep(interval)
