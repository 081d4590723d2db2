"""GET /rooms: DynamoDB calls, items read and time, for a user in 50 rooms.

The real `api_handler` (through chalice.test.Client, against moto's in-process
DynamoDB) answers GET /rooms for a reader who entered 50 rooms; half of them
have messages the reader has not read. Run once with a small history (the
same-run baseline: 1,000 messages) and once with the large one (20,000): the
calls and the items read must not grow with the history. Seconds do grow,
and are moto's: its Query filters every item of the table in Python.

    .venv/bin/python bench/rooms.py [--rooms 50] [--sizes 1000,20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from typing import Any

from _common import CallCounter, median, moto_tables, print_table

READER = "reader"


class ItemsRead:
    """ScannedCount of every Query (what DynamoDB reads and bills)."""

    def __init__(self) -> None:
        self.total = 0
        self._lock = threading.Lock()

    def __call__(self, parsed: dict[str, Any], **_: Any) -> None:
        with self._lock:
            self.total += parsed.get("ScannedCount", 0)


def seed(dynamodb: Any, rooms: int, messages: int) -> None:
    """`messages` spread over `rooms` rooms, older than the reader's entry in half of them."""
    from chalicelib import ids, settings, store
    from chalicelib.store.messages import message_id

    table = settings.get().messages_table
    start_ms = ids.now_ms() - messages - 60_000
    # The first half is the past the reader never sees: each room stands at that
    # revision when the reader enters it (ids are seqs: message n has n + 1).
    for room in range(rooms):
        dynamodb.put_item(TableName=settings.get().rooms_table, Item={
            "room": {"S": f"room-{room:02d}"}, "rev": {"N": str(messages // 2)}})
        store.enter_room(READER, f"room-{room:02d}", start_ms)
    for first in range(0, messages, 25):
        batch = []
        for n in range(first, min(first + 25, messages)):
            at = start_ms + n
            batch.append({"PutRequest": {"Item": {
                "room": {"S": f"room-{n % (rooms // 2):02d}"},  # only half the rooms are active
                "id": {"S": message_id(n + 1)},
                "seq": {"N": str(n + 1)},
                "rev": {"N": str(n + 1)},
                "sender": {"S": "writer"},
                "text": {"S": f"message {n} " + "x" * 80},
                "sent_at": {"S": ids.iso_utc(at)},
            }}})
        pending: dict[str, Any] = {table: batch}
        while pending:
            pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems")


def measure(rooms: int, messages: int, repeat: int) -> dict[str, Any]:
    from chalice.test import Client

    from chalicelib import auth, store

    with moto_tables() as dynamodb, tempfile.TemporaryDirectory() as project_dir:
        import app as chat_app

        seed(dynamodb, rooms, messages)
        counter, items = CallCounter(), ItemsRead()
        counter.attach(store.client().meta.events)
        store.client().meta.events.register("after-call.dynamodb.Query", items)
        token = auth.issue_token(READER, int(time.time()), version=0).token
        seconds, answer = [], None
        with Client(chat_app.app, project_dir=project_dir) as client:
            for _ in range(repeat):
                counter.counts.clear()
                items.total = 0
                started = time.perf_counter()
                response = client.http.get("/rooms", headers={"Authorization": f"Bearer {token}"})
                seconds.append(time.perf_counter() - started)
                assert response.status_code == 200, response.body
                answer = json.loads(response.body)["rooms"]
    assert answer is not None and len(answer) == rooms
    return {
        "messages": messages,
        "calls": dict(counter.counts),
        "items": items.total,
        "unread": sum(room["unread"] for room in answer),
        "seconds": median(seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rooms", type=int, default=50)
    parser.add_argument("--sizes", default="1000,20000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = [measure(args.rooms, int(size), args.repeat) for size in args.sizes.split(",")]
    print_table(
        f"GET /rooms for a user in {args.rooms} rooms (first row: same-run baseline)",
        ["messages", "DynamoDB calls", "items read", "unread shown", "seconds (moto, median)"],
        [[r["messages"], ", ".join(f"{k} {v}" for k, v in sorted(r["calls"].items())),
          r["items"], r["unread"], f"{r['seconds']:.2f}"] for r in rows],
    )
    calls, read = 1 + 2 * args.rooms, args.rooms * (1 + 100 + 1)
    met = all(sum(r["calls"].values()) <= calls and r["items"] <= read for r in rows)
    print(f"target: at most {calls} calls (1 + 2 per room) and {read} items read (membership, "
          f"100 unread and the newest per room) whatever the history: {'met' if met else 'MISSED'}")
    print("seconds are moto's: its Query reads the whole table in Python; DynamoDB reads "
          "only the items counted above.")
    raise SystemExit(0 if met else 1)


if __name__ == "__main__":
    main()
