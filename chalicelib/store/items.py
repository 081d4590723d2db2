"""What every repository writes the same way: attribute values and the batch read.

The low-level client takes typed attribute values ({"S": ...}, {"N": ...});
boto3's TypeSerializer would build them too, but through the resource layer's
Decimal rules, for items this small a dict literal is clearer and cheaper.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

Item = dict[str, dict[str, Any]]
BATCH_GET_MAX = 100  # keys per BatchGetItem call (DynamoDB's limit)
_RETRY_PAUSE_S = 0.02  # before asking again for unprocessed keys, doubled each time


def s(value: str) -> dict[str, str]:
    """A string attribute value."""
    return {"S": value}


def n(value: int) -> dict[str, str]:
    """A number attribute value."""
    return {"N": str(value)}


def batch_get(
    client: Any,
    table: str,
    keys: list[Item],
    projection: str,
    *,
    consistent: bool = False,
) -> Iterator[Item]:
    """Every item found for `keys` in one table, 100 keys per BatchGetItem."""
    for first in range(0, len(keys), BATCH_GET_MAX):
        request = {table: {
            "Keys": keys[first:first + BATCH_GET_MAX],
            "ConsistentRead": consistent,
            "ProjectionExpression": projection,
        }}
        yield from batch_get_tables(client, request).get(table, [])


def batch_get_tables(client: Any, request: dict[str, Any]) -> dict[str, list[Item]]:
    """One BatchGetItem request (RequestItems, at most 100 keys), answered whole.

    Keys DynamoDB leaves unprocessed (throttling, the 16 MB answer limit) are
    asked for again after a pause that doubles, as the SDKs advise; a missing
    item is simply not in the answer.
    """
    found: dict[str, list[Item]] = {}
    pause = _RETRY_PAUSE_S
    while request:
        answer = client.batch_get_item(RequestItems=request)
        for table, items in answer["Responses"].items():
            found.setdefault(table, []).extend(items)
        request = answer.get("UnprocessedKeys") or {}
        if request:
            time.sleep(pause)
            pause *= 2
    return found
