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
from chalicelib.store import messages as messages_module
from chalicelib.store.blocks import Blocks
from chalicelib.store.connection_slots import ConnectionSlots
from chalicelib.store.connections import Connections
from chalicelib.store.guards import Guards
from chalicelib.store.messages import Messages
from chalicelib.store.reports import Reports
from chalicelib.store.room_occupancy import RoomOccupancy
from chalicelib.store.rooms import Rooms
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
        config.client_id_ttl_seconds,
    )


@lazy.cached()
def rooms() -> Rooms:
    return Rooms(client(), settings.get().rooms_table, settings.index_name("rooms", "listed"))


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


# ---------------------------------------------------------------- memberships


def _membership_key(username: str, room: str) -> Item:
    return {"username_key": _s(username.lower()), "room": _s(room)}


def add_present_connection(username: str, room: str, connection_id: str) -> bool:
    """Count a connection in the user's room; True when no other of theirs is there.

    A string-set ADD is idempotent, so a redelivered stream record changes nothing
    (and says `online` again, which clients take as it is).
    """
    old = client().update_item(
        TableName=settings.get().memberships_table,
        Key=_membership_key(username, room),
        UpdateExpression="ADD connections :one",
        ExpressionAttributeValues={":one": {"SS": [connection_id]}},
        ReturnValues="ALL_OLD",  # (moto leaves an unchanged set out of UPDATED_OLD)
    ).get("Attributes", {})
    return not set(old.get("connections", {}).get("SS", [])) - {connection_id}


def remove_present_connection(username: str, room: str, connection_id: str) -> bool:
    """Stop counting a connection in a room; True when it was the user's last one there."""
    return not remove_present_connections(username, room, [connection_id])


def remove_present_connections(username: str, room: str, connection_ids: list[str]) -> set[str]:
    """Stop counting these connections in a room; the user's connections still counted there."""
    try:
        new = client().update_item(
            TableName=settings.get().memberships_table,
            Key=_membership_key(username, room),
            UpdateExpression="DELETE connections :gone",
            ConditionExpression="attribute_exists(room)",
            ExpressionAttributeValues={":gone": {"SS": connection_ids}},
            ReturnValues="ALL_NEW",
        ).get("Attributes", {})
    except client().exceptions.ConditionalCheckFailedException:
        return set()  # no membership (forgotten at a restart): nobody of theirs counted here
    return set(new.get("connections", {}).get("SS", []))


# -------------------------------------------------- memberships: read markers


def initial_read_marker(room_rev: int) -> str:
    """A marker past every id of the room at revision room_rev, below every later one.

    Ids are zero-padded seqs (store/messages.py); the `~` makes the marker no id
    itself, so `read` frames can tell it from a message the user marked.
    """
    return f"{messages_module.message_id(room_rev)}~"


def enter_room(username: str, room: str, now_ms: int) -> None:
    """Record the user's membership of a room (first entry time and marker kept once)."""
    client().update_item(
        TableName=settings.get().memberships_table,
        Key=_membership_key(username, room),
        UpdateExpression=(
            "SET username = :username, entered_at = if_not_exists(entered_at, :now), "
            "read_marker = if_not_exists(read_marker, :marker)"
        ),
        ExpressionAttributeValues={
            ":username": _s(username),
            ":now": _n(now_ms),
            # The room's state when first entered (an eventually consistent read:
            # a message committed a moment before may count as read).
            ":marker": _s(initial_read_marker(messages().room_rev(room, consistent=False))),
        },
    )


def move_read_marker(username: str, room: str, message_id: str) -> str:
    """Move the user's marker for the room forward to `message_id`; the marker as it now is."""
    try:
        client().update_item(
            TableName=settings.get().memberships_table,
            Key=_membership_key(username, room),
            UpdateExpression="SET read_marker = :id",
            ConditionExpression="attribute_exists(room) AND read_marker < :id",
            ExpressionAttributeValues={":id": _s(message_id)},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        return message_id
    except client().exceptions.ConditionalCheckFailedException as failed:
        old = failed.response.get("Item") or {}
    return str(old.get("read_marker", {}).get("S", message_id))


class Membership(NamedTuple):
    room: str
    read_marker: str
    kind: str = "public"  # the access attributes (issue 19; chalicelib/store/roles.py)
    role: str = "member"
    with_user: str | None = None


def memberships(username: str) -> list[Membership]:
    """Every room the user has entered, with their read marker (a Query on their key)."""
    pages = client().get_paginator("query").paginate(
        TableName=settings.get().memberships_table,
        KeyConditionExpression="username_key = :key",
        ExpressionAttributeValues={":key": _s(username.lower())},
        ProjectionExpression="room, read_marker",
    )
    return [
        Membership(item["room"]["S"], item["read_marker"]["S"])
        for page in pages for item in page["Items"] if "read_marker" in item
    ]


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
