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
from collections.abc import Callable
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


def imported() -> None:
    """The end of app.py's import: what it made lives as long as the container.

    `gc.freeze()` moves every object made so far (Chalice, the routes, chalicelib's
    modules, settings) out of the collector's generations, so the collections
    that a cold start's first request sets off (creating the DynamoDB client
    allocates hundreds of thousands of objects from botocore's JSON models) no
    longer scan them each time. Measured in bench/coldstart.py's layout: client
    creation 99 -> 60 ms of CPU (the floor's 61), the first request's calls 65 -> 53.
    """
    import gc

    gc.freeze()
