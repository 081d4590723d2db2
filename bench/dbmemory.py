"""Where the embedded DynamoDB's memory goes under the soak's traffic (tracemalloc).

    .venv/bin/python bench/dbmemory.py --minutes 10       # 10 messages/s, as bench/soak.py

The database runs in this process with tracemalloc on; `chatapp serve
--dynamodb-endpoint` uses it, and `bench/soak.py --url` (its own process)
sends and receives. Each minute: the items each
table holds, the stream records kept, the bytes traced in the database's code,
and the source lines whose allocations grew most since the first minute.
Stored items grow by design; what grows besides them is a leak.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import PROJECT_ROOT

from chatapp import motointernals
from chatapp.dynamodb import EmbeddedDynamoDB
from tests.support.localserver import start_local_server

_ = PROJECT_ROOT  # importing load puts the project root on sys.path
IGNORED = [tracemalloc.Filter(False, "*/tracemalloc.py"), tracemalloc.Filter(False, "*/bench/*")]


def held(db: EmbeddedDynamoDB) -> str:
    items = {name.rsplit("-", 1)[-1]: len(rows) for name, rows in db.dump_tables().items()}
    records = motointernals.stream_record_count()
    return " ".join(f"{table}={count}" for table, count in sorted(items.items())) + (
        f" stream-records={records}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--senders", type=int, default=2)
    parser.add_argument("--churn", type=float, default=10.0)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--frames", type=int, default=1, help="traceback depth (slower)")
    args = parser.parse_args()
    tracemalloc.start(args.frames)
    db = EmbeddedDynamoDB().start()
    server = start_local_server(
        Path(tempfile.mkdtemp(prefix="chatapp-dbmemory-")),
        "--rate-limit",
        "0",
        "--dynamodb-endpoint",
        db.endpoint,
    )
    soak = [sys.executable, str(Path(__file__).parent / "soak.py"), "--url", server.url]
    soak += ["--minutes", str(args.minutes), "--rate", str(args.rate)]
    clients = subprocess.Popen(soak)
    try:
        baseline = None
        started = time.monotonic()
        for minute in range(1, args.minutes + 1):
            time.sleep(max(0.0, started + minute * 60 + 5 - time.monotonic()))
            snapshot = tracemalloc.take_snapshot().filter_traces(IGNORED)
            total = sum(stat.size for stat in snapshot.statistics("filename"))
            print(f"[db] minute {minute}: traced {total / 2**20:.1f} MB; {held(db)}", flush=True)
            if baseline is None:
                baseline = snapshot
                continue
            for stat in snapshot.compare_to(baseline, "lineno")[: args.top]:
                frame = stat.traceback[0]
                print(
                    f"[db]   {stat.size_diff / 2**20:+7.2f} MB {stat.count_diff:+8d} blocks  "
                    f"{frame.filename.split('site-packages/')[-1]}:{frame.lineno}",
                    flush=True,
                )
    finally:
        clients.terminate()
        clients.wait()
        server.stop()
        db.stop()


if __name__ == "__main__":
    main()
