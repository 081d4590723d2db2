"""The process's adaptive send rate: slows on 429, recovers on success, paces every call."""

from __future__ import annotations

from chalicelib.send_rate import COOL_DOWN_SECONDS, AdaptiveRate


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_429_halves_the_rate_once_per_burst_of_refusals():
    clock = Clock()
    rate = AdaptiveRate(1000, 10, clock, clock.sleep)
    for _ in range(50):  # 50 threads refused at the same moment: one event
        rate.throttled()
    assert rate.rate == 500 and rate.throttles == 50
    clock.now += COOL_DOWN_SECONDS * 1.01
    rate.throttled()
    assert rate.rate == 250


def test_the_rate_never_falls_below_its_floor_and_recovers_with_successes():
    clock = Clock()
    rate = AdaptiveRate(1000, 100, clock, clock.sleep)
    for _ in range(10):
        rate.throttled()
        clock.now += COOL_DOWN_SECONDS * 1.01
    assert rate.rate == 100
    for _ in range(9000):
        rate.succeeded()
    assert rate.rate == 1000  # back at the ceiling, never above


def test_calls_are_paced_at_the_rate():
    clock = Clock()
    rate = AdaptiveRate(100, 10, clock, clock.sleep)
    started = clock.now
    for _ in range(105):
        rate.acquire()
    # A burst of 5 (50 ms of the rate), then one call every 10 ms.
    assert abs((clock.now - started) - 1.0) < 0.02
