"""The guards table's occupancy items: `occupancy#<room>`, the last count a big room was told."""

from __future__ import annotations

from typing import Any


class RoomOccupancy:
    """When each big room last got an `occupancy` frame, and with which count."""

    def __init__(self, client: Any, table: str) -> None:
        self._client, self._table = client, table

    def claim(self, room: str, count: int, now_s: int, interval_s: int) -> bool:
        """Whether to tell the room `count` now: it changed, and the last was interval_s ago.

        One conditional put decides, so functions handling the same room at once
        send it once.
        """
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    "guard_key": {"S": f"occupancy#{room}"},
                    "occupants": {"N": str(count)},
                    "sent_at": {"N": str(now_s)},
                    "ttl": {"N": str(now_s + 86_400)},
                },
                ConditionExpression="attribute_not_exists(guard_key) OR "
                "(sent_at <= :cutoff AND occupants <> :count)",
                ExpressionAttributeValues={
                    ":cutoff": {"N": str(now_s - interval_s)}, ":count": {"N": str(count)}
                },
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True
