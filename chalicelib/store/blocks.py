"""The blocks table: who each user has blocked (hash username_key, range blocked_key)."""

from __future__ import annotations

from typing import Any

from chalicelib.store.items import s as _s


class Blocks:
    """One item per (blocker, blocked); the blocked user's name kept as spelled at signup."""

    def __init__(self, client: Any, table: str) -> None:
        self._client, self._table = client, table

    def _key(self, username: str, blocked: str) -> dict[str, Any]:
        return {"username_key": _s(username.lower()), "blocked_key": _s(blocked.lower())}

    def add(self, username: str, blocked: str, blocked_at: str) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={**self._key(username, blocked), "blocked": _s(blocked),
                  "blocked_at": _s(blocked_at)},
        )

    def remove(self, username: str, blocked: str) -> None:
        self._client.delete_item(TableName=self._table, Key=self._key(username, blocked))

    def has(self, username: str, blocked: str) -> bool:
        """Whether username has blocked `blocked`."""
        return "Item" in self._client.get_item(
            TableName=self._table, Key=self._key(username, blocked), ConsistentRead=True,
            ProjectionExpression="blocked_key",
        )

    def either(self, one: str, other: str) -> bool:
        """Whether either of the two users has blocked the other."""
        return self.has(one, other) or self.has(other, one)

    def of(self, username: str) -> list[str]:
        """Everyone the user has blocked (a Query on their key)."""
        pages = self._client.get_paginator("query").paginate(
            TableName=self._table,
            KeyConditionExpression="username_key = :key",
            ExpressionAttributeValues={":key": _s(username.lower())},
            ProjectionExpression="blocked",
        )
        return [item["blocked"]["S"] for page in pages for item in page["Items"]]
