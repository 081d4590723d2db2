"""How long a periodic snapshot holds the embedded database's requests.

    .venv/bin/python bench/snapshot_pause.py                   # 2,000 and 20,000 messages stored
    .venv/bin/python bench/snapshot_pause.py --items 50000 --repeat 3

An embedded database in this process, with a data dir, holding N message
items; one thread calls GetItem in a loop (its own client) while the snapshot
is written, first in the process (`snapshot()`, what shutdown does), then by a
forked child (`snapshot_in_child()`, what the periodic snapshot does),
alternating. Prints the worst and the median GetItem of each, beside the
snapshot's own time. No assertions: figures, not tests.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from chatapp.dynamodb import EmbeddedDynamoDB
from chatapp.snapshots import SNAPSHOT_NAME
from chatapp.tables import client, table_names

ROOM = "snapshot-bench"


def fill(ddb, table: str, count: int) -> None:
    """count messages of a chat message's shape, 25 to a BatchWriteItem."""
    for start in range(0, count, 25):
        ddb.batch_write_item(RequestItems={table: [
            {"PutRequest": {"Item": {
                "room": {"S": ROOM}, "id": {"S": f"m{n:08d}"}, "seq": {"N": str(n + 1)},
                "rev": {"N": str(n + 1)}, "username": {"S": "alice"},
                "text": {"S": "a message of about the usual length, sent in a busy room"},
                "createdAt": {"S": "2026-12-03T12:00:00.000Z"}, "clientId": {"S": f"c{n}"},
            }}}
            for n in range(start, min(count, start + 25))
        ]})


def reads_during(db: EmbeddedDynamoDB, table: str, take_snapshot) -> tuple[float, list[float]]:
    """(the snapshot's seconds, every GetItem's seconds while it was taken)."""
    stop, seconds = threading.Event(), []
    reader = client(db.endpoint)
    key = {"room": {"S": ROOM}, "id": {"S": "m00000000"}}

    def read() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            reader.get_item(TableName=table, Key=key, ConsistentRead=True)
            seconds.append(time.perf_counter() - started)

    thread = threading.Thread(target=read)
    thread.start()
    time.sleep(0.3)
    started = time.perf_counter()
    take_snapshot()
    took = time.perf_counter() - started
    time.sleep(0.2)
    stop.set()
    thread.join()
    return took, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", default="2000,20000", help="comma-separated message counts")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    table = table_names()["messages"]
    for count in (int(value) for value in args.items.split(",")):
        db = EmbeddedDynamoDB(data_dir=Path(tempfile.mkdtemp(prefix="snapshot-bench-"))).start()
        try:
            fill(client(db.endpoint), table, count)
            print(f"{count:,} messages stored")
            for _ in range(args.repeat):
                for name, take in (("in the process", db.snapshot),
                                   ("forked child", db.snapshot_in_child)):
                    took, seconds = reads_during(db, table, take)
                    size = (db.data_dir / SNAPSHOT_NAME).stat().st_size
                    print(f"  {name:15} snapshot {took * 1000:6.0f} ms ({size / 1e6:.1f} MB);"
                          f" GetItem meanwhile: worst {max(seconds) * 1000:6.1f} ms,"
                          f" median {statistics.median(seconds) * 1000:4.1f} ms")
        finally:
            db.stop()


if __name__ == "__main__":
    main()
