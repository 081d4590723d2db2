"""What one WebSocket frame reads before it acts, in one call across three tables.

A frame needs its connection's record, its room (kind, revision, message
count) and the sender's membership of it (role, ban, read marker). Read
separately that is three strongly consistent GetItems; here it is one
BatchGetItem, and the revision read with the access check is the one the
change is first tried at (chalicelib/order.py).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from chalicelib.store.connections import Connection, connection_from_item
from chalicelib.store.items import batch_get_tables
from chalicelib.store.items import s as _s
from chalicelib.store.messages import RoomState, room_state_from_item
from chalicelib.store.roles import ACCESS_NAMES, ACCESS_PROJECTION, Access, access_from_item
from chalicelib.store.rooms import ROOM_NAMES, ROOM_PROJECTION, Room, room_from_item


class FrameRead(NamedTuple):
    """What one frame reads of its connection, room and membership."""

    connection: Connection | None  # None: not asked for, or no record
    room: Room | None  # None: never created
    access: Access
    state: RoomState  # the room's revision and message count
    read_marker: str | None  # the user's read marker in the room (None: no membership)


class FrameReads:
    """A connection, a room and a user's membership of it, read together."""

    def __init__(
        self, client: Any, connections_table: str, rooms_table: str, memberships_table: str
    ) -> None:
        self._client = client
        self._connections, self._rooms = connections_table, rooms_table
        self._memberships = memberships_table

    def read(self, connection_id: str | None, username: str, room: str) -> FrameRead:
        """The connection's record (when an id is given), the room, the user's membership.

        What Connections.get, Rooms.get, Roles.get and Messages.room_state read,
        strongly consistent, in one BatchGetItem.
        """
        request: dict[str, Any] = {
            self._rooms: {
                "Keys": [{"room": _s(room)}],
                "ConsistentRead": True,
                "ProjectionExpression": f"{ROOM_PROJECTION}, rev, messages",
                "ExpressionAttributeNames": ROOM_NAMES,
            },
            self._memberships: {
                "Keys": [{"username_key": _s(username.lower()), "room": _s(room)}],
                "ConsistentRead": True,
                "ProjectionExpression": f"{ACCESS_PROJECTION}, read_marker",
                "ExpressionAttributeNames": ACCESS_NAMES,
            },
        }
        if connection_id is not None:
            request[self._connections] = {
                "Keys": [{"connection_id": _s(connection_id)}], "ConsistentRead": True,
            }
        found = {
            table: items[0]
            for table, items in batch_get_tables(self._client, request).items() if items
        }
        room_item, membership = found.get(self._rooms), found.get(self._memberships, {})
        connection = found.get(self._connections)
        return FrameRead(
            None if connection is None else connection_from_item(connection),
            None if room_item is None else room_from_item(room, room_item),
            access_from_item(membership),
            room_state_from_item(room_item or {}),
            membership.get("read_marker", {}).get("S"),
        )
