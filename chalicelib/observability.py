"""What an operator sees of the handlers: metrics and structured logs (Powertools for AWS Lambda).

Metrics are CloudWatch Embedded Metric Format (EMF) lines on standard output,
written by Powertools' `single_metric`: CloudWatch Logs turns them into
metrics, so nothing is called at run time to publish them, and `chatapp serve`
reads the very same lines for its local metrics page. One namespace per stage
(METRICS_NAMESPACE). Dimensions stay few and bounded (`function`, `outcome`,
`kind`): never a room, a user or a connection, each of which would be a metric
of its own.

Traces (X-Ray) are chalicelib.tracing's, off unless the stage turns them on;
a share of invocations can log at debug level (`debug_sampled`).

Counts are summed in the process and written once at the end of each
invocation (`invocation`), so a fan-out of 10,000 posts writes a handful of
lines, not 10,000. Log lines are JSON (Powertools' formatter) with the
function, request id, connection and room; nothing here is ever handed a
token, a password or a message's text.
"""

from __future__ import annotations

import logging
import os
import random
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from chalicelib import lazy, settings, tracing

log = logging.getLogger(__name__)

NAMESPACE_ENV, DEFAULT_NAMESPACE = "METRICS_NAMESPACE", "chalice-chat/local"
LOG_FORMAT_ENV = "LOG_FORMAT"  # "json" (Lambda, `chatapp serve --json-logs`) or "text"
COUNT, MILLISECONDS = "Count", "Milliseconds"

_lock = threading.Lock()
# (name, unit, dimensions) -> values; counts are summed, the rest kept as observed.
_pending: dict[tuple[str, str, tuple[tuple[str, str], ...]], list[float]] = {}


def count(name: str, value: float = 1, **dimensions: str) -> None:
    """Add to a count, written at the end of the invocation (one line per name and dimensions)."""
    _add(name, COUNT, value, dimensions)


def observe(name: str, value: float, unit: str = MILLISECONDS, **dimensions: str) -> None:
    """Record one observation (a lag, a ratio): written at the end of the invocation."""
    _add(name, unit, value, dimensions)


def _add(name: str, unit: str, value: float, dimensions: dict[str, str]) -> None:
    key = (name, unit, tuple(sorted(dimensions.items())))
    with _lock:
        values = _pending.setdefault(key, [])
        if unit == COUNT and values:
            values[0] += value
        else:
            values.append(value)


def flush() -> None:
    """Write every pending metric as EMF lines (Powertools) and forget them."""
    with _lock:
        pending = dict(_pending)
        _pending.clear()
    if not pending:
        return
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    namespace = os.environ.get(NAMESPACE_ENV, DEFAULT_NAMESPACE)
    for (name, unit, dimensions), values in pending.items():
        # EMF holds up to 100 values of one metric in one line.
        for start in range(0, len(values), 100):
            chunk = values[start:start + 100]
            with single_metric(
                name=name, unit=MetricUnit(unit), value=chunk[0], namespace=namespace,
                default_dimensions=dict(dimensions),
            ) as metric:
                for value in chunk[1:]:
                    metric.add_metric(name=name, unit=MetricUnit(unit), value=value)


def around(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Chalice middleware for every handler: its log lines carry the function, the request
    and the connection; its metrics are written when it returns; the first call of a
    function in a process counts a cold start (dimension `function`: the deployed name,
    as AWS/Lambda's own metrics have it)."""
    context = getattr(event, "context", None) or getattr(event, "lambda_context", None)
    function = getattr(context, "function_name", None) or "unknown"
    warm = _warm_functions()
    with _lock:
        cold = function not in warm
        warm.add(function)
    if cold:
        count("ColdStart", function=function)
    keys = {
        "function": function,
        "request_id": getattr(context, "aws_request_id", None),
        "connection_id": getattr(event, "connection_id", None),
    }
    with log_context(**keys), debug_sampled(), tracing.subsegment(
        f"## {function}", ColdStart=cold, function=function
    ):
        try:
            return get_response(event)
        finally:
            flush()


@contextmanager
def debug_sampled() -> Iterator[None]:
    """A share of invocations (POWERTOOLS_LOGGER_SAMPLE_RATE, 0 to 1) logs at debug level.

    Powertools' Logger samples the same way: the package's level is DEBUG for a
    sampled invocation, whatever LOG_LEVEL says, and back after it. Lambda runs
    one invocation at a time per container; the local runtime runs handlers side
    by side, so there another invocation's debug lines may come along.
    """
    rate = settings.get().log_sample_rate
    if rate <= 0 or random.random() >= rate:
        yield
        return
    _json_formatter()  # the package's handler and level are set up first
    package = logging.getLogger("chalicelib")
    level = package.level
    package.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        package.setLevel(level)


@lazy.cached()
def _warm_functions() -> set[str]:
    """The functions that have run in this process (a container): no cold start since."""
    return set()


@contextmanager
def log_context(**keys: str | None) -> Iterator[None]:
    """Keys on every JSON log line this thread writes until the block ends (request, room)."""
    present = {name: value for name, value in keys.items() if value}
    formatter = _json_formatter()
    if formatter is None or not present:
        yield
        return
    formatter.thread_safe_append_keys(**present)
    try:
        yield
    finally:
        formatter.thread_safe_remove_keys(list(present))


@lazy.cached()
def _json_formatter() -> Any:
    """Powertools' JSON formatter on chalicelib's log lines, or None (LOG_FORMAT=text)."""
    if os.environ.get(LOG_FORMAT_ENV, "json") != "json":
        return None
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    formatter = LambdaPowertoolsFormatter(service="chat")
    handler = _StandardOutput()
    handler.setFormatter(formatter)
    package = logging.getLogger("chalicelib")
    package.handlers = [handler]
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    package.setLevel(level if level in logging.getLevelNamesMapping() else logging.INFO)
    package.propagate = False  # once, as JSON; not again through the root logger
    return formatter


class _StandardOutput(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to sys.stdout as it is at each line (Lambda's runtime, chatapp's, a test's)."""

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        pass
