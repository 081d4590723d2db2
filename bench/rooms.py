"""GET /rooms: DynamoDB calls and Queries per call, for 50, 1,000 and 20,000 memberships.

The real `api_handler` (through chalice.test.Client, against moto's in-process
DynamoDB) answers GET /rooms for a reader whose memberships number 50 (the
same-run baseline), 1,000 and 20,000 (about an hour of joinRoom at the allowed
rate); 25 rooms have messages, half of them unread. What must not grow with
the memberships, nor with the rooms shown: DynamoDB calls and items read (one
Query on the sparse recent-index finds the 100 most recently entered rooms;
one BatchGetItem reads those memberships' read markers with their counts,
another those rooms' items, which carry the message count and newest message
time). Seconds are moto's:
its Query filters every item of the table in Python.

    .venv/bin/python bench/rooms.py [--memberships 50,1000,20000] [--repeat 3]
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
    """ScannedCount of every Query and the items of every BatchGetItem (what DynamoDB reads)."""

    def __init__(self) -> None:
        self.total = 0
        self._lock = threading.Lock()

    def __call__(self, parsed: dict[str, Any], **_: Any) -> None:
        with self._lock:
            self.total += parsed.get("ScannedCount", 0)
            self.total += sum(len(items) for items in parsed.get("Responses", {}).values())


ACTIVE_ROOMS = 50
MESSAGES = 1000


def seed(dynamodb: Any, memberships: int) -> None:
    """The reader's memberships (the newest 50 are the active rooms) and 1,000 messages.

    Written as the message path and GET /rooms' writers leave them: each message
    with its ordinal, each room item with its revision, message count and newest
    message time, each membership with the count at its marker.
    """
    from chalicelib import clock, ids, settings
    from chalicelib.store.memberships import initial_read_marker
    from chalicelib.store.messages import message_id

    config = settings.get()
    start_ms = clock.now_ms() - MESSAGES - 60_000
    entered_ms = start_ms + MESSAGES // 2
    # The first half is the past the reader never sees: each room stood at that
    # revision when the reader entered it (ids are seqs: message n has n + 1).
    entered_rev = MESSAGES // 2
    # Room of message n: n % 25; its seq n + 1; its ordinal in the room n // 25 + 1.
    def room_of(n: int) -> str:
        return f"room-{n % (ACTIVE_ROOMS // 2):02d}"

    read_counts: dict[str, int] = {}
    for n in range(entered_rev):
        read_counts[room_of(n)] = n // (ACTIVE_ROOMS // 2) + 1
    items = []
    for n in range(memberships):
        active = n >= memberships - ACTIVE_ROOMS
        room = f"room-{n - (memberships - ACTIVE_ROOMS):02d}" if active else f"old-{n:05d}"
        touched = entered_ms if active else entered_ms - 86_400_000 + n  # entered long ago
        items.append({
            "username_key": {"S": READER}, "room": {"S": room}, "username": {"S": READER},
            "read_marker": {"S": initial_read_marker(entered_rev)}, "kind": {"S": "public"},
            "read_count": {"N": str(read_counts.get(room, 0))},
            "counted_marker": {"S": initial_read_marker(entered_rev)},
            "role": {"S": "member"}, "touched_at": {"N": str(touched)},
            "entered_at": {"N": str(touched)}, "since": {"N": str(touched)},
        })
    _write(dynamodb, config.memberships_table, items)
    messages, rooms = [], {}
    for n in range(MESSAGES):
        at = start_ms + n
        ordinal = n // (ACTIVE_ROOMS // 2) + 1
        rooms[room_of(n)] = {  # the room item after its newest message
            "room": {"S": room_of(n)}, "rev": {"N": str(n + 1)}, "kind": {"S": "public"},
            "messages": {"N": str(ordinal)}, "last_message_at": {"S": ids.iso_utc(at)},
        }
        messages.append({
            "room": {"S": room_of(n)},  # half the rooms are active
            "id": {"S": message_id(n + 1)},
            "seq": {"N": str(n + 1)},
            "rev": {"N": str(n + 1)},
            "ordinal": {"N": str(ordinal)},
            "sender": {"S": "writer"},
            "text": {"S": f"message {n} " + "x" * 80},
            "sent_at": {"S": ids.iso_utc(at)},
        })
    _write(dynamodb, config.messages_table, messages)
    _write(dynamodb, config.rooms_table, list(rooms.values()))


def _write(dynamodb: Any, table: str, items: list[dict[str, Any]]) -> None:
    for first in range(0, len(items), 25):
        pending: dict[str, Any] = {
            table: [{"PutRequest": {"Item": item}} for item in items[first:first + 25]]
        }
        while pending:
            pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems")


def measure(memberships: int, repeat: int) -> dict[str, Any]:
    from chalice.test import Client

    from chalicelib import auth, store

    with moto_tables() as dynamodb, tempfile.TemporaryDirectory() as project_dir:
        import app as chat_app

        seed(dynamodb, memberships)
        counter, items = CallCounter(), ItemsRead()
        counter.attach(store.client().meta.events)
        store.client().meta.events.register("after-call.dynamodb.Query", items)
        store.client().meta.events.register("after-call.dynamodb.BatchGetItem", items)
        token = auth.start_session(READER, int(time.time())).token
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
    assert answer is not None and len(answer) == min(memberships, 100)
    return {
        "memberships": memberships,
        "calls": dict(counter.counts),
        "items": items.total,
        "unread": sum(room["unread"] for room in answer),
        "seconds": median(seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--memberships", default="50,1000,20000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = [measure(int(size), args.repeat) for size in args.memberships.split(",")]
    print_table(
        "GET /rooms by a user's memberships (first row: same-run baseline)",
        ["memberships", "Queries per call", "DynamoDB calls", "items read", "unread shown",
         "seconds (moto, median)"],
        [[r["memberships"], r["calls"].get("Query", 0),
          ", ".join(f"{k} {v}" for k, v in sorted(r["calls"].items())),
          r["items"], r["unread"], f"{r['seconds']:.2f}"] for r in rows],
    )
    shown = 100
    read = 3 * shown  # the memberships (twice) and their rooms' items
    reads = [{k: v for k, v in r["calls"].items() if k != "GetItem"} for r in rows]
    met = all(
        calls == {"Query": 1, "BatchGetItem": 2} and r["items"] <= read
        for calls, r in zip(reads, rows, strict=True)
    )
    print(f"target: one Query and two BatchGetItems per call ({read} items at most), "
          f"whatever the memberships (GetItems: the token's session): "
          f"{'met' if met else 'MISSED'}")
    same = len({json.dumps(calls, sort_keys=True) for calls in reads}) <= 1
    print(f"DynamoDB calls per call the same for every size: {'yes' if same else 'NO'}")
    print("seconds are moto's: its Query reads the whole table in Python; DynamoDB reads "
          "only the items counted above.")
    raise SystemExit(0 if met and same else 1)


if __name__ == "__main__":
    main()
