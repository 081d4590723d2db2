"""The connections table: one item per open WebSocket connection, its user and room.

Two indexes read it: the user index (a user's connections) and the room index
(a room's connections; a connection in no room has no `room` and is in no page).
This repository stores and reads; whether a connection's token still holds and
what a frame may cost are decided above it (chalicelib/auth.py, allowances.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

from chalicelib import errors
from chalicelib.store.items import Item, batch_get
from chalicelib.store.items import n as _n
from chalicelib.store.items import s as _s


class Connection(NamedTuple):
    connection_id: str
    username: str
    room: str
    token_exp: int | None = None  # None: a record from before tokens were stored
    session_id: str | None = None  # the session whose token opened it (auth.py)


def connection_from_item(item: Item) -> Connection:
    """A connection item as a Connection."""
    token_exp, session_id = item.get("token_exp"), item.get("session_id")
    return Connection(
        item["connection_id"]["S"],
        item["username"]["S"],
        item.get("room", {}).get("S", ""),  # "": removed from its room, in none (issue 19)
        int(token_exp["N"]) if token_exp else None,
        session_id["S"] if session_id else None,
    )


def gone() -> errors.ConnectionGone:
    """What a frame of a connection without a record gets."""
    return errors.ConnectionGone("this connection is not registered; reconnect")


class Connections:
    """Open connections by id, by user (user index) and by room (room index)."""

    def __init__(
        self, client: Any, table: str, user_index: str, room_index: str, ttl_seconds: int
    ) -> None:
        self._client, self._table = client, table
        self._user_index, self._room_index, self._ttl = user_index, room_index, ttl_seconds

    # --------------------------------------------------------------- writes

    def put(
        self, connection_id: str, username: str, room: str, now_s: int, token_exp: int,
        session_id: str | None = None,
    ) -> None:
        """Register a connection; its TTL outlives API Gateway's 2-hour connection limit."""
        self._client.put_item(
            TableName=self._table,
            Item={
                "connection_id": _s(connection_id),
                "username": _s(username),
                "username_key": _s(username.lower()),
                "room": _s(room),
                "connected_at": _n(now_s),
                "token_exp": _n(token_exp),
                "ttl": _n(now_s + self._ttl),
                **({"session_id": _s(session_id)} if session_id else {}),
            },
        )

    def delete(self, connection_id: str) -> Connection | None:
        """Forget a connection; returns its record as it was (None: there was none)."""
        old = self._client.delete_item(
            TableName=self._table,
            Key={"connection_id": _s(connection_id)},
            ReturnValues="ALL_OLD",
        ).get("Attributes")
        return connection_from_item(old) if old else None

    def move(self, connection_id: str, room: str) -> None:
        """Put the connection in another room (ConnectionGone if it is not registered)."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"connection_id": _s(connection_id)},
                UpdateExpression="SET room = :room",
                ConditionExpression="attribute_exists(connection_id)",
                ExpressionAttributeValues={":room": _s(room)},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            raise gone() from None

    def leave(self, connection_id: str, room: str) -> bool:
        """Take the connection out of `room` (into no room); False when it was not in it.

        With no `room` attribute the connection drops out of the room index, which
        the fan-out reads: no frame of the room reaches it from then on.
        """
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"connection_id": _s(connection_id)},
                UpdateExpression="REMOVE room",
                ConditionExpression="room = :room",
                ExpressionAttributeValues={":room": _s(room)},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    # ---------------------------------------------------------------- reads

    def get(self, connection_id: str) -> Connection:
        """The connection's record (its user, room, token expiry, session), or ConnectionGone."""
        item = self._client.get_item(
            TableName=self._table,
            Key={"connection_id": _s(connection_id)},
            ConsistentRead=True,
        ).get("Item")
        if item is None:
            raise gone()
        return connection_from_item(item)

    def existing(self, connection_ids: list[str], room: str | None = None) -> set[str]:
        """Which of these connection ids still have a record (in `room`, when given).

        Strongly consistent: one BatchGetItem per 100 ids.
        """
        keys = [{"connection_id": _s(cid)} for cid in connection_ids]
        return {
            item["connection_id"]["S"]
            for item in batch_get(
                self._client, self._table, keys, "connection_id, room", consistent=True
            )
            if room is None or item.get("room", {}).get("S") == room
        }

    def of_user(self, username: str) -> list[str]:
        """Ids of the user's open connections: a Query on the user index, never a Scan."""
        pages = self._client.get_paginator("query").paginate(
            TableName=self._table,
            IndexName=self._user_index,
            KeyConditionExpression="username_key = :user",
            ExpressionAttributeValues={":user": _s(username.lower())},
        )
        return [item["connection_id"]["S"] for page in pages for item in page["Items"]]

    def room_pages(self, room: str, page_size: int | None = None) -> Iterator[list[str]]:
        """A room's connection ids, page by page (at most page_size each), read as needed."""
        for page in self._in_room(room, "connection_id", page_size):
            if page:
                yield [item["connection_id"]["S"] for item in page]

    def occupants(self, room: str) -> list[tuple[str, str]]:
        """(connection id, username) of every connection in a room: one Query on the room index."""
        return [
            (item["connection_id"]["S"], item["username"]["S"])
            for page in self._in_room(room, "connection_id, username") for item in page
        ]

    def _in_room(
        self, room: str, projection: str, page_size: int | None = None
    ) -> Iterator[list[Item]]:
        """The room index's pages for a room (the one shape of that Query)."""
        pages = self._client.get_paginator("query").paginate(
            TableName=self._table,
            IndexName=self._room_index,
            KeyConditionExpression="room = :room",
            ExpressionAttributeValues={":room": _s(room)},
            ProjectionExpression=projection,
            **({"Limit": page_size} if page_size else {}),
        )
        for page in pages:
            yield page["Items"]
