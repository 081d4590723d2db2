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
    """Every item found for `keys`, 100 keys per BatchGetItem.

    Keys DynamoDB leaves unprocessed (throttling, the 16 MB answer limit) are
    asked for again after a pause that doubles, as the SDKs advise; a missing
    item is simply not yielded.
    """
    for first in range(0, len(keys), BATCH_GET_MAX):
        pending, pause = keys[first:first + BATCH_GET_MAX], _RETRY_PAUSE_S
        while pending:
            answer = client.batch_get_item(RequestItems={table: {
                "Keys": pending, "ConsistentRead": consistent, "ProjectionExpression": projection,
            }})
            yield from answer["Responses"].get(table, [])
            pending = answer.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
            if pending:
                time.sleep(pause)
                pause *= 2
