"""Shared helpers of the benchmarks: environment, moto tables, call counting, output.

Each benchmark is a script run from the project root (`.venv/bin/python
bench/fanout.py`); Python puts bench/ on sys.path, so `import _common` works,
and importing it puts the project root there too, then sets the environment
the handlers read. Import it before anything from chalicelib or app.py:
settings are read once per process.
"""

from __future__ import annotations

import collections
import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = PROJECT_ROOT / "bench" / "results"
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from tests.support.environment import TEST_ENVIRONMENT

# What the in-process tests run under, and no shared AWS config or credentials.
BENCH_ENVIRONMENT = {
    **TEST_ENVIRONMENT,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
for _name, _value in BENCH_ENVIRONMENT.items():
    os.environ.setdefault(_name, _value)


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


@contextlib.contextmanager
def moto_tables() -> Iterator[Any]:
    """In-process moto with the project's tables (chatapp.tables.ensure_tables)."""
    from moto import mock_aws

    from chalicelib import lazy
    from chatapp.tables import ensure_tables

    lazy.reset()
    with mock_aws():
        lazy.reset()  # the backend's client, made inside the mock
        import boto3

        dynamodb = boto3.client("dynamodb")
        ensure_tables(dynamodb)
        yield dynamodb
    lazy.reset()


class CallCounter:
    """Counts AWS calls by operation through a botocore `before-call` hook."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def __call__(self, model: Any = None, **_: Any) -> None:
        with self._lock:
            self.counts[model.name] += 1

    def attach(self, events: Any) -> None:
        """Register on a session's or client's event emitter (before the first call)."""
        events.register("before-call", self, unique_id=f"bench-counter-{id(self)}")

    def take(self) -> dict[str, int]:
        """The counts since the last take, then start again from zero."""
        with self._lock:
            counts, self.counts = dict(self.counts), collections.Counter()
        return counts


class CallTimer:
    """Time spent inside one client's calls (before-call → after-call), all threads.

    Wall time by default; `clock=time.thread_time` counts the calling threads'
    CPU instead (an in-process moto's work, without the waits a loaded machine adds).
    """

    def __init__(self, clock: Any = time.perf_counter) -> None:
        self.clock = clock
        self.seconds = 0.0
        self._started = threading.local()
        self._lock = threading.Lock()

    def _before(self, **_: Any) -> None:
        self._started.at = self.clock()

    def _after(self, **_: Any) -> None:
        elapsed = self.clock() - self._started.at
        with self._lock:
            self.seconds += elapsed

    def attach(self, events: Any) -> None:
        events.register("before-call", self._before, unique_id=f"bench-timer-b-{id(self)}")
        events.register("after-call", self._after, unique_id=f"bench-timer-a-{id(self)}")

    def take(self) -> float:
        with self._lock:
            seconds, self.seconds = self.seconds, 0.0
        return seconds


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain-text table, right-aligned numbers, to stdout."""
    cells = [[str(h) for h in headers]] + [[_cell(value) for value in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    print(f"\n{title}")
    for n, row in enumerate(cells):
        print("  ".join(text.rjust(width) for text, width in zip(row, widths, strict=True)))
        if n == 0:
            print("  ".join("-" * width for width in widths))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if value < 10 else f"{value:.1f}"
    return str(value)


def save_chart(figure: Any, name: str) -> Path:
    """Write bench/results/<name>.png (git ignores the directory) and say where."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.png"
    figure.savefig(path, dpi=120, bbox_inches="tight")
    print(f"chart: {path.relative_to(PROJECT_ROOT)}")
    return path


def pyplot() -> Any:
    """matplotlib's pyplot on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
