"""History: items DynamoDB reads for one getMessages page, with 100 and with 20,000 messages.

The real `message` Lambda (through chalice.test.Client, against moto's
in-process DynamoDB) answers getMessages: newest page, a page `before` the
middle, a page `after` the start. The Query's ScannedCount (what DynamoDB reads
and bills) is read from its response by a botocore after-call hook. It must be
the page + 1 (the one extra item says whether more exist), whatever the
history: cost follows the page, not the room's age.

    .venv/bin/python bench/history.py [--sizes 100,20000] [--limits 10,50,100]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from typing import Any

import _common
from _common import moto_tables, print_table


class Replies:
    """The connections behind the local Management API: keeps every post's body."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def post(self, connection_id: str, data: bytes) -> None:
        self.bodies.append(data)

    def delete(self, connection_id: str) -> None:
        pass

    def info(self, connection_id: str) -> dict[str, Any]:
        raise LookupError(connection_id)


class QueryMeter:
    """ScannedCount and Count of every Query the backend's DynamoDB client makes."""

    def __init__(self) -> None:
        self.reads: list[tuple[int, int]] = []
        self._lock = threading.Lock()

    def __call__(self, parsed: dict[str, Any], **_: Any) -> None:
        with self._lock:
            self.reads.append((parsed["ScannedCount"], parsed["Count"]))

    def attach(self, events: Any) -> None:
        events.register("after-call.dynamodb.Query", self, unique_id="bench-query-meter")

    def take(self) -> list[tuple[int, int]]:
        with self._lock:
            reads, self.reads = self.reads, []
        return reads


def seed_room(dynamodb: Any, room: str, count: int) -> list[str]:
    """`count` messages, one per millisecond in the past, via BatchWriteItem; returns the ids."""
    from chalicelib import clock, ids, settings
    from chalicelib.store.messages import message_id

    table = settings.get().messages_table
    start_ms = clock.now_ms() - count - 60_000
    made = [message_id(n + 1) for n in range(count)]  # ids are seqs (chalicelib/order.py)
    for first in range(0, count, 25):
        requests = [
            {
                "PutRequest": {
                    "Item": {
                        "room": {"S": room},
                        "id": {"S": message_id},
                        "seq": {"N": str(first + n + 1)},
                        "rev": {"N": str(first + n + 1)},
                        "sender": {"S": "seeder"},
                        "text": {"S": f"message {first + n}"},
                        "sent_at": {"S": ids.iso_utc(start_ms + first + n)},
                    }
                }
            }
            for n, message_id in enumerate(made[first : first + 25])
        ]
        pending: dict[str, Any] = {table: requests}
        while pending:
            pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems")
    return made


def run(sizes: list[int], limits: list[int]) -> list[dict[str, Any]]:
    from chalice.test import Client

    from chalicelib import store
    from tests.support import events

    rows: list[dict[str, Any]] = []
    from chalicelib.connections_api import ENDPOINT_ENV
    from tests.support.management_server import serve_management_api

    outbox = Replies()
    with moto_tables() as dynamodb, tempfile.TemporaryDirectory() as project_dir, \
            serve_management_api(outbox) as endpoint:
        import app as chat_app  # after moto (moto_tables): its session must be mocked

        os.environ[ENDPOINT_ENV] = endpoint
        meter = QueryMeter()
        meter.attach(store.client().meta.events)
        with Client(chat_app.app, project_dir=project_dir) as client:
            for size in sizes:
                room = f"history{size}"
                started = time.perf_counter()
                made = seed_room(dynamodb, room, size)
                print(f"seeded {size} messages in {time.perf_counter() - started:.1f} s")
                connection = f"reader-{size}="
                now = int(time.time())
                store.connections().put(connection, "reader", room, now, now + 3600)
                cursors = [("newest", {}), ("before middle", {"before": made[size // 2]}),
                           ("after start", {"after": made[0]})]
                for limit in limits:
                    for label, cursor in cursors:
                        frame = {"action": "getMessages", "limit": limit, **cursor}
                        event = events.ws_event("$default", connection, body=json.dumps(frame))
                        meter.take()
                        outbox.bodies.clear()
                        started = time.perf_counter()
                        client.lambda_.invoke("message", event)
                        elapsed = time.perf_counter() - started
                        (reply,) = [json.loads(body) for body in outbox.bodies]
                        assert reply["type"] == "messages", reply
                        ((scanned, count),) = meter.take()
                        rows.append({"history": size, "limit": limit, "page": label,
                                     "returned": len(reply["messages"]),
                                     "hasMore": reply["hasMore"], "scanned": scanned,
                                     "count": count, "seconds": elapsed})
    return rows


def report(rows: list[dict[str, Any]]) -> bool:
    table = []
    for row in rows:
        expected = row["limit"] + 1
        ok = row["scanned"] <= expected
        table.append([row["history"], row["limit"], row["page"], row["returned"],
                      row["hasMore"], row["scanned"], f"<= {expected}",
                      "ok" if ok else "MISSED", row["seconds"]])
    print_table(
        "getMessages: items read per page (Query ScannedCount) against the target page + 1",
        ["history", "limit", "page", "returned", "hasMore", "ScannedCount", "target", "",
         "seconds (moto)"],
        table,
    )
    print("seconds are moto's: it filters the whole partition in Python, DynamoDB does not.")
    met = all(row["scanned"] <= row["limit"] + 1 for row in rows)
    print(f"target: items read = page + 1 whatever the history: {'met' if met else 'MISSED'}")
    return met


def chart(rows: list[dict[str, Any]], sizes: list[int], limits: list[int]) -> None:
    plt = _common.pyplot()
    figure, axes = plt.subplots(figsize=(7, 4.5))
    width = 0.8 / len(sizes)
    for n, size in enumerate(sizes):
        read = [max(r["scanned"] for r in rows if r["history"] == size and r["limit"] == limit)
                for limit in limits]
        positions = [i + n * width for i in range(len(limits))]
        axes.bar(positions, read, width, label=f"{size:,} messages in the room")
    axes.plot([i + width * (len(sizes) - 1) / 2 for i in range(len(limits))],
              [limit + 1 for limit in limits], "r_", markersize=30, label="page + 1")
    axes.set_xticks([i + width * (len(sizes) - 1) / 2 for i in range(len(limits))],
                    [f"limit {limit}" for limit in limits])
    axes.set(ylabel="items read (ScannedCount, worst page)",
             title="getMessages: cost follows the page, not the history")
    axes.legend()
    _common.save_chart(figure, "history")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,20000")
    parser.add_argument("--limits", default="10,50,100")
    args = parser.parse_args()
    sizes = sorted(int(n) for n in args.sizes.split(","))
    limits = sorted(int(n) for n in args.limits.split(","))
    rows = run(sizes, limits)
    met = report(rows)
    chart(rows, sizes, limits)
    raise SystemExit(0 if met else 1)


if __name__ == "__main__":
    main()
