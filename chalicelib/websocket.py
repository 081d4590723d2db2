"""What each WebSocket route does: $connect, $default (the actions), $disconnect.

This is the WebSocket edge: domain errors become error frames here, in one
place, and nothing a client sends can escape as an exception.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from chalicelib import (
    access,
    allowances,
    auth,
    clock,
    connection_cap,
    errors,
    ids,
    lazy,
    observability,
    order,
    presence,
    protocol,
    settings,
    store,
)
from chalicelib.connections_api import ConnectionsAPI, Delivery
from chalicelib.settings import LIMITS
from chalicelib.store.connections import Connection
from chalicelib.store.connections import gone as connection_gone
from chalicelib.store.messages import Draft

log = logging.getLogger(__name__)



def connect(event: dict[str, Any]) -> dict[str, int]:
    """$connect: accept a valid token and room, or refuse the upgrade (401 / 400 / 429)."""
    query = event.get("queryStringParameters") or {}
    now_ms = clock.now_ms()  # the one instant of this handshake
    try:
        claims = auth.authenticate(query.get("token"), now_ms // 1000)
        room = protocol.validate_room(query.get("room", LIMITS.default_room))
        connection_id = event["requestContext"]["connectionId"]
        access.enter(claims.username, room, now_ms, ids.iso_utc(now_ms))  # 403: not theirs
        # One conditional write on the user's slots: racing handshakes cannot pass the cap.
        connection_cap.take(claims.username, connection_id, now_ms // 1000)
    except errors.ChatError as refused:
        log.info("refused connect: %s", refused.message)
        return {"statusCode": refused.status}
    try:
        store.connections().put(
            connection_id,
            claims.username,
            room,
            now_ms // 1000,
            # The connection lives as long as its session (its frames check that),
            # not as long as the 15-minute access token that opened it.
            token_exp=claims.session_expires or claims.expires,
            session_id=claims.session_id,
        )
    except Exception:
        connection_cap.give_back(claims.username, connection_id)
        raise
    # Registered on the session item under the condition that it has not ended:
    # a logout running now either sees this connection or makes this fail.
    if not store.sessions().attach_connection(claims.session_id, connection_id, now_ms // 1000):
        store.connections().delete(connection_id)
        connection_cap.give_back(claims.username, connection_id)
        log.info("refused connect: the session ended while connecting")
        return {"statusCode": 401}
    observability.count("ConnectionsOpened")
    return {"statusCode": 200}


def disconnect(connection_id: str) -> None:
    """$disconnect: forget the connection, give back its slot, take it off its session."""
    gone = store.connections().delete(connection_id)
    observability.count("ConnectionsClosed")
    if gone is not None:
        connection_cap.give_back(gone.username, connection_id)
        if gone.session_id:
            store.sessions().detach_connection(gone.session_id, connection_id)


def handle_frame(connections: ConnectionsAPI, connection_id: str, body: str | None) -> None:
    """$default: run the frame's action; any failure becomes an error frame to this connection."""
    unauthorized = False
    try:
        now_ms = clock.now_ms()  # the frame's one instant (wall time unless a test set it)
        now_s = now_ms // 1000
        try:
            frame = protocol.parse_frame(body)
        except errors.InvalidInput:
            _count_invalid(connection_id, now_s)
            raise
        run, allowance = _ACTIONS[type(frame.action)]
        in_room = frame.name not in _ANYWHERE
        connection, read = _read(connection_id, in_room)
        _admit(connection_id, allowance, now_s, connection)
        standing = None
        if in_room:  # access is checked where it is stored, every frame
            standing = access.check_action(
                connection.username, connection.room, frame.name, read
            )
        log.debug("%s from %s in room %s", frame.name, connection_id, connection.room)
        reply = run(connections, connection, frame.action, now_ms, standing)
    except errors.ChatError as failure:
        reply = protocol.error_frame(failure.code, failure.message, protocol.echoed_fields(body))
        unauthorized = isinstance(failure, (errors.Unauthorized, _Flooding))
    except Exception:
        log.exception("frame from %s failed", connection_id)
        reply = protocol.error_frame(
            "internal", "the server could not handle this frame; try again",
            protocol.echoed_fields(body),
        )
    if reply is not None:
        send(connections, connection_id, reply)
    if unauthorized:  # the token expired: this connection is done
        close(connections, connection_id)


class _Flooding(errors.TooManyRequests):
    """Invalid frames kept coming after rate_limited: answered so, then the connection closes."""


class _Rooms:
    """Connection id → (user, room) of its last frame on this instance: what to read with it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: dict[str, tuple[str, str]] = {}


@lazy.cached()
def _rooms() -> _Rooms:
    return _Rooms()


def _read(connection_id: str, in_room: bool) -> tuple[Connection, access.Standing | None]:
    """The frame's connection record, and the user's standing in its room when read with it.

    A frame acting in a room needs the connection (which names the room) and
    then the room with the user's membership. Where this instance saw the
    connection before, it reads all three in one BatchGetItem, taking the room
    the connection was in; every one is read fresh (strongly consistent), only
    the choice of room is remembered. When the connection has moved since, the
    standing is None (check_action reads the right room).
    """
    rooms = _rooms()
    with rooms.lock:
        guess = rooms.seen.get(connection_id) if in_room else None
    if guess is None:
        connection, standing = store.connections().get(connection_id), None
    else:
        read = store.frame_reads().read(connection_id, *guess)
        if read.connection is None:
            raise connection_gone()
        connection = read.connection
        same = (connection.username, connection.room) == guess
        standing = access.standing_from(*guess, read) if same else None
    if in_room and connection.room:
        with rooms.lock:
            if len(rooms.seen) > 10_000:  # bounded: a warm container meets many connections
                rooms.seen.clear()
            rooms.seen[connection_id] = (connection.username, connection.room)
    return connection, standing


def _admit(
    connection_id: str, allowance: str | None, now_s: int, connection: Connection | None = None
) -> Connection:
    """The frame's connection, its frame counted against the user's named allowance.

    One read of the connection (it carries its token's expiry and its session;
    not read again when given) and, with an allowance named, one count in the
    user's window. Unauthorized once the token has expired or the session
    ended; TooManyRequests over the allowance; ConnectionGone when not registered.
    """
    if connection is None:
        connection = store.connections().get(connection_id)
    auth.check_not_expired(connection.token_exp, now_s)
    if allowance is not None:  # typing: thinned per connection instead (pass_typing)
        allowances.take(connection.username, allowance, now_s)
    if connection.session_id and not auth.session_is_live(connection.session_id, now_s):
        raise errors.Unauthorized("this session has ended; log in again")
    return connection


def _count_invalid(connection_id: str, now_s: int) -> None:
    """Count a malformed frame against its user: rate_limited past the allowance, then closed.

    Past the allowance, each further invalid frame counts in a second window of
    the same size; when that one is full too, the connection is closed.
    """
    try:
        _admit(connection_id, allowances.INVALID, now_s)
    except errors.ConnectionGone:
        return  # nobody to count it against: the frame still gets its bad_request
    except errors.TooManyRequests as limited:
        config = settings.get()
        key = f"rate#invalid-over#{connection_id}"
        window = config.rate_limit_window_seconds
        if store.guards().take_from_window(key, config.rate_limit_invalid, window, now_s):
            raise _Flooding(limited.message + "; closing this connection") from None
        raise


def send(connections: ConnectionsAPI, connection_id: str, frame: dict[str, Any]) -> None:
    """Send one frame to the requesting connection; a client gone meanwhile is not an error."""
    connections.send(connection_id, protocol.encode(frame))


def close(connections: ConnectionsAPI, connection_id: str) -> None:
    """Close a connection from the server side (every close the backend makes goes here)."""
    if connections.delete(connection_id) is Delivery.GONE:
        log.info("connection %s was already gone", connection_id)


# Each action takes the Management API client (for frames to other connections), the frame's
# connection (its user and room, already counted against the allowance named
# beside it in _ACTIONS), the action, the frame's instant (epoch ms, read
# once in handle_frame) and the user's standing in the room as its access check
# read it (None for the actions that need no room), and returns the reply frame
# for this connection, or None.


def _send_message(
    connections: ConnectionsAPI, connection: Connection, action: protocol.SendMessage, now_ms: int,
    standing: access.Standing | None,
) -> None:
    # Stored only, at the room's next revision (chalicelib/order.py); the stream
    # handler delivers it to the room, the sender included. The sender has read
    # their own message (so it is never unread for them): their read marker
    # moves in the same transaction, when they have one (an admin visiting a
    # private room leaves no trace); a membership taken away since the frame
    # read it cancels the message (Forbidden).
    assert standing is not None  # sendMessage acts in a room: handle_frame read it
    draft = Draft(connection.room, connection.username, action.text, ids.iso_utc(now_ms),
                  action.client_id)
    message = order.send(
        draft, now_ms // 1000, expected=standing.state,
        mark_read=standing.read_marker is not None,
    )
    if message is None:
        log.info("clientId %s repeated by %s: stored once", action.client_id, connection.username)
        return
    observability.count("MessagesStored")


def _get_messages(
    connections: ConnectionsAPI, connection: Connection, action: protocol.GetMessages, now_ms: int,
    standing: access.Standing | None,
) -> dict[str, Any]:
    room = connection.room
    if action.after is not None:
        observability.count("CatchUpRequests", kind="getMessages")
    page, has_more = store.messages().page(room, action.limit, action.before, action.after)
    return protocol.messages_frame(room, page, has_more, keep_newest=action.after is None)


def _join_room(
    connections: ConnectionsAPI, connection: Connection, action: protocol.JoinRoom, now_ms: int,
    standing: access.Standing | None,
) -> dict[str, Any]:
    access.enter(connection.username, action.room, now_ms, ids.iso_utc(now_ms))  # forbidden
    store.connections().move(connection.connection_id, action.room)
    return protocol.joined_frame(action.room)


def _ping(
    connections: ConnectionsAPI, connection: Connection, action: protocol.Ping, now_ms: int,
    standing: access.Standing | None,
) -> dict[str, Any]:
    return protocol.pong_frame()


def _get_members(
    connections: ConnectionsAPI, connection: Connection, action: protocol.GetMembers, now_ms: int,
    standing: access.Standing | None,
) -> dict[str, Any]:
    occupants = store.connections().occupants(connection.room)
    return protocol.members_frame(connection.room, [username for _, username in occupants])


def _typing(
    connections: ConnectionsAPI, connection: Connection, action: protocol.Typing, now_ms: int,
    standing: access.Standing | None,
) -> None:
    # Passed on directly, never stored; thinned to one per interval per user and
    # room (whatever the number of the user's tabs); a crowded room gets occupancy.
    interval_ms = LIMITS.typing_interval_seconds * 1000
    typist = f"{connection.room}#{connection.username.lower()}"
    if not store.guards().pass_typing(typist, now_ms, interval_ms):
        return
    frame = protocol.typing_frame(connection.room, connection.username)
    presence.tell_room(connections, connection.room, [frame], now_ms // 1000, occupancy=False)


def _edit_message(
    connections: ConnectionsAPI, connection: Connection, action: protocol.EditMessage, now_ms: int,
    standing: access.Standing | None,
) -> None:
    # The room hears of it from the messages stream (a MODIFY → messageUpdated).
    order.change(
        connection.room, action.id, connection.username, action.text,
        ids.iso_utc(now_ms), action.client_id, now_ms // 1000,
        expected=standing.state if standing else None,
    )


def _delete_message(
    connections: ConnectionsAPI,
    connection: Connection,
    action: protocol.DeleteMessage,
    now_ms: int,
    standing: access.Standing | None,
) -> None:
    # A tombstone stays in history; the stream's MODIFY becomes messageDeleted.
    try:
        order.change(
            connection.room, action.id, connection.username, None,
            ids.iso_utc(now_ms), action.client_id, now_ms // 1000,
            expected=standing.state if standing else None,
        )
    except errors.Forbidden:
        # Someone else's message: the room's owner, moderators and admins may delete it.
        if not access.may_moderate(access.standing(connection.username, connection.room)):
            raise
        found = store.messages().get(connection.room, action.id)
        if found is None:
            raise errors.NotFound("no message with that id in this room") from None
        order.change(
            connection.room, action.id, found.sender, None,
            ids.iso_utc(now_ms), action.client_id, now_ms // 1000,
        )


def _mark_read(
    connections: ConnectionsAPI, connection: Connection, action: protocol.MarkRead, now_ms: int,
    standing: access.Standing | None,
) -> dict[str, Any]:
    found = store.messages().get(connection.room, action.id)
    if found is None:
        raise errors.NotFound("no message with that id in this room")
    marker = store.memberships().move_read_marker(
        connection.username, connection.room, action.id, found.ordinal
    )
    # A marker still at the entry time is past this id, but is no message id itself.
    shown = marker if protocol.MESSAGE_ID.fullmatch(marker) else action.id
    return protocol.read_frame(connection.room, shown)


def _get_changes(
    connections: ConnectionsAPI, connection: Connection, action: protocol.GetChanges, now_ms: int,
    standing: access.Standing | None,
) -> dict[str, Any]:
    frame = order.changes_frame(connection.room, action.since_rev, action.limit)
    observability.count("CatchUpRequests", kind="getChanges")
    observability.count("ChangesServed", len(frame["messages"]))
    return frame

# Actions that need no room: moving to one (checked on its own) and ping.
_ANYWHERE = frozenset({"joinRoom", "ping"})

# action type → (what it does, the allowance it counts against; PROTOCOL.md's rate limits)
Run = Callable[[ConnectionsAPI, Connection, Any, int, Any], dict[str, Any] | None]
_ACTIONS: dict[type, tuple[Run, str | None]] = {
    protocol.SendMessage: (_send_message, allowances.WRITES),
    protocol.EditMessage: (_edit_message, allowances.WRITES),
    protocol.DeleteMessage: (_delete_message, allowances.WRITES),
    protocol.GetMessages: (_get_messages, allowances.READS),
    protocol.GetChanges: (_get_changes, allowances.READS),
    protocol.GetMembers: (_get_members, allowances.READS),
    protocol.JoinRoom: (_join_room, allowances.READS),
    protocol.MarkRead: (_mark_read, allowances.READS),
    protocol.Ping: (_ping, allowances.READS),
    protocol.Typing: (_typing, None),  # thinned per connection, counted against neither
}
