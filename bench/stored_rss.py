"""What stored data costs in memory: an embedded DynamoDB's RSS, empty and holding a snapshot.

    .venv/bin/python bench/stored_rss.py DATA_DIR     # a data dir of `chatapp serve`

Each figure comes from a fresh database process. The snapshot's items are
written into it over HTTP by another process (as the handlers write them; the
database never parses the whole file), then it does what the upkeep does over
time: stream records past retention trimmed, iterators expired, moto's
tracking lists emptied. What it holds beyond an empty one is the items
themselves. bench/soak.py subtracts this from the database's growth: what
remains is growth not explained by stored data.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from chatapp.snapshots import SNAPSHOT_NAME


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _database(snapshot: str) -> None:
    """In the child: an empty database, the snapshot written in, settled; prints RSS and items."""
    from chatapp import motointernals
    from chatapp.dynamodb import EmbeddedDynamoDB

    db = EmbeddedDynamoDB().start()
    if snapshot:
        subprocess.run([sys.executable, __file__, "--write", db.endpoint, snapshot], check=True)
    motointernals.trim_streams(retention_seconds=0)
    motointernals.expire_iterators(motointernals.expire_iterators(set()))
    motointernals.forget_tracked_instances()
    gc.collect()
    items = sum(len(rows) for rows in motointernals.table_items(db.tables).values())
    gc.collect()
    print(json.dumps({"rss_mb": rss_mb(), "items": items}), flush=True)
    os._exit(0)


def _write(endpoint: str, snapshot: str) -> None:
    """In the grandchild: BatchWriteItem the snapshot's items into the database."""
    from chatapp.snapshots import restore_snapshot
    from chatapp.tables import client, table_names

    restore_snapshot(client(endpoint), list(table_names().values()), Path(snapshot))


def settled(data_dir: Path | None) -> dict[str, float]:
    """RSS (MB) and item count of a fresh database holding data_dir's snapshot (None: empty)."""
    snapshot = str(data_dir / SNAPSHOT_NAME) if data_dir is not None else ""
    output = subprocess.run(
        [sys.executable, __file__, "--database", snapshot],
        capture_output=True,
        text=True,
        check=True,
        cwd=PROJECT_ROOT,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def stored_mb(data_dir: Path) -> tuple[float, int]:
    """MB of RSS the snapshot's items cost in a database, and how many items they are."""
    empty, full = settled(None), settled(data_dir)
    return full["rss_mb"] - empty["rss_mb"], int(full["items"] - empty["items"])


def main() -> None:
    if sys.argv[1:2] == ["--database"]:
        _database(sys.argv[2])
    elif sys.argv[1:2] == ["--write"]:
        _write(sys.argv[2], sys.argv[3])
    else:
        megabytes, items = stored_mb(Path(sys.argv[1]))
        print(f"{items} items cost {megabytes:.1f} MB ({megabytes * 2**10 / items:.2f} KB each)")


if __name__ == "__main__":
    main()
