"""The handlers' metrics, read locally from the same EMF lines CloudWatch Logs reads on AWS.

On Lambda, whatever a function prints to standard output goes to CloudWatch
Logs, which turns Embedded Metric Format lines into metrics. Here the handlers
run in this process, so standard output is wrapped (`StdoutTee`): a line that
is an EMF document is recorded by `LocalMetrics` (and echoed only with
`--json-logs`), anything else passes through. There is no second set of
counters: the page shows what the handlers wrote.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections import deque
from typing import Any, TextIO

WINDOW_SECONDS = 300  # how much history the page's chart shows


class LocalMetrics:
    """Per-second sums of every metric seen in the last WINDOW_SECONDS, and totals."""

    def __init__(self, clock: Any = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        # (name, dimensions) -> {second: [sum, count, max]}
        self._series: dict[tuple[str, tuple[tuple[str, str], ...]], dict[int, list[float]]] = {}
        self._totals: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self._seconds: deque[int] = deque()

    def record(self, document: dict[str, Any]) -> None:
        """Record one EMF document (its metrics, with the dimensions it declares)."""
        second = int(self._clock())
        for directive in document.get("_aws", {}).get("CloudWatchMetrics", []):
            names = [dimension for group in directive.get("Dimensions", []) for dimension in group]
            dimensions = tuple(sorted(
                (name, str(document[name])) for name in names
                if name in document and name != "service"
            ))
            for metric in directive.get("Metrics", []):
                values = document.get(metric["Name"])
                values = values if isinstance(values, list) else [values]
                numbers = [float(v) for v in values if isinstance(v, int | float)]
                if numbers:
                    self._add((metric["Name"], dimensions), second, numbers)

    def _add(self, key: tuple[str, tuple[tuple[str, str], ...]], second: int,
             values: list[float]) -> None:
        with self._lock:
            bucket = self._series.setdefault(key, {}).setdefault(second, [0.0, 0, float("-inf")])
            bucket[0] += sum(values)
            bucket[1] += len(values)
            bucket[2] = max(bucket[2], *values)
            self._totals[key] = self._totals.get(key, 0.0) + sum(values)
            self._forget_before(second - WINDOW_SECONDS)

    def _forget_before(self, oldest: int) -> None:
        for series in self._series.values():
            for second in [s for s in series if s < oldest]:
                del series[second]

    def snapshot(self) -> dict[str, Any]:
        """What the page shows: totals, and per-second series of the last WINDOW_SECONDS."""
        now = int(self._clock())
        seconds = list(range(now - WINDOW_SECONDS + 1, now + 1))
        with self._lock:
            series = {key: dict(values) for key, values in self._series.items()}
            totals = dict(self._totals)

        def per_second(name: str, **where: str) -> list[float]:
            out = [0.0] * len(seconds)
            for (metric, dimensions), values in series.items():
                if metric == name and all((k, v) in dimensions for k, v in where.items()):
                    for index, second in enumerate(seconds):
                        if second in values:
                            out[index] += values[second][0]
            return out

        def total(name: str, **where: str) -> float:
            return sum(value for (metric, dimensions), value in totals.items()
                       if metric == name and all((k, v) in dimensions for k, v in where.items()))

        outcomes = sorted({dict(dims).get("outcome", "") for (metric, dims) in totals
                           if metric == "Deliveries"} - {""})
        lag = [max((values[s][2] for (metric, _), values in series.items()
                    if metric == "FanoutLag" and s in values), default=None) for s in seconds]
        recent_lag = [value for value in lag[-60:] if value is not None]
        return {
            "windowSeconds": WINDOW_SECONDS,
            "seconds": seconds,
            "messagesPerSecond": per_second("MessagesStored"),
            "deliveriesPerSecond": {o: per_second("Deliveries", outcome=o) for o in outcomes},
            "fanoutLagMs": lag,
            "totals": {
                "messagesStored": total("MessagesStored"),
                "deliveries": {o: total("Deliveries", outcome=o) for o in outcomes},
                "openConnections": total("ConnectionsOpened") - total("ConnectionsClosed"),
                "coldStarts": total("ColdStart"),
                "catchUpRequests": total("CatchUpRequests"),
                "changesServed": total("ChangesServed"),
                "logins": {o: total("Logins", outcome=o) for o in ("ok", "refused", "throttled")},
            },
            "lastMinute": {
                "messagesPerSecond": sum(per_second("MessagesStored")[-60:]) / 60,
                "fanoutLagMsMax": max(recent_lag) if recent_lag else None,
            },
        }


class StdoutTee(io.TextIOBase):
    """Standard output that hands EMF lines to LocalMetrics and passes the rest on."""

    def __init__(self, target: TextIO, metrics: LocalMetrics, echo_metrics: bool) -> None:
        self._target, self._metrics, self._echo = target, metrics, echo_metrics
        self._partial = threading.local()  # print() writes a line and its newline apart

    def write(self, text: str) -> int:
        pending = getattr(self._partial, "text", "") + text
        *lines, self._partial.text = pending.split("\n")
        for line in lines:
            if line.startswith('{"_aws"'):
                try:
                    self._metrics.record(json.loads(line))
                except (ValueError, TypeError, KeyError):
                    pass  # not EMF after all: shown as it is
                else:
                    if not self._echo:
                        continue
            self._target.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        self._target.flush()

    def fileno(self) -> int:
        return self._target.fileno()

    def isatty(self) -> bool:
        return self._target.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._target.encoding
