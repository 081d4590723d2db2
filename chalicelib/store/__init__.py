"""Every DynamoDB call the backend makes (nothing else imports DynamoDB).

Uses the low-level client, not the resource layer: it is what a cold Lambda
can create fastest, and the items are small enough to write out by hand.
Tables and their keys are defined in tables.json; names come from settings.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

from botocore.config import Config

from chalicelib import aws, errors, lazy, settings
from chalicelib.model import Message
from chalicelib.store.messages import Messages, message_from_item

__all__ = ["message_from_item"]  # re-exported: stream records become Messages with it

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


@lazy.cached()
def messages() -> Messages:
    """The container's messages repository (chalicelib/store/messages.py)."""
    config = settings.get()
    return Messages(
        client(), config.messages_table, config.rooms_table, config.guards_table,
        config.client_id_ttl_seconds,
    )


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


# ---------------------------------------------------------------------- users


class User(NamedTuple):
    username: str
    password_hash: str


def create_user(username: str, password_hash: str, created_at: str) -> None:
    """Store a new user; UsernameTaken if the name exists in any case (one conditional put)."""
    try:
        client().put_item(
            TableName=settings.get().users_table,
            Item={
                "username_key": _s(username.lower()),
                "username": _s(username),
                "password_hash": _s(password_hash),
                "created_at": _s(created_at),
            },
            ConditionExpression="attribute_not_exists(username_key)",
        )
    except client().exceptions.ConditionalCheckFailedException:
        raise errors.UsernameTaken("that username is taken") from None


def get_user(username: str) -> User | None:
    """The user with this name, ignoring case, or None."""
    item = client().get_item(
        TableName=settings.get().users_table,
        Key={"username_key": _s(username.lower())},
        ConsistentRead=True,
    ).get("Item")
    if item is None:
        return None
    return User(item["username"]["S"], item["password_hash"]["S"])


# ------------------------------------------------------------- guards: windows
# A window counts hits against a limit. It opens at its first hit and lasts
# window_s seconds, so a quick burst of limit + 1 always meets the limit
# (windows aligned to the clock let a burst through that straddles a boundary).
# Counting is one conditional update: parallel callers can never all pass.


def take_from_window(guard_key: str, limit: int, window_s: int, now_s: int) -> int:
    """Count one hit; 0 if it fits the window, else the seconds until the window closes."""
    table, key = settings.get().guards_table, {"guard_key": _s(guard_key)}
    cutoff = now_s - window_s  # a window that opened at or before this has closed
    for _ in range(3):
        try:
            client().update_item(
                TableName=table,
                Key=key,
                UpdateExpression="SET hits = hits + :one",
                ConditionExpression="opened_at > :cutoff AND hits < :limit",
                ExpressionAttributeValues={
                    ":one": _n(1), ":cutoff": _n(cutoff), ":limit": _n(limit)
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return 0
        except client().exceptions.ConditionalCheckFailedException as failed:
            old = failed.response.get("Item")
        if old is not None and int(old["opened_at"]["N"]) > cutoff:
            return min(max(1, int(old["opened_at"]["N"]) - cutoff), window_s)
        try:  # no window, or it has closed: open one now with this hit
            client().put_item(
                TableName=table,
                Item={**key, "hits": _n(1), "opened_at": _n(now_s), "ttl": _n(now_s + window_s)},
                ConditionExpression="attribute_not_exists(guard_key) OR opened_at <= :cutoff",
                ExpressionAttributeValues={":cutoff": _n(cutoff)},
            )
            return 0
        except client().exceptions.ConditionalCheckFailedException:
            continue  # another caller opened it first: count in it
    return window_s  # contended three times over: refuse rather than guess


def give_back_to_window(guard_key: str) -> None:
    """Undo one hit (a reserved attempt that turned out not to count)."""
    try:
        client().update_item(
            TableName=settings.get().guards_table,
            Key={"guard_key": _s(guard_key)},
            UpdateExpression="SET hits = hits - :one",
            ConditionExpression="hits > :zero",
            ExpressionAttributeValues={":one": _n(1), ":zero": _n(0)},
        )
    except client().exceptions.ConditionalCheckFailedException:
        pass  # the window was gone or empty already


def forget_window(guard_key: str) -> None:
    client().delete_item(TableName=settings.get().guards_table, Key={"guard_key": _s(guard_key)})


# ------------------------------------------------------------------- sessions
# The sessions table has its own repository: chalicelib/store/sessions.py.


# ---------------------------------------------------------------- connections


class Connection(NamedTuple):
    connection_id: str
    username: str
    room: str
    token_exp: int | None = None  # None: a record from before tokens were stored
    session_id: str | None = None  # the session whose token opened it (auth.py)


def _connection(item: Item) -> Connection:
    token_exp, session_id = item.get("token_exp"), item.get("session_id")
    return Connection(
        item["connection_id"]["S"],
        item["username"]["S"],
        item.get("room", {}).get("S", ""),  # "": removed from its room, in none (issue 19)
        int(token_exp["N"]) if token_exp else None,
        session_id["S"] if session_id else None,
    )


def put_connection(
    connection_id: str, username: str, room: str, now_s: int, token_exp: int,
    session_id: str | None = None,
) -> None:
    """Register a connection; its TTL outlives API Gateway's 2-hour connection limit."""
    config = settings.get()
    client().put_item(
        TableName=config.connections_table,
        Item={
            "connection_id": _s(connection_id),
            "username": _s(username),
            "username_key": _s(username.lower()),
            "room": _s(room),
            "connected_at": _n(now_s),
            "token_exp": _n(token_exp),
            "ttl": _n(now_s + config.connection_ttl_seconds),
            **({"session_id": _s(session_id)} if session_id else {}),
        },
    )


def delete_connection(connection_id: str) -> Connection | None:
    """Forget a connection; returns its record as it was (None: there was none)."""
    old = client().delete_item(
        TableName=settings.get().connections_table,
        Key={"connection_id": _s(connection_id)},
        ReturnValues="ALL_OLD",
    ).get("Attributes")
    return _connection(old) if old else None


def existing_connections(connection_ids: list[str], room: str | None = None) -> set[str]:
    """Which of these connection ids still have a record (in `room`, when given).

    Strongly consistent: one BatchGetItem per 100 ids.
    """
    table = settings.get().connections_table
    found: set[str] = set()
    for first in range(0, len(connection_ids), 100):
        keys = [{"connection_id": _s(cid)} for cid in connection_ids[first:first + 100]]
        while keys:
            answer = client().batch_get_item(RequestItems={table: {
                "Keys": keys, "ConsistentRead": True,
                "ProjectionExpression": "connection_id, room",
            }})
            found.update(
                item["connection_id"]["S"] for item in answer["Responses"].get(table, [])
                if room is None or item.get("room", {}).get("S") == room
            )
            keys = answer.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
    return found


def get_connection(connection_id: str) -> Connection:
    """The connection's user and room, or ConnectionGone."""
    item = client().get_item(
        TableName=settings.get().connections_table,
        Key={"connection_id": _s(connection_id)},
        ConsistentRead=True,
    ).get("Item")
    if item is None:
        raise errors.ConnectionGone("this connection is not registered; reconnect")
    return _connection(item)


def move_connection(connection_id: str, room: str) -> None:
    """Put the connection in another room (ConnectionGone if it is not registered)."""
    try:
        client().update_item(
            TableName=settings.get().connections_table,
            Key={"connection_id": _s(connection_id)},
            UpdateExpression="SET room = :room",
            ConditionExpression="attribute_exists(connection_id)",
            ExpressionAttributeValues={":room": _s(room)},
        )
    except client().exceptions.ConditionalCheckFailedException:
        raise errors.ConnectionGone("this connection is not registered; reconnect") from None


def leave_room(connection_id: str, room: str) -> bool:
    """Take the connection out of `room` (into no room); False when it was not in it.

    With no `room` attribute the connection drops out of the room index, which
    the fan-out reads: no frame of the room reaches it from then on.
    """
    try:
        client().update_item(
            TableName=settings.get().connections_table,
            Key={"connection_id": _s(connection_id)},
            UpdateExpression="REMOVE room",
            ConditionExpression="room = :room",
            ExpressionAttributeValues={":room": _s(room)},
        )
    except client().exceptions.ConditionalCheckFailedException:
        return False
    return True


# The two per-user allowances of PROTOCOL.md (sendMessage/editMessage/deleteMessage;
# getMessages/getMembers/joinRoom/markRead/ping).
# INVALID counts frames refused as malformed (a flood of them is rate_limited too).
WRITES, READS, INVALID = "writes", "reads", "invalid"
_COUNTED = {WRITES: "messages, edits and deletes", READS: "requests", INVALID: "invalid frames"}


def take_allowance(connection_id: str, allowance: str | None, now_s: int) -> Connection:
    """The frame's connection, its frame counted against the user's named allowance.

    One read of the connection (which carries its token's expiry) and, with an
    allowance named and on, one conditional update of the user's window in guards, shared
    by all the user's connections. Unauthorized once the token has expired;
    TooManyRequests over the allowance; ConnectionGone when not registered.
    """
    connection = get_connection(connection_id)
    if connection.token_exp is not None and connection.token_exp <= now_s:
        raise errors.Unauthorized("your token has expired; log in again")
    if allowance is None:  # typing: thinned per connection instead (pass_typing)
        return connection
    config = settings.get()
    limit = {WRITES: config.rate_limit_writes, READS: config.rate_limit_reads,
             INVALID: config.rate_limit_invalid}[allowance]
    if limit:
        window = config.rate_limit_window_seconds
        key = f"rate#{allowance}#{connection.username.lower()}"
        if take_from_window(key, limit, window, now_s):
            raise errors.TooManyRequests(
                f"more than {limit} {_COUNTED[allowance]} in {window} seconds; slow down"
            )
    return connection


def room_connection_pages(room: str, page_size: int | None = None) -> Iterator[list[str]]:
    """A room's connection ids, page by page (at most page_size each), read as needed."""
    config = settings.get()
    paginator = client().get_paginator("query")
    pages = paginator.paginate(
        TableName=config.connections_table,
        IndexName=config.room_index,
        KeyConditionExpression="room = :room",
        ExpressionAttributeValues={":room": _s(room)},
        ProjectionExpression="connection_id",
        **({"Limit": page_size} if page_size else {}),
    )
    for page in pages:
        if page["Items"]:
            yield [item["connection_id"]["S"] for item in page["Items"]]


# ------------------------------------------------------------------- messages


def messages_by_id(room: str, message_ids: list[str]) -> list[Message]:
    """The messages of a room with these ids, in that order (missing ones left out)."""
    found = []
    for message_id in message_ids:
        item = client().get_item(
            TableName=settings.get().messages_table,
            Key={"room": _s(room), "id": _s(message_id)},
            ConsistentRead=True,
        ).get("Item")
        if item is not None:
            found.append(message_from_item(item))
    return found


def message_page(
    room: str, limit: int, before: str | None = None, after: str | None = None
) -> tuple[list[Message], bool]:
    """Up to `limit` messages of a room, oldest first, and whether more exist that way.

    One Query reading limit + 1 items: the newest, those just before `before`,
    or those just after `after`; cost follows the page, not the history.
    """
    condition, values = "room = :room", {":room": _s(room)}
    if before is not None:
        condition, values[":cursor"] = condition + " AND id < :cursor", _s(before)
    elif after is not None:
        condition, values[":cursor"] = condition + " AND id > :cursor", _s(after)
    response = client().query(
        TableName=settings.get().messages_table,
        KeyConditionExpression=condition,
        ExpressionAttributeValues=values,
        ScanIndexForward=after is not None,
        Limit=limit + 1,
        ConsistentRead=True,
    )
    items = response["Items"]
    page = [message_from_item(item) for item in items[:limit]]
    if after is None:
        page.reverse()
    return page, len(items) > limit


def find_message(room: str, message_id: str) -> Message | None:
    """The message with this id in the room, or None (a Query on the key)."""
    items = client().query(
        TableName=settings.get().messages_table,
        KeyConditionExpression="room = :room AND id = :id",
        ExpressionAttributeValues={":room": _s(room), ":id": _s(message_id)},
        ConsistentRead=True,
    )["Items"]
    return message_from_item(items[0]) if items else None


# ------------------------------------------------------------------ presence


def room_occupants(room: str) -> list[tuple[str, str]]:
    """(connection id, username) of every connection in a room: one Query on the room index."""
    config = settings.get()
    pages = client().get_paginator("query").paginate(
        TableName=config.connections_table,
        IndexName=config.room_index,
        KeyConditionExpression="room = :room",
        ExpressionAttributeValues={":room": _s(room)},
        ProjectionExpression="connection_id, username",
    )
    return [
        (item["connection_id"]["S"], item["username"]["S"])
        for page in pages for item in page["Items"]
    ]


def pass_typing(typist: str, now_ms: int, interval_ms: int) -> bool:
    """Whether a typing frame from this typist (a user in a room) is passed on (one per interval).

    The last time passed on lives in guards (`typing#<typist>`), shared by
    every container and on no streamed table; one conditional put decides.
    """
    try:
        client().put_item(
            TableName=settings.get().guards_table,
            Item={
                "guard_key": _s(f"typing#{typist}"),
                "passed_at": _n(now_ms),
                "ttl": _n(now_ms // 1000 + 60),
            },
            ConditionExpression="attribute_not_exists(guard_key) OR passed_at <= :cutoff",
            ExpressionAttributeValues={":cutoff": _n(now_ms - interval_ms)},
        )
    except client().exceptions.ConditionalCheckFailedException:
        return False
    return True


# Read markers and presence sets: chalicelib/store/memberships.py.


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
