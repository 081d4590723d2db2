"""The storage layer: one repository per table (one module each), built here once per process.

Every DynamoDB call the backend makes is in this package (nothing else imports
DynamoDB). Each repository is a class given its client, table names and, where
it reads time, the clock; the functions below build the container's instances
from settings, lazily (chalicelib/lazy.py: `lazy.reset()` forgets them). A
test may build a repository itself with a fake client or a set clock.

Uses the low-level client, not the resource layer: it is what a cold Lambda
can create fastest, and the items are small enough to write out by hand.
Tables and their keys are defined in tables.json; names come from settings.
Repositories store and read; they decide nothing (policy lives above them).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from botocore.config import Config

from chalicelib import aws, clock, lazy, settings
from chalicelib.store.blocks import Blocks
from chalicelib.store.connection_slots import ConnectionSlots
from chalicelib.store.connections import Connection, Connections, connection_from_item
from chalicelib.store.guards import Guards
from chalicelib.store.memberships import MembershipRecords
from chalicelib.store.messages import Messages, RoomState, room_state_from_item
from chalicelib.store.reports import Reports
from chalicelib.store.roles import ACCESS_NAMES, ACCESS_PROJECTION, Access, Roles, access_from_item
from chalicelib.store.room_occupancy import RoomOccupancy
from chalicelib.store.rooms import ROOM_NAMES, ROOM_PROJECTION, Room, Rooms, room_from_item
from chalicelib.store.sessions import Sessions
from chalicelib.store.users import Users

Item = dict[str, dict[str, Any]]


@lazy.cached()
def client() -> Any:
    """The container's DynamoDB client (created once; boto3 clients are thread-safe)."""
    return aws.session().client(
        "dynamodb",
        # Bounded retries with backoff for throttling; enough pooled
        # connections for the fan-out's threads.
        config=Config(
            retries={"mode": "standard", "max_attempts": 4},
            max_pool_connections=max(10, settings.get().fanout_threads),
        ),
    )


# ---------------------------------------------------- the container's repositories


@lazy.cached()
def users() -> Users:
    return Users(client(), settings.get().users_table)


@lazy.cached()
def sessions() -> Sessions:
    return Sessions(client(), settings.get().sessions_table, clock.get())


@lazy.cached()
def connections() -> Connections:
    config = settings.get()
    return Connections(
        client(), config.connections_table, config.user_index, config.room_index,
        config.connection_ttl_seconds,
    )


@lazy.cached()
def messages() -> Messages:
    config = settings.get()
    return Messages(
        client(), config.messages_table, config.rooms_table, config.guards_table,
        config.client_id_ttl_seconds, config.memberships_table,
    )


@lazy.cached()
def rooms() -> Rooms:
    return Rooms(client(), settings.get().rooms_table, settings.index_name("rooms", "listed"))


@lazy.cached()
def roles() -> Roles:
    """Roles, bans and entering (the memberships table; store/roles.py)."""
    return Roles(
        client(), settings.get().memberships_table,
        settings.index_name("memberships", "username_key"),
    )


@lazy.cached()
def memberships() -> MembershipRecords:
    """Read markers and presence sets (the memberships table; store/memberships.py)."""
    return MembershipRecords(client(), settings.get().memberships_table)


@lazy.cached()
def guards() -> Guards:
    return Guards(client(), settings.get().guards_table)


@lazy.cached()
def connection_slots() -> ConnectionSlots:
    config = settings.get()
    return ConnectionSlots(client(), config.guards_table, config.connection_ttl_seconds)


@lazy.cached()
def room_occupancy() -> RoomOccupancy:
    return RoomOccupancy(client(), settings.get().guards_table)


@lazy.cached()
def blocks() -> Blocks:
    return Blocks(client(), settings.get().blocks_table)


@lazy.cached()
def reports() -> Reports:
    return Reports(
        client(), settings.get().reports_table, settings.index_name("reports", "listed")
    )


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


# Read markers and presence sets: chalicelib/store/memberships.py.


class Together(NamedTuple):
    """What one frame reads of its connection, room and membership (read_together)."""

    connection: Connection | None  # None: not asked for, or no record
    room: Room | None  # None: never created
    access: Access
    state: RoomState  # the room's revision and message count
    read_marker: str | None  # the user's read marker in the room (None: no membership)


def read_together(connection_id: str | None, username: str, room: str) -> Together:
    """A connection's record (when an id is given), a room, and a user's membership of it.

    What Connections.get, Rooms.get, Roles.get and Messages.room_state read,
    strongly consistent, in one BatchGetItem: a frame's connection, its access
    check and the revision its change is tried at come from one call.
    """
    config = settings.get()
    rooms_table, memberships_table = config.rooms_table, config.memberships_table
    request: dict[str, Any] = {
        rooms_table: {
            "Keys": [{"room": _s(room)}],
            "ConsistentRead": True,
            "ProjectionExpression": f"{ROOM_PROJECTION}, rev, messages",
            "ExpressionAttributeNames": ROOM_NAMES,
        },
        memberships_table: {
            "Keys": [{"username_key": _s(username.lower()), "room": _s(room)}],
            "ConsistentRead": True,
            "ProjectionExpression": f"{ACCESS_PROJECTION}, read_marker",
            "ExpressionAttributeNames": ACCESS_NAMES,
        },
    }
    if connection_id is not None:
        request[config.connections_table] = {
            "Keys": [{"connection_id": _s(connection_id)}], "ConsistentRead": True,
        }
    found: dict[str, dict[str, Any]] = {}
    while request:  # DynamoDB may leave keys unprocessed (throttled): ask again for those
        answer = client().batch_get_item(RequestItems=request)
        for table, items in answer["Responses"].items():
            if items:
                found[table] = items[0]
        request = answer.get("UnprocessedKeys") or {}
    room_item, membership = found.get(rooms_table), found.get(memberships_table, {})
    connection = found.get(config.connections_table)
    return Together(
        None if connection is None else connection_from_item(connection),
        None if room_item is None else room_from_item(room, room_item),
        access_from_item(membership),
        room_state_from_item(room_item or {}),
        membership.get("read_marker", {}).get("S"),
    )


class RoomActivity(NamedTuple):
    last_message_at: str | None
    unread: int


def room_activity(room: str, read_marker: str, unread_max: int) -> RoomActivity:
    """The newest message's time and how many are newer than the marker (up to unread_max).

    One Query for up to unread_max unread messages, newest first (its first item is
    the newest); only a room with nothing unread needs a second, for its newest
    message. Both read at most unread_max items: cost never follows history size.
    """
    table = settings.get().messages_table
    unread = client().query(
        TableName=table,
        KeyConditionExpression="room = :room AND id > :marker",
        ExpressionAttributeValues={":room": _s(room), ":marker": _s(read_marker)},
        ScanIndexForward=False,
        Limit=unread_max,
        ProjectionExpression="sent_at",
    )["Items"]
    if unread:
        return RoomActivity(unread[0]["sent_at"]["S"], len(unread))
    newest = client().query(
        TableName=table,
        KeyConditionExpression="room = :room",
        ExpressionAttributeValues={":room": _s(room)},
        ScanIndexForward=False,
        Limit=1,
        ProjectionExpression="sent_at",
    )["Items"]
    return RoomActivity(newest[0]["sent_at"]["S"] if newest else None, 0)
