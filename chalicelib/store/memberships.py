"""The memberships table's read markers and presence sets (roles and bans: store/roles.py).

One item per user and room (hash username_key, range room). This module owns:

- `read_marker`: the id of the newest message the user has read, or the
  room's revision when they became a member followed by `~` (no message id
  itself, sorted past every id up to that revision).
- `read_count` with `counted_marker`: the room's message count at the marker
  (the `messages` counter the message path keeps on the room item,
  store/messages.py). GET /rooms takes unread = room's count - read_count
  without reading a message. The count belongs to the marker only while
  `counted_marker` equals `read_marker`; a membership written before the
  count existed has no match and is counted from the messages table instead.
- `connections`: the user's connections in the room (presence).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from chalicelib.store.items import batch_get
from chalicelib.store.items import n as _n
from chalicelib.store.items import s as _s
from chalicelib.store.messages import message_id


class Membership(NamedTuple):
    """A listed membership: recent-index's projection, its count from the item (read_counts)."""

    room: str
    read_marker: str
    kind: str = "public"  # the access attributes (store/roles.py)
    role: str = "member"
    with_user: str | None = None
    read_count: int | None = None  # None: no count for this marker (counted from messages)


def initial_read_marker(room_rev: int) -> str:
    """A marker past every id of the room at revision room_rev, below every later one.

    Ids are zero-padded seqs (store/messages.py); the `~` makes the marker no id
    itself, so `read` frames can tell it from a message the user marked.
    """
    return f"{message_id(room_rev)}~"


def membership_from_item(item: dict[str, Any]) -> Membership:
    """A membership item (or its recent-index projection) as a Membership."""
    marker = item["read_marker"]["S"]
    counted = item.get("counted_marker", {}).get("S") == marker and "read_count" in item
    return Membership(
        item["room"]["S"], marker,
        item.get("kind", {}).get("S", "public"), item.get("role", {}).get("S", "member"),
        item.get("with_user", {}).get("S"),
        int(item["read_count"]["N"]) if counted else None,
    )




class MembershipRecords:
    """Read markers and presence sets in the memberships table."""

    def __init__(self, client: Any, table: str) -> None:
        self._client, self._table = client, table

    def _key(self, username: str, room: str) -> dict[str, Any]:
        return {"username_key": _s(username.lower()), "room": _s(room)}

    # ---------------------------------------------------------- read markers

    def move_read_marker(
        self, username: str, room: str, message: str, ordinal: int | None = None
    ) -> str:
        """Move the user's marker for the room forward to `message`; the marker as it now is.

        `ordinal` is that message's place in the room's message count (None for a
        message stored before the count: the membership is then counted from
        the messages table until its marker moves to a counted one).
        """
        values: dict[str, Any] = {":id": _s(message)}
        if ordinal is not None:
            update = "SET read_marker = :id, read_count = :count, counted_marker = :id"
            values[":count"] = _n(ordinal)
        else:
            update = "SET read_marker = :id REMOVE read_count, counted_marker"
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(username, room),
                UpdateExpression=update,
                ConditionExpression="attribute_exists(room) AND read_marker < :id",
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return message
        except self._client.exceptions.ConditionalCheckFailedException as failed:
            old = failed.response.get("Item") or {}
        return str(old.get("read_marker", {}).get("S", message))

    def read_counts(self, username: str, rooms: list[str]) -> dict[str, Membership]:
        """The user's read markers in these rooms with their counts (None: not counted).

        BatchGetItem, 100 keys a call, eventually consistent like GET /rooms'
        Query; only memberships with a marker are returned. (recent-index does
        not project the counts: changing a global secondary index's projection
        rebuilds it, and GET /rooms would fail on every deploy while it did.)
        """
        keys = [self._key(username, room) for room in dict.fromkeys(rooms)]
        return {
            item["room"]["S"]: membership_from_item(item)
            for item in batch_get(
                self._client, self._table, keys, "room, read_marker, read_count, counted_marker"
            )
            if "read_marker" in item
        }

    # -------------------------------------------------------------- presence

    def add_present_connection(self, username: str, room: str, connection_id: str) -> bool:
        """Count a connection in the user's room; True when no other of theirs is there.

        A string-set ADD is idempotent, so a redelivered stream record changes nothing
        (and says `online` again, which clients take as it is).
        """
        old = self._client.update_item(
            TableName=self._table,
            Key=self._key(username, room),
            UpdateExpression="ADD connections :one",
            ExpressionAttributeValues={":one": {"SS": [connection_id]}},
            ReturnValues="ALL_OLD",  # (moto leaves an unchanged set out of UPDATED_OLD)
        ).get("Attributes", {})
        return not set(old.get("connections", {}).get("SS", [])) - {connection_id}

    def remove_present_connection(self, username: str, room: str, connection_id: str) -> bool:
        """Stop counting a connection in a room; True when it was the user's last one there."""
        return not self.remove_present_connections(username, room, [connection_id])

    def remove_present_connections(
        self, username: str, room: str, connection_ids: list[str]
    ) -> set[str]:
        """Stop counting these connections in a room; the user's connections still counted."""
        try:
            new = self._client.update_item(
                TableName=self._table,
                Key=self._key(username, room),
                UpdateExpression="DELETE connections :gone",
                ConditionExpression="attribute_exists(room)",
                ExpressionAttributeValues={":gone": {"SS": connection_ids}},
                ReturnValues="ALL_NEW",
            ).get("Attributes", {})
        except self._client.exceptions.ConditionalCheckFailedException:
            return set()  # no membership (forgotten at a restart): nobody of theirs counted here
        return set(new.get("connections", {}).get("SS", []))
