"""The cost of the room revision (PROTOCOL.md v3, Order and catch-up).

Part 1, sends: 1, 5 and 20 concurrent senders (threads), each a member of one
room, send messages into it the way the message handler does (with a clientId,
as the site always sends): the frame's read of its connection, the room and the
sender's membership (store.frame_reads, one BatchGetItem), the access check,
then chalicelib.order.send at the revision that read saw, moving the sender's
read marker in the same transaction. Against moto's in-process DynamoDB with
DynamoDB's transaction semantics (chatapp.motointernals). Printed per message:
DynamoDB calls by operation, transaction attempts (conflicts = attempts - 1),
write and read request units. The same-run baseline is version 2's write of the
same message: one TransactWriteItems of the message and its clientId marker,
no revision (v2's frame read is not counted, so the difference is an upper
bound of what version 3 adds).

Part 2, catch-up reads: a room of 1,000 changes (one in ten an edit of an
older message); a reader that missed the last 10, 100 or 1,000 asks getChanges
page after page (limit 100). Printed: the messages changed meanwhile, what the
read brought, how many it still has wrong, calls, items read and read units.
Baseline: version 2's catch-up, getMessages after the last id the reader held
(it never brings edits or deletes of older messages), same room, same run.

Units follow DynamoDB's on-demand billing: a write is 1 unit per KB of item, a
transactional one 2; a cancelled transaction is counted as billed in full (an
upper bound); a strongly consistent read is 1 unit per 4 KB (a Query sums its
items' sizes first). Every item here is under 1 KB. Prices: us-east-1
on-demand, $1.25 per million write units and $0.25 per million read units
(the README's cost table).

    .venv/bin/python bench/order.py [--messages 200]
"""

from __future__ import annotations

import argparse
import math
import threading
import time
from typing import Any

from _common import CallCounter, moto_tables, print_table

WRITE_PRICE, READ_PRICE = 1.25, 0.25  # US$ per million request units


def _value_bytes(value: dict[str, Any]) -> int:
    (kind, data), = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "N":
        return len(data.lstrip("-").replace(".", "")) // 2 + 1
    if kind == "BOOL":
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in data)
    return len(str(data))


def item_bytes(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it: names plus values."""
    return sum(len(name.encode()) + _value_bytes(value) for name, value in item.items())


class Units:
    """Request units of every call, from its parameters and answer (botocore events)."""

    def __init__(self) -> None:
        self.write = 0.0
        self.read = 0.0
        self.items_read = 0
        self._lock = threading.Lock()

    def attach(self, events: Any) -> None:
        events.register("before-parameter-build.dynamodb.TransactWriteItems", self._transaction)
        events.register("after-call.dynamodb.Query", self._query)
        events.register("after-call.dynamodb.GetItem", self._get)
        events.register("before-parameter-build.dynamodb.BatchGetItem", self._batch_get)

    def _transaction(self, params: dict[str, Any], **_: Any) -> None:
        units = 0
        for entry in params["TransactItems"]:
            (kind, op), = entry.items()
            size = item_bytes(op["Item"]) if kind == "Put" else 0  # updates here: < 1 KB
            units += 2 * max(1, math.ceil(size / 1024))
        with self._lock:
            self.write += units

    def _query(self, parsed: dict[str, Any], **_: Any) -> None:
        size = sum(item_bytes(item) for item in parsed.get("Items", []))
        with self._lock:
            self.read += max(1, math.ceil(size / 4096))
            self.items_read += parsed.get("ScannedCount", 0)

    def _get(self, parsed: dict[str, Any], **_: Any) -> None:
        size = item_bytes(parsed.get("Item", {}))
        with self._lock:
            self.read += max(1, math.ceil(size / 4096))

    def _batch_get(self, params: dict[str, Any], **_: Any) -> None:
        # Every key asked for, found or not, costs a strongly consistent read's
        # minimum (1 unit); the items here are far under 4 KB.
        keys = sum(len(request["Keys"]) for request in params["RequestItems"].values())
        with self._lock:
            self.read += keys

    def take(self) -> tuple[float, float, int]:
        with self._lock:
            taken = (self.write, self.read, self.items_read)
            self.write, self.read, self.items_read = 0.0, 0.0, 0
        return taken


def v2_write(client: Any, room: str, sender: str, text: str, client_id: str, n: int) -> None:
    """Version 2's stored message: an id from the clock, the message and its marker."""
    from chalicelib import clock, ids, settings

    config = settings.get()
    message_id = f"{clock.now_ms():013d}-{n:010x}"
    client.transact_write_items(TransactItems=[
        {"Put": {"TableName": config.guards_table, "Item": {
            "guard_key": {"S": f"client#{room}#{sender}#{client_id}"},
            "message_id": {"S": message_id}, "ttl": {"N": "1"}},
            "ConditionExpression": "attribute_not_exists(guard_key)"}},
        {"Put": {"TableName": config.messages_table, "Item": {
            "room": {"S": room}, "id": {"S": message_id}, "sender": {"S": sender},
            "text": {"S": text}, "sent_at": {"S": ids.iso_utc(0)}, "client_id": {"S": client_id}},
            "ConditionExpression": "attribute_not_exists(id)"}},
    ])


def handler_send(room: str, sender: str, text: str, client_id: str,
                 tallies: list[Any]) -> None:
    """What websocket.py does for a sendMessage frame, from its read to its commit."""
    from chalicelib import access, ids, order, store
    from chalicelib.store.messages import Draft

    read = store.frame_reads().read(f"connection-{sender}", sender, room)
    standing = access.check_action(
        sender, room, "sendMessage", access.standing_from(sender, room, read)
    )
    draft = Draft(room, sender, text, ids.iso_utc(0), client_id)
    order.send(draft, 0, tallies, expected=standing.state,
               mark_read=standing.read_marker is not None)


def writes(messages: int) -> list[list[Any]]:
    from chalicelib import access, ids, order, store

    rows = []
    counter, units = CallCounter(), Units()
    counter.attach(store.client().meta.events)
    units.attach(store.client().meta.events)
    for senders in (1, 5, 20):
        for version in ("v2 (baseline)", "v3 send (as the handler)"):
            room = f"busy-{senders}-{version[:2]}"
            per_sender = max(1, messages // senders)
            if version.startswith("v3"):  # members, each with a read marker to move
                for n in range(senders):
                    access.enter(f"user{n}", room, 0, ids.iso_utc(0))
            tallies: list[order.Tally] = []
            start, failures = threading.Barrier(senders), []

            def send(n: int, room: str = room, version: str = version,
                     per_sender: int = per_sender, start: threading.Barrier = start,
                     tallies: list[order.Tally] = tallies, failures: list[str] = failures) -> None:
                start.wait()
                for i in range(per_sender):
                    text, client_id = f"message {n}-{i} " + "x" * 60, f"c-{n}-{i}"
                    try:
                        if version.startswith("v2"):
                            v2_write(store.client(), room, f"user{n}", text, client_id,
                                     n * 10_000 + i)
                        else:
                            handler_send(room, f"user{n}", text, client_id, tallies)
                    except Exception as failure:  # counted, printed: a bench must not hide one
                        failures.append(repr(failure))

            counter.take()
            units.take()
            threads = [threading.Thread(target=send, args=(n,)) for n in range(senders)]
            began = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            seconds = time.perf_counter() - began
            if failures:
                print(f"{senders} senders, {version}: {len(failures)} failed, e.g. {failures[0]}")
            stored = senders * per_sender - len(failures)
            calls = counter.take()
            write_units, read_units, _ = units.take()
            attempts = sum(t.attempts for t in tallies) if tallies else stored
            conflicts = attempts - stored if tallies else 0
            worst = max((t.attempts for t in tallies), default=1)
            per_million = (write_units * WRITE_PRICE + read_units * READ_PRICE) / max(stored, 1)
            rows.append([
                senders, version, stored, len(failures),
                ", ".join(f"{op} {count / stored:.2f}" for op, count in sorted(calls.items())),
                f"{conflicts / stored:.2f}", worst,
                f"{write_units / stored:.2f}", f"{read_units / stored:.2f}",
                f"{per_million:.2f}", f"{stored / seconds:.0f}",
            ])
    return rows


def catch_up(total: int) -> list[list[Any]]:
    """Readers that missed the last 10, 100, 1000 of `total` changes (one in ten an edit)."""
    from chalicelib import ids, order, store
    from chalicelib.store.messages import Draft

    room, created = "catch-up", []
    for i in range(total):
        if i % 10 == 9:  # an edit of an older message: only getChanges brings it
            target = created[len(created) // 2]
            order.change(room, target, "writer", f"edited at change {i + 1}", ids.iso_utc(0),
                         None, 0)
        else:
            draft = Draft(room, "writer", f"message {i} " + "x" * 60, ids.iso_utc(0))
            created.append(order.send(draft, 0).id)
    everything, _ = store.messages().changes(room, 0, 10 * total)
    counter, units = CallCounter(), Units()
    counter.attach(store.client().meta.events)
    units.attach(store.client().meta.events)
    rows = []
    for missed in (10, 100, 1000):
        since = total - missed
        wanted = {m.id: m.rev for m in everything if m.rev > since}
        for label in ("v2 getMessages after (baseline)", "v3 getChanges"):
            counter.take()
            units.take()
            got: dict[str, int] = {}
            if label.startswith("v3"):
                rev, more = since, True
                while more:
                    frame = order.changes_frame(room, rev, 100)
                    got.update({m["id"]: m["rev"] for m in frame["messages"]})
                    rev, more = frame["rev"], frame["hasMore"]
            else:  # the newest message id the reader held before it went away
                held = [m.id for m in everything if m.seq <= since]
                after, more = max(held) if held else None, True
                while more:
                    page, more = store.messages().page(room, 100, after=after)
                    got.update({m.id: m.rev for m in page})
                    after = page[-1].id if page else after
            calls = counter.take()
            _, read_units, items_read = units.take()
            left_out = sum(1 for i, rev in wanted.items() if got.get(i) != rev)
            rows.append([missed, label, len(wanted), len(got), left_out,
                         ", ".join(f"{op} {n}" for op, n in sorted(calls.items())),
                         items_read, f"{read_units:.0f}", f"{read_units / max(len(got), 1):.3f}"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200, help="messages per row (all senders)")
    args = parser.parse_args()
    from chatapp import motointernals

    motointernals.install()  # DynamoDB's transaction semantics, safe across threads
    with moto_tables():
        write_rows = writes(args.messages)
        read_rows = catch_up(1000)
    print_table(
        "Writes into one room, per message (first row of each pair: same-run baseline)",
        ["senders", "write", "stored", "failed", "DynamoDB calls per message",
         "conflicts/msg", "max attempts", "WRU/msg", "RRU/msg", "$ per 1M msgs", "msg/s (moto)"],
        write_rows,
    )
    print_table(
        "Catching up after missing the last N of 1,000 changes (pages of 100)",
        ["missed", "read", "messages changed", "got", "still wrong", "DynamoDB calls",
         "items read", "RRU", "RRU/message got"],
        read_rows,
    )
    print("\nWRU: transactional writes count 2 per item-KB, cancelled ones in full (upper bound);"
          " RRU: strongly consistent, 1 per 4 KB. msg/s are moto's, not DynamoDB's.")


if __name__ == "__main__":
    main()
