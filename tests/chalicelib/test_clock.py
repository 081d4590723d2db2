"""The one clock: wall time unless a test sets, stops or advances it."""

from __future__ import annotations

import time

import pytest

from chalicelib import clock, lazy


@pytest.fixture(autouse=True)
def wall_time_after():
    yield
    lazy.reset()


def test_a_set_clock_runs_on_from_the_time_set():
    clock.get().set(2_000_000_000)
    assert 2_000_000_000 <= clock.now_s() <= 2_000_000_000 + 60
    lazy.reset()
    assert abs(clock.now_s() - time.time()) < 60  # a reset is wall time again


def test_a_stopped_clock_moves_only_when_advanced():
    clock.get().set(2_000_000_000.25, stopped=True)
    assert clock.now_ms() == 2_000_000_000_250
    clock.get().advance(1.5)
    assert clock.now_ms() == 2_000_000_001_750
    assert clock.now_s() == 2_000_000_001
