"""Fault injection for tests of failure paths, switched on by CHATAPP_FAULTS.

Only the local runtime reads this; the handlers in chalicelib never know.
CHATAPP_FAULTS is a comma-separated list of:

- `lost-disconnect`: a connection that drops without a close frame gets no
  $disconnect event (API Gateway documents $disconnect as best effort), so the
  connection item stays behind until a fan-out meets its GoneException.
- `dynamodb=MARKER`: the embedded DynamoDB answers any write whose request body
  contains MARKER with ResourceNotFoundException (400, what DynamoDB answers when
  a table is missing). A non-retryable error, so the handler fails at once rather
  than after botocore's ten DynamoDB retries.
- `invocation-fails=N`: the first N attempts of asynchronous Lambda invocations
  fail before the function runs (as a crash or a timeout would), so Lambda's
  retries and its on-failure destination are exercised (chatapp.invoke).
- `slow-write=MS` or `slow-write=MS@MARKER`: the embedded DynamoDB holds every
  write (or every write whose request body contains MARKER) for MS milliseconds
  before applying it, as a slow network, a throttled retry or a paused
  container would; other requests pass meanwhile. With a marker in one user's
  text, that user's write is slow and everyone else's is not: the interleavings
  of PROTOCOL.md v3's "Order and catch-up" become reproducible.
- `slow-query=MS@MARKER`: the embedded DynamoDB answers every Query whose request
  body contains MARKER MS milliseconds late, with the items as they were when
  it arrived (read first, answered later), as a function paused between a read
  and acting on it would see them: a room's fan-out that read who is in the
  room, then posts after a removal (MARKER: the room's name).
- `slow-connect=MS`: a connection whose $connect handler accepted it waits MS
  milliseconds before the upgrade completes (API Gateway's own latency, made
  long), so what happens to a connection still inside its $connect is testable
  (a logout meanwhile: its DeleteConnection answers 410 until the upgrade).
- `delete-throttled=N`: the Management API answers the first N DeleteConnection
  calls 429 LimitExceededException (the account's rate, as API Gateway answers
  it), so a close that outlasts its caller's retries is handed to a later one
  (chalicelib/revocation.py).
- `drop-after=N`: the gateway drops every connection (no close frame: the
  client sees 1006, the backend a $disconnect) once it has written N frames to
  it, as a flaky network would; the client must reconnect and catch up.
- `clock-skew=MS`: Lambda instance i (0, 1, 2, ...; chatapp.instances) runs
  its clock (chalicelib/clock.py, the one every handler reads) i * MS
  milliseconds ahead of the machine's, as the clocks of Lambda's containers
  drift apart; instance 0 keeps the machine's time. Order must not depend on
  clocks: with skew, a later write may carry an earlier time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

ENV = "CHATAPP_FAULTS"


@dataclass(frozen=True)
class Faults:
    lost_disconnect: bool = False
    dynamodb_marker: str = ""
    invocation_fails: int = 0
    slow_write_ms: int = 0
    slow_write_marker: str = ""  # empty: every write is slow
    slow_connect_ms: int = 0
    drop_after_frames: int = 0
    delete_throttled: int = 0
    slow_query_ms: int = 0
    slow_query_marker: str = ""
    clock_skew_ms: int = 0  # Lambda instance i's clock runs i * this ahead


def from_environment(environ: Mapping[str, str] | None = None) -> Faults:
    """Parse CHATAPP_FAULTS; an unknown fault name is an error, not a silent no-op."""
    raw = (environ if environ is not None else os.environ).get(ENV, "")
    lost_disconnect, marker, invocation_fails, slow_connect_ms = False, "", 0, 0
    slow_ms, slow_marker, drop_after, delete_throttled = 0, "", 0, 0
    query_ms, query_marker, skew_ms = 0, "", 0
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, _, value = item.partition("=")
        if name == "lost-disconnect" and not value:
            lost_disconnect = True
        elif name == "dynamodb" and value:
            marker = value
        elif name == "invocation-fails" and value.isdigit():
            invocation_fails = int(value)
        elif name == "drop-after" and value.isdigit() and int(value) > 0:
            drop_after = int(value)
        elif name == "slow-write" and value.partition("@")[0].isdigit():
            delay, _, slow_marker = value.partition("@")
            slow_ms = int(delay)
        elif name == "slow-query" and value.partition("@")[0].isdigit() and "@" in value:
            delay, _, query_marker = value.partition("@")
            query_ms = int(delay)
        elif name == "slow-connect" and value.isdigit():
            slow_connect_ms = int(value)
        elif name == "delete-throttled" and value.isdigit():
            delete_throttled = int(value)
        elif name == "clock-skew" and value.isdigit():
            skew_ms = int(value)
        else:
            raise ValueError(
                f"{ENV}: unknown fault {item!r} "
                "(known: lost-disconnect, dynamodb=MARKER, invocation-fails=N, "
                "slow-write=MS[@MARKER], slow-query=MS@MARKER, slow-connect=MS, drop-after=N, "
                "delete-throttled=N, clock-skew=MS)"
            )
    return Faults(
        lost_disconnect=lost_disconnect, dynamodb_marker=marker, invocation_fails=invocation_fails,
        slow_write_ms=slow_ms, slow_write_marker=slow_marker, slow_connect_ms=slow_connect_ms,
        drop_after_frames=drop_after, delete_throttled=delete_throttled,
        slow_query_ms=query_ms, slow_query_marker=query_marker, clock_skew_ms=skew_ms,
    )
