"""Snapshots: the tables' items in one JSON file, so local data survives a restart.

DynamoDB keeps what it stores; moto keeps it in memory. The embedded database
writes a snapshot on shutdown and periodically after writes (from a forked
copy of itself, so requests are not held meanwhile), and restores it at start
(chatapp.dynamodb).
"""

from __future__ import annotations

import base64
import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger("chatapp.snapshots")

SNAPSHOT_NAME = "dynamodb-snapshot.json"


def _binary_to_text(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: _binary_to_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_binary_to_text(v) for v in value]
    return value


def _text_to_binary(value: Any) -> Any:
    """Undo _binary_to_text: in DynamoDB JSON only B and BS hold bytes."""
    if isinstance(value, dict):
        result: dict[str, Any] = {}
        for key, inner in value.items():
            if key == "B" and isinstance(inner, str):
                result[key] = base64.b64decode(inner)
            elif key == "BS" and isinstance(inner, list):
                result[key] = [base64.b64decode(v) for v in inner]
            else:
                result[key] = _text_to_binary(inner)
        return result
    if isinstance(value, list):
        return [_text_to_binary(v) for v in value]
    return value


def write_snapshot(tables: dict[str, list], path: Path) -> int:
    """Write {table: [items in DynamoDB JSON]} to one JSON file, atomically; returns the count."""
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"version": 1, "tables": _binary_to_text(tables)}))
    os.replace(temporary, path)
    return sum(len(items) for items in tables.values())


def restore_snapshot(ddb: Any, tables: list[str], path: Path) -> int:
    """Write a snapshot's items back into the (just created) tables; returns the count."""
    if not path.exists():
        return 0
    try:
        data = json.loads(path.read_text())["tables"]
    except (ValueError, KeyError) as error:
        raise RuntimeError(f"{path} is not a chatapp snapshot ({error}); move it away") from error
    count = 0
    for table, items in data.items():
        if table not in tables:
            log.warning("snapshot table %s is not in tables.json any more: skipped", table)
            continue
        items = _text_to_binary(items)
        for start in range(0, len(items), 25):
            pending = {table: [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]}
            while pending:
                pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems")
        count += len(items)
    return count
