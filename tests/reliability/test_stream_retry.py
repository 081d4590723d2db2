"""A stream batch whose delivery fails half-way, then is retried as Lambda retries it.

Two ways Lambda retries: after a partial batch response (ReportBatchItemFailures)
from the first failed record, and after a crash or timeout the whole batch.
Either way every client ends with every message of its room exactly once,
after dropping repeats by id (PROTOCOL.md: delivery is at least once).
"""

from __future__ import annotations

import pytest

from chatapp.streams import failed_from
from tests.support.inprocess import message_ids

ROOMS = {"north": 3, "south": 3}
MESSAGES = 12
# One post per connection per room per batch (6 in all): the Management API fails
# from the 4th post of the first attempt, so one room is delivered and one is not.
OUTAGE_AFTER_POSTS = 3


@pytest.mark.parametrize("retry", ["partial batch response", "whole batch after a crash"])
def test_a_batch_failing_half_way_is_completed_by_the_retry(backend, fast_backoff, tally, retry):
    members = {
        room: [backend.join(f"{room}{n}", room) for n in range(count)]
        for room, count in ROOMS.items()
    }
    rooms = list(ROOMS)
    for n in range(MESSAGES):
        sender = members[rooms[n % len(rooms)]][0]
        assert backend.send(sender, {"action": "sendMessage", "text": f"message {n}"}) == []
    records = backend.new_records()
    assert len(records) == MESSAGES

    outage = {"from": backend.outbox.attempts + OUTAGE_AFTER_POSTS, "on": True, "failed": 0}

    def management_outage(connection: str, n: int) -> int | None:
        if outage["on"] and n >= outage["from"]:
            outage["failed"] += 1
            return 500
        return None

    backend.outbox.fail = management_outage
    first = backend.invoke_stream(records)
    delivered_before_retry = len(backend.outbox.sent)
    first_failed = failed_from(first, records)
    assert first_failed is not None  # the outage did hit this batch
    outage["on"] = False

    if retry == "partial batch response":
        backend.deliver(records[first_failed:])
    else:  # a crash or timeout: Lambda has no response and sends the whole batch again
        backend.deliver(records)

    lost = 0
    for room, connections in members.items():
        expected = {m["id"] for m in backend.stored(room)}
        for connection in connections:
            received = message_ids(backend.outbox.frames(connection))
            assert set(received) == expected  # every message of the room, nothing else
            lost += len(expected - set(received))
    deliveries = sum(ROOMS.values()) * MESSAGES // len(ROOMS)
    tally.add(inputs=MESSAGES, faults=outage["failed"], checked=deliveries, lost=lost)
    assert 0 < delivered_before_retry < len(backend.outbox.sent)
