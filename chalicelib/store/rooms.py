"""The rooms table: one item per room, its kind, owner and creation time (and issue 17's rev).

Items are written with UpdateItem only, never a blind Put: the same item
carries the room's revision counter, written by the message path.
Public rooms carry `listed = "public"`, which puts them (and only them) in
the sparse directory index, sorted by name.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from chalicelib.store.items import batch_get
from chalicelib.store.items import s as _s

PUBLIC, PRIVATE, DIRECT = "public", "private", "direct"
KINDS = (PUBLIC, PRIVATE, DIRECT)


class Activity(NamedTuple):
    """What GET /rooms reads of a room item: the message path keeps it (store/messages.py)."""

    rev: int  # 0: nothing changed in the room yet
    messages: int | None  # the room's message count; None: a room from before it was kept
    last_message_at: str | None  # the newest message's sentAt (kept beside the count)


class Room(NamedTuple):
    room: str
    kind: str
    owner: str | None = None
    members: tuple[str, ...] = ()  # a direct room's two users, as spelled at signup



# What a room's readers take from its item (store/frame_reads.py adds the revision).
ROOM_PROJECTION = "#kind, #owner, members"
ROOM_NAMES = {"#kind": "kind", "#owner": "owner"}


def room_from_item(room: str, item: dict[str, Any]) -> Room:
    """A room item (as Rooms.get projects it) as a Room."""
    return Room(
        room,
        item.get("kind", {}).get("S", PUBLIC),
        item.get("owner", {}).get("S"),
        tuple(member["S"] for member in item.get("members", {}).get("L", [])),
    )


class Rooms:
    """The rooms table: read a room, create one, list the public ones by prefix."""

    def __init__(self, client: Any, table: str, directory_index: str) -> None:
        self._client, self._table, self._index = client, table, directory_index

    def get(self, room: str) -> Room | None:
        """The room, or None when nobody created it (an item with only a rev is public)."""
        item = self._client.get_item(
            TableName=self._table,
            Key={"room": _s(room)},
            ConsistentRead=True,
            ProjectionExpression=ROOM_PROJECTION,
            ExpressionAttributeNames=ROOM_NAMES,
        ).get("Item")
        return None if item is None else room_from_item(room, item)

    def create(
        self, room: str, kind: str, owner: str | None, created_at: str,
        members: tuple[str, ...] = (),
    ) -> bool:
        """Create the room with its kind; False when it already has one (nothing changed).

        A room item holding only issue 17's revision (no kind) counts as taken too
        for a named creation, but not for an ownerless public one.
        """
        values: dict[str, Any] = {":kind": _s(kind), ":at": _s(created_at)}
        update = "SET #kind = :kind, created_at = :at"
        if kind == PUBLIC:
            update += ", listed = :kind"
        if owner is not None:
            update += ", #owner = :owner"
            values[":owner"] = _s(owner)
        if members:
            update += ", members = :members"
            values[":members"] = {"L": [_s(m) for m in members]}
        condition = "attribute_not_exists(#kind)" if owner is None and kind != PRIVATE \
            else "attribute_not_exists(room)"
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"room": _s(room)},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#kind": "kind", **(
                    {"#owner": "owner"} if owner is not None else {})},
                ExpressionAttributeValues=values,
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def activities(self, names: list[str]) -> dict[str, Activity]:
        """Revision, message count and newest message time of these rooms.

        BatchGetItem, 100 keys a call (GET /rooms shows at most 100 rooms: one
        call), eventually consistent like the rest of the list; a room with no
        item is left out.
        """
        keys = [{"room": _s(name)} for name in dict.fromkeys(names)]
        return {
            item["room"]["S"]: Activity(
                int(item["rev"]["N"]) if "rev" in item else 0,
                int(item["messages"]["N"]) if "messages" in item else None,
                item.get("last_message_at", {}).get("S"),
            )
            for item in batch_get(
                self._client, self._table, keys, "room, rev, messages, last_message_at"
            )
        }

    def directory(self, prefix: str, limit: int) -> list[str]:
        """Up to `limit` public rooms whose names start with prefix, sorted by name."""
        condition, values = "listed = :public", {":public": _s(PUBLIC)}
        if prefix:
            condition += " AND begins_with(room, :prefix)"
            values[":prefix"] = _s(prefix)
        items = self._client.query(
            TableName=self._table,
            IndexName=self._index,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values,
            Limit=limit,
        )["Items"]
        return [item["room"]["S"] for item in items]
