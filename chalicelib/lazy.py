"""Per-process state made on first use: one idiom for every lazy thing.

Settings, the boto3 session, clients, the fan-out pool and signing keys live
as long as a Lambda container (or a local process). Each is a factory
function decorated with `@lazy.cached()`; `@lazy.cached(ttl_seconds=300)`
makes it again after that long (signing keys, so a rotation reaches warm
containers). `lazy.reset()` forgets every one of them: tests call it instead
of touching a module's private names.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, Protocol, TypeVar

T = TypeVar("T")

_everything: list[Cached[Any]] = []


class Cached(Generic[T]):
    """A factory's value, made once (thread-safe) and kept until reset or expiry."""

    def __init__(
        self,
        factory: Callable[[], T],
        ttl_seconds: float | None,
        on_reset: Callable[[T], None] | None,
    ) -> None:
        self.factory = factory
        self.ttl_seconds = ttl_seconds
        self.on_reset = on_reset
        self._lock = threading.Lock()
        self._value: T | None = None
        self._made_at: float | None = None
        functools.update_wrapper(self, factory)

    def __call__(self) -> T:
        made_at = self._made_at
        if made_at is not None and not self._expired(made_at):
            return self._value  # type: ignore[return-value]
        with self._lock:
            if self._made_at is None or self._expired(self._made_at):
                self._value = self.factory()
                self._made_at = time.monotonic()
            return self._value  # type: ignore[return-value]

    def _expired(self, made_at: float) -> bool:
        return self.ttl_seconds is not None and time.monotonic() - made_at >= self.ttl_seconds

    def reset(self) -> None:
        """Forget the value; the next call makes a new one."""
        with self._lock:
            value, made = self._value, self._made_at is not None
            self._value, self._made_at = None, None
        if made and self.on_reset is not None:
            self.on_reset(value)  # type: ignore[arg-type]


class Decorator(Protocol):
    """What `cached(...)` returns: generic in the factory's type, so each use keeps its own."""

    def __call__(self, factory: Callable[[], T], /) -> Cached[T]: ...


def cached(
    ttl_seconds: float | None = None, on_reset: Callable[[Any], None] | None = None
) -> Decorator:
    """Decorate a no-argument factory: its value is made once per process (or per ttl)."""

    def decorate(factory: Callable[[], T]) -> Cached[T]:
        holder = Cached(factory, ttl_seconds, on_reset)
        _everything.append(holder)
        return holder

    return decorate


def reset() -> None:
    """Forget every cached value (tests; a local server re-reading its environment)."""
    for holder in _everything:
        holder.reset()


_frozen: list[bool] = []  # lasting() has frozen once in this process


@contextmanager
def lasting() -> Iterator[None]:
    """A block that makes what lives as long as the container (a client and its model).

    The garbage collector stays off while it runs (nothing in it is garbage, yet
    its allocations set off collections that walk it: 5-10 ms of CPU while the
    DynamoDB client is created in bench/coldstart.py), and the first time in a
    process what exists at its end is frozen (`gc.freeze()`), so later
    collections skip it (the first request's collections: ~3 -> ~1 ms).
    Whatever else is alive at that moment is frozen too: if it later becomes
    cyclic garbage, only reference counting frees it. Once per process, so that
    is a one-time cost at most, also where clients are made again and again
    (tests, `lazy.reset()`). Nested blocks (and app.py's import, which runs with
    the collector off) leave the collector as they found it.
    """
    import gc

    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if not _frozen:
            _frozen.append(True)
            gc.freeze()
        if enabled:
            gc.enable()


def imported() -> None:
    """The end of app.py's import: what it made lives as long as the container.

    app.py turns the garbage collector off before its imports: boto3, botocore,
    Chalice and chalicelib make hundreds of thousands of objects that live as
    long as the process and no garbage worth a collection, yet the collector
    ran through them several times (bench/coldstart.py, boto3's import alone:
    122 ms of CPU with it on, 111-116 with it off). Here `gc.freeze()` moves
    every object made so far out of the collector's generations, so the
    collections that a cold start's first request sets off no longer scan them
    each time (client creation 99 -> 60 ms of CPU, the floor's 61, before the
    client got its own `lasting()` block), and the collector is on again for
    everything after.
    """
    import gc

    gc.freeze()
    gc.enable()
