"""Where each message's time goes in the local runtime: per-message stage instants.

Off unless asked for (`POST /_local/stages` starts a trace, `GET /_local/stages`
hands it over and stops it; bench/load.py does both): while on, the gateway,
the instances, the stream pollers and the Management API mark the instant
(time.perf_counter: CLOCK_MONOTONIC, one clock for every process of the
machine, the benchmark's clients included) a message, known by its clientId,
reaches each stage:

    received      the gateway read the sendMessage frame
    handlerStart  its $default invocation started in an instance
    committed     that invocation returned (the transaction is its last call)
    read          the stream poller's GetRecords returned its record
    batchQueued   the poller asked for an instance for the batch holding it
    batchStart    the fan-out (on_new_messages) started in an instance
    firstPost     the first PostToConnection carrying it reached the gateway
    lastPost      the last one did
    batchEnd      the fan-out returned
    lastWrite     the gateway wrote the last copy to a client's socket

Nothing here is AWS's: it exists only to measure the stand-ins.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

STAGES = (
    "received", "handlerStart", "committed", "read", "batchQueued", "batchStart",
    "firstPost", "lastPost", "batchEnd", "lastWrite",
)
LATEST = frozenset({"lastPost", "lastWrite"})  # the last mark counts; others keep the first
MAX_MESSAGES = 200_000  # a trace left on forgets nothing, but stays bounded


class StageTrace:
    """clientId → stage → instant; thread-safe, and a no-op while off."""

    def __init__(self) -> None:
        self.enabled = False
        self._lock = threading.Lock()
        self._times: dict[str, dict[str, float]] = {}

    def start(self) -> None:
        with self._lock:
            self._times, self.enabled = {}, True

    def take(self) -> dict[str, Any]:
        """The trace so far ({"messages": {clientId: {stage: instant}}}); stops tracing."""
        with self._lock:
            times, self._times, self.enabled = self._times, {}, False
        return {"messages": times}

    def mark(self, key: str | None, stage: str, at: float | None = None) -> None:
        if not self.enabled or not key:
            return
        at = time.perf_counter() if at is None else at
        with self._lock:
            stages = self._times.get(key)
            if stages is None:
                if len(self._times) >= MAX_MESSAGES:
                    return
                stages = self._times[key] = {}
            if stage in LATEST or stage not in stages:
                stages[stage] = at

    # -- what each stand-in sees --------------------------------------------------------

    def frame(self, body: str | bytes) -> None:
        """The gateway read a frame: a sendMessage's clientId is marked received."""
        if self.enabled:
            self.mark(_frame_client_id(body), "received")

    def invocation(self, event: Any, started: float, ended: float, queued: float) -> None:
        """An invocation ran in an instance from `started` to `ended` (asked for at `queued`)."""
        if not self.enabled or not isinstance(event, dict):
            return
        if "Records" in event:
            for key in record_client_ids(event["Records"]):
                self.mark(key, "batchQueued", queued)
                self.mark(key, "batchStart", started)
                self.mark(key, "batchEnd", ended)
        elif "body" in event:
            sent = _frame_client_id(event.get("body") or "")
            self.mark(sent, "handlerStart", started)
            self.mark(sent, "committed", ended)

    def records_read(self, records: list[dict[str, Any]]) -> None:
        if self.enabled:
            at = time.perf_counter()
            for key in record_client_ids(records):
                self.mark(key, "read", at)

    def posted(self, data: bytes) -> None:
        """A PostToConnection's data reached the gateway."""
        if self.enabled:
            for key in _posted_client_ids(data):
                self.mark(key, "firstPost")
                self.mark(key, "lastPost")

    def written(self, data: bytes) -> None:
        """The gateway wrote a post's data to a client's socket."""
        if self.enabled:
            at = time.perf_counter()
            for key in _posted_client_ids(data):
                self.mark(key, "lastWrite", at)


def record_client_ids(records: list[dict[str, Any]]) -> list[str]:
    """The clientIds of stream records' new images (Lambda's or GetRecords' shape)."""
    keys = []
    for record in records:
        image = record.get("dynamodb", {}).get("NewImage") or {}
        value = image.get("client_id", {}).get("S")
        if value:
            keys.append(value)
    return keys


def _frame_client_id(body: str | bytes) -> str | None:
    try:
        frame = json.loads(body)
    except ValueError:
        return None
    if isinstance(frame, dict) and frame.get("action") == "sendMessage":
        client_id = frame.get("clientId")
        return client_id if isinstance(client_id, str) else None
    return None


def _posted_client_ids(data: bytes) -> list[str]:
    try:
        frame = json.loads(data)
    except ValueError:
        return []
    if not isinstance(frame, dict):
        return []
    frames = frame.get("frames", []) if frame.get("type") == "batch" else [frame]
    keys = []
    for each in frames:
        if isinstance(each, dict) and each.get("type") == "message":
            client_id = each.get("message", {}).get("clientId")
            if isinstance(client_id, str):
                keys.append(client_id)
    return keys
