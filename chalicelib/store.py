"""Every DynamoDB call the backend makes (nothing else imports DynamoDB).

Uses the low-level client, not the resource layer: it is what a cold Lambda
can create fastest, and the items are small enough to write out by hand.
Tables and their keys are defined in tables.json; names come from settings.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from botocore.config import Config

from chalicelib import aws, errors, lazy, settings
from chalicelib.model import Message

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


# ------------------------------------------------------- guards: login window


def _login_guard_key(username: str) -> dict[str, dict[str, str]]:
    return {"guard_key": _s(f"login#{username.lower()}")}


def recent_login_failures(username: str, now_s: int, window_s: int) -> int:
    """How many logins failed for this name in its current window."""
    item = client().get_item(
        TableName=settings.get().guards_table,
        Key=_login_guard_key(username),
        ConsistentRead=True,
    ).get("Item")
    if item is None or int(item["window_start"]["N"]) + window_s <= now_s:
        return 0
    return int(item["failures"]["N"])


def record_login_failure(username: str, now_s: int, window_s: int) -> None:
    """Count a failed login: in the open window, or in a new one starting now."""
    table, key = settings.get().guards_table, _login_guard_key(username)
    values = {":one": _n(1), ":cutoff": _n(now_s - window_s)}
    for _ in range(3):  # two conditional writes race only with each other
        try:
            client().update_item(
                TableName=table,
                Key=key,
                UpdateExpression="SET failures = failures + :one",
                ConditionExpression="window_start > :cutoff",
                ExpressionAttributeValues=values,
            )
            return
        except client().exceptions.ConditionalCheckFailedException:
            pass
        try:
            client().put_item(
                TableName=table,
                Item={
                    **key,
                    "failures": _n(1),
                    "window_start": _n(now_s),
                    "ttl": _n(now_s + window_s),
                },
                ConditionExpression="attribute_not_exists(guard_key) OR window_start <= :cutoff",
                ExpressionAttributeValues={":cutoff": values[":cutoff"]},
            )
            return
        except client().exceptions.ConditionalCheckFailedException:
            pass


def clear_login_failures(username: str) -> None:
    client().delete_item(TableName=settings.get().guards_table, Key=_login_guard_key(username))


# ---------------------------------------------------------------- connections


class Connection(NamedTuple):
    connection_id: str
    username: str
    room: str


def _connection(item: Item) -> Connection:
    return Connection(item["connection_id"]["S"], item["username"]["S"], item["room"]["S"])


def put_connection(connection_id: str, username: str, room: str, now_s: int) -> None:
    """Register a connection; its TTL outlives API Gateway's 2-hour connection limit."""
    config = settings.get()
    client().put_item(
        TableName=config.connections_table,
        Item={
            "connection_id": _s(connection_id),
            "username": _s(username),
            "room": _s(room),
            "connected_at": _n(now_s),
            "ttl": _n(now_s + config.connection_ttl_seconds),
            "rate_opened": _n(0),
            "rate_count": _n(0),
        },
    )


def delete_connection(connection_id: str) -> None:
    client().delete_item(
        TableName=settings.get().connections_table, Key={"connection_id": _s(connection_id)}
    )


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


# The two per-user allowances of PROTOCOL.md (sendMessage/editMessage/deleteMessage;
# getMessages/getMembers/joinRoom/markRead/ping).
WRITES, READS = "writes", "reads"


def take_allowance(connection_id: str, allowance: str, now_s: int) -> Connection:
    """The frame's connection, counting the frame against the named allowance.

    TooManyRequests over the allowance; ConnectionGone when not registered.
    """
    if allowance == WRITES:
        return take_send_allowance(connection_id, now_s)
    return get_connection(connection_id)


def take_send_allowance(connection_id: str, now_s: int) -> Connection:
    """Count one message against the connection's rate limit.

    A window opens at the first message after the last one closed and lasts
    the configured seconds, so a quick burst of limit + 1 messages always meets
    the limit (windows aligned to the clock let a burst through that straddles
    their boundary).
    One conditional update in the common case: it both counts and returns the
    connection's user and room. TooManyRequests when the window is full;
    ConnectionGone when the connection is not registered.
    """
    config = settings.get()
    limit, window = config.rate_limit_messages, config.rate_limit_window_seconds
    if limit == 0:
        return get_connection(connection_id)
    table, key = config.connections_table, {"connection_id": _s(connection_id)}
    cutoff = now_s - window  # a window that opened at or before this has closed
    for _ in range(3):
        try:
            count = client().update_item(
                TableName=table,
                Key=key,
                UpdateExpression="SET rate_count = rate_count + :one",
                ConditionExpression=(
                    "attribute_exists(connection_id) AND rate_opened > :cutoff "
                    "AND rate_count < :limit"
                ),
                ExpressionAttributeValues={
                    ":one": _n(1), ":cutoff": _n(cutoff), ":limit": _n(limit)
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return _connection(count["Attributes"])
        except client().exceptions.ConditionalCheckFailedException as failed:
            old = failed.response.get("Item")
        if old is None:
            raise errors.ConnectionGone("this connection is not registered; reconnect")
        # Records written before this window scheme (or by hand) have no rate_opened.
        if int(old.get("rate_opened", {"N": "0"})["N"]) > cutoff:
            raise errors.TooManyRequests(
                f"more than {limit} messages in {window} seconds; slow down"
            )
        try:  # the last window has closed: open one now, counting this message
            count = client().update_item(
                TableName=table,
                Key=key,
                UpdateExpression="SET rate_opened = :now, rate_count = :one",
                ConditionExpression=(
                    "attribute_exists(connection_id) AND "
                    "(attribute_not_exists(rate_opened) OR rate_opened <= :cutoff)"
                ),
                ExpressionAttributeValues={
                    ":now": _n(now_s), ":one": _n(1), ":cutoff": _n(cutoff)
                },
                ReturnValues="ALL_NEW",
            )
            return _connection(count["Attributes"])
        except client().exceptions.ConditionalCheckFailedException:
            continue  # another frame opened the window first: count in it
    raise errors.TooManyRequests("message rate could not be checked; try again")


def room_connections(room: str) -> list[str]:
    """Ids of every connection in a room: a Query on the room index, never a Scan."""
    config = settings.get()
    paginator = client().get_paginator("query")
    pages = paginator.paginate(
        TableName=config.connections_table,
        IndexName=config.room_index,
        KeyConditionExpression="room = :room",
        ExpressionAttributeValues={":room": _s(room)},
        ProjectionExpression="connection_id",
    )
    return [item["connection_id"]["S"] for page in pages for item in page["Items"]]


# ------------------------------------------------------------------- messages


def message_from_item(item: Item) -> Message:
    """A stored item, or a stream record's NewImage (the same raw shape), as a Message."""
    def optional(name: str) -> str | None:
        value = item.get(name)
        return value["S"] if value else None

    return Message(
        room=item["room"]["S"],
        id=item["id"]["S"],
        sender=item["sender"]["S"],
        text=item["text"]["S"],
        sent_at=item["sent_at"]["S"],
        client_id=optional("client_id"),
        edited_at=optional("edited_at"),
        edit_client_id=optional("edit_client_id"),
        deleted=item.get("deleted", {}).get("BOOL", False),
    )


def put_message(message: Message, now_s: int) -> bool:
    """Store a message; False if its clientId was already stored for this user and room.

    With a clientId the message and an idempotency marker are written in one
    transaction, the marker only if absent, so a retried send stores nothing.
    """
    config = settings.get()
    item: Item = {
        "room": _s(message.room),
        "id": _s(message.id),
        "sender": _s(message.sender),
        "text": _s(message.text),
        "sent_at": _s(message.sent_at),
    }
    put = {
        "TableName": config.messages_table,
        "Item": item,
        "ConditionExpression": "attribute_not_exists(id)",
    }
    if message.client_id is None:
        try:
            client().put_item(**put)
        except client().exceptions.ConditionalCheckFailedException:
            # The id is new to this call, so the item that is there is this very
            # message: an earlier attempt was stored but its answer was lost.
            pass
        return True
    item["client_id"] = _s(message.client_id)
    marker = {
        "TableName": config.guards_table,
        "Item": {
            "guard_key": _s(
                f"client#{message.room}#{message.sender.lower()}#{message.client_id}"
            ),
            "message_id": _s(message.id),
            "ttl": _n(now_s + config.client_id_ttl_seconds),
        },
        "ConditionExpression": "attribute_not_exists(guard_key)",
    }
    try:
        client().transact_write_items(TransactItems=[{"Put": marker}, {"Put": put}])
    except client().exceptions.TransactionCanceledException as cancelled:
        reasons = cancelled.response.get("CancellationReasons") or []
        if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
            return False
        raise
    return True


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
