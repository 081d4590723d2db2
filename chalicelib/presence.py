"""Presence from the connections table's own stream: who is online in each room.

A connection entering a room is an INSERT, or a MODIFY whose `room` changed;
leaving is a REMOVE ($disconnect, or the fan-out forgetting a gone connection)
or that same MODIFY's old image. Each user is counted once however many tabs
they have open: memberships keep the set of the user's connections in the
room, and only the first to enter (`online`) and the last to leave (`offline`)
tell the room. Set operations are idempotent, so a redelivered record changes
nothing and at most repeats a presence frame, which clients take as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, NamedTuple

from chalicelib import fanout, protocol, store
from chalicelib.connections_api import ConnectionsAPI

log = logging.getLogger(__name__)


class Move(NamedTuple):
    """What one record says: a user's connection left a room and/or entered one."""

    connection_id: str
    username: str
    left: str | None
    entered: str | None


def on_connection_changes(
    connections: ConnectionsAPI, records: Iterable[Any]
) -> dict[str, list[dict[str, str]]]:
    """Handle one connections-stream batch; returns the Lambda partial-batch response.

    Records are handled in order; on a failure that record and the rest are
    reported, and Lambda hands them over again.
    """
    records = list(records)
    for position, record in enumerate(records):
        move = record_move(record.event_name, record.old_image, record.new_image)
        if move is None:
            continue
        try:
            apply_move(connections, move)
        except Exception:
            log.exception("presence for %s failed; handing the rest back", move.connection_id)
            return {"batchItemFailures": [
                {"itemIdentifier": later.sequence_number} for later in records[position:]
            ]}
    return {"batchItemFailures": []}


def record_move(
    event_name: str, old_image: dict[str, Any] | None, new_image: dict[str, Any] | None
) -> Move | None:
    """A connections-stream record → the Move it is, or None (no room changed)."""
    old_room = _room(old_image) if event_name in ("MODIFY", "REMOVE") else None
    new_room = _room(new_image) if event_name in ("INSERT", "MODIFY") else None
    if old_room == new_room:  # counters or other fields changed: no one moved
        return None
    image = new_image if new_room is not None else old_image
    assert image is not None
    return Move(image["connection_id"]["S"], image["username"]["S"], old_room, new_room)


def apply_move(sender: ConnectionsAPI, move: Move) -> None:
    """Count the move in memberships and tell each room when the user's presence changed."""
    if move.left is not None and store.remove_present_connection(
        move.username, move.left, move.connection_id
    ):
        _tell_room(sender, move.left, protocol.presence_frame(move.left, move.username, False))
    if move.entered is not None and store.add_present_connection(
        move.username, move.entered, move.connection_id
    ):
        frame = protocol.presence_frame(move.entered, move.username, True)
        _tell_room(sender, move.entered, frame)


def _tell_room(sender: ConnectionsAPI, room: str, frame: dict[str, Any]) -> None:
    """Send a presence frame to the room's connections, except the user's own."""
    user = frame["username"].lower()
    others = [cid for cid, name in store.room_occupants(room) if name.lower() != user]
    fanout.post_frames(sender, others, [frame])


def _room(image: dict[str, Any] | None) -> str | None:
    return image["room"]["S"] if image and "room" in image else None
