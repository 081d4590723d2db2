"""The guards table's connection slots: one item per user, `connections#<user>`.

The item holds a map `slots` of connection id → the second it took its slot.
Taking a slot is one conditional UpdateItem (`size(slots) < limit`): DynamoDB
serialises writes to one item, so parallel handshakes can never take more
slots than the limit. Giving one back is a REMOVE of that id, idempotent, so a
$disconnect and the fan-out finding the connection gone may both give it back.
The item's `ttl` outlives API Gateway's 2-hour connection limit: a user whose
connections all vanished without a $disconnect loses the stale slots with it.
"""

from __future__ import annotations

import contextlib
from typing import Any


class ConnectionSlots:
    """Per-user connection slots in guards (storage only: the cap is chalicelib.connection_cap)."""

    PREFIX = "connections#"

    def __init__(self, client: Any, table: str, ttl_seconds: int) -> None:
        self._client, self._table, self._ttl_seconds = client, table, ttl_seconds

    def _key(self, username: str) -> dict[str, dict[str, str]]:
        return {"guard_key": {"S": f"{self.PREFIX}{username.lower()}"}}

    def take(self, username: str, connection_id: str, limit: int, now_s: int) -> dict[str, int]:
        """Take a slot; {} when taken, else the slots held now (id → second taken)."""
        errors = self._client.exceptions
        for _ in range(3):
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key=self._key(username),
                    UpdateExpression="SET slots.#cid = :now, #ttl = :ttl",
                    ConditionExpression="attribute_exists(slots) AND "
                    "(size(slots) < :limit OR attribute_exists(slots.#cid))",
                    ExpressionAttributeNames={"#cid": connection_id, "#ttl": "ttl"},
                    ExpressionAttributeValues={
                        ":now": {"N": str(now_s)},
                        ":ttl": {"N": str(now_s + self._ttl_seconds)},
                        ":limit": {"N": str(limit)},
                    },
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
                return {}
            except errors.ConditionalCheckFailedException as failed:
                old = failed.response.get("Item")
            if old is not None and "slots" in old:
                return {cid: int(value["N"]) for cid, value in old["slots"]["M"].items()}
            try:  # the user's first slot (or the item expired): make the item
                self._client.put_item(
                    TableName=self._table,
                    Item={
                        **self._key(username),
                        "slots": {"M": {connection_id: {"N": str(now_s)}}},
                        "ttl": {"N": str(now_s + self._ttl_seconds)},
                    },
                    ConditionExpression="attribute_not_exists(guard_key)",
                )
                return {}
            except errors.ConditionalCheckFailedException:
                continue  # another handshake made it first: take a slot in it
        raise RuntimeError(f"connection slots of {username}: contended three times over")

    def held(self, username: str) -> dict[str, int]:
        """The user's slots, connection id → second taken: every connection past its first step.

        A strongly consistent GetItem (the connections table's user index is
        eventually consistent): a slot is taken before the connection's record
        is written, so a connection being opened right now is among these.
        """
        item = self._client.get_item(
            TableName=self._table, Key=self._key(username), ConsistentRead=True,
            ProjectionExpression="slots",
        ).get("Item") or {}
        return {cid: int(at["N"]) for cid, at in item.get("slots", {}).get("M", {}).items()}

    def give_back(self, username: str, connection_id: str) -> None:
        """Free the connection's slot (nothing happens when it holds none)."""
        # No item: nothing held.
        with contextlib.suppress(self._client.exceptions.ConditionalCheckFailedException):
            self._client.update_item(
                TableName=self._table,
                Key=self._key(username),
                UpdateExpression="REMOVE slots.#cid",
                ConditionExpression="attribute_exists(slots)",
                ExpressionAttributeNames={"#cid": connection_id},
            )

    def drop_stale(self, username: str, connection_id: str, taken_at: int) -> bool:
        """Free a slot found stale, only if it is still the one seen (taken at taken_at)."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(username),
                UpdateExpression="REMOVE slots.#cid",
                ConditionExpression="slots.#cid = :taken",
                ExpressionAttributeNames={"#cid": connection_id},
                ExpressionAttributeValues={":taken": {"N": str(taken_at)}},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True
