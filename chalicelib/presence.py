"""Presence from the connections table's own stream: who is online in each room.

A connection entering a room is an INSERT, or a MODIFY whose `room` changed;
leaving is a REMOVE ($disconnect, or the fan-out forgetting a gone connection)
or that same MODIFY's old image. Each user is counted once however many tabs
they have open: memberships keep the set of the user's connections in the
room, and only the first to enter (`online`) and the last to leave (`offline`)
tell the room. Set operations are idempotent, so a redelivered record changes
nothing and at most repeats a presence frame, which clients take as it is. The
sets heal: when a user's connection leaves and others of theirs seem to stay,
those whose connection record is gone are dropped (a lost REMOVE record must
not leave anyone online forever).

Presence costs what messages cost: a stream batch's frames are grouped by room
and each connection gets one post per room per batch (a `batch` frame), paged
out like a big room's messages (fanout.tell_room). A room with more than
limits.json's occupancy_users users online gets no presence at all, only
`{"type": "occupancy", "room", "count"}`, at most once per
occupancy_interval_seconds and only when the count changed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, NamedTuple

from chalicelib import clock, fanout, protocol, settings, store
from chalicelib.connections_api import ConnectionsAPI
from chalicelib.settings import LIMITS

log = logging.getLogger(__name__)

OCCUPANCY_USERS: int = LIMITS.occupancy_users
OCCUPANCY_INTERVAL_SECONDS: int = LIMITS.occupancy_interval_seconds


class Move(NamedTuple):
    """What one record says: a user's connection left a room and/or entered one."""

    connection_id: str
    username: str
    left: str | None
    entered: str | None


def on_connection_changes(
    connections: ConnectionsAPI,
    records: Iterable[Any],
    function_name: str = "on_connection_changes",
) -> dict[str, list[dict[str, str]]]:
    """Handle one connections-stream batch; returns the Lambda partial-batch response.

    `function_name` is this function's deployed name (big rooms are paged out
    to its sibling, the delivery function).

    Records are counted in order; on a failure that record and the rest are
    reported, and Lambda hands them over again. What the records counted so
    far said is told to the rooms either way.
    """
    records = list(records)
    by_room: dict[str, list[dict[str, Any]]] = {}
    failures: list[dict[str, str]] = []
    for position, record in enumerate(records):
        move = record_move(record.event_name, record.old_image, record.new_image)
        if move is None:
            continue
        try:
            for frame in apply_move(move):
                by_room.setdefault(frame["room"], []).append(frame)
        except Exception:
            log.exception("presence for %s failed; handing the rest back", move.connection_id)
            failures = [{"itemIdentifier": later.sequence_number} for later in records[position:]]
            break
    now_s = clock.now_s()
    for room, frames in by_room.items():
        try:
            tell_room(connections, room, frames, now_s, function_name)
        except Exception:  # ephemeral: not worth a redelivery of the batch
            log.exception("presence for room %s not sent", room)
    return {"batchItemFailures": failures}


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


def apply_move(move: Move) -> list[dict[str, Any]]:
    """Count the move in memberships; the presence frames it makes (the user's changes)."""
    frames = []
    if move.left is not None and not _still_present(move.username, move.left, move.connection_id):
        frames.append(protocol.presence_frame(move.left, move.username, False))
    if move.entered is not None and store.memberships().add_present_connection(
        move.username, move.entered, move.connection_id
    ):
        frames.append(protocol.presence_frame(move.entered, move.username, True))
    return frames


def _still_present(username: str, room: str, connection_id: str) -> set[str]:
    """Uncount a connection; the user's others still in the room, healed of vanished ones.

    A connection whose removal record was lost (a batch Lambda gave up on)
    would keep its user online forever: ids left in the set whose connection
    record no longer exists are dropped here, at the user's next departure.
    """
    records = store.memberships()
    remaining = records.remove_present_connections(username, room, [connection_id])
    if not remaining:
        return remaining
    stale = remaining - store.connections().existing(sorted(remaining))
    if stale:
        log.info("dropped %d vanished connections of %s from %s", len(stale), username, room)
        remaining = records.remove_present_connections(username, room, sorted(stale))
    return remaining


def tell_room(
    connections: ConnectionsAPI,
    room: str,
    frames: list[dict[str, Any]],
    now_s: int,
    function_name: str | None = None,
    *,
    occupancy: bool = True,
) -> None:
    """Frames about users of a room (presence, typing), each to the room's other users.

    Each connection hears of everyone but its own user: one post per connection.
    A big room is paged out like its messages, the same frames for every page
    (clients ignore presence about themselves); a crowded room gets an
    `occupancy` count instead, at most one per interval, or nothing at all
    when `occupancy` is False (typing).
    """
    fence = fanout.Fence.now(room)  # a removed connection hears nothing of the room after
    occupants = store.connections().occupants(room)
    if crowded(occupants):
        count = len({name.lower() for _, name in occupants})
        if occupancy and store.room_occupancy().claim(
            room, count, now_s, OCCUPANCY_INTERVAL_SECONDS
        ):
            everyone = [cid for cid, _ in occupants]
            frame = occupancy_frame(room, count)
            fanout.tell_room(connections, room, everyone, [frame], function_name, fence)
        return
    about = {frame["username"].lower() for frame in frames}
    if len(occupants) > settings.get().big_room_connections:
        listeners = [cid for cid, name in occupants if about != {name.lower()}]
        fanout.tell_room(connections, room, listeners, frames, function_name, fence)
        return
    by_frames: dict[tuple[int, ...], list[str]] = {}
    for cid, name in occupants:
        kept = tuple(n for n, f in enumerate(frames) if f["username"].lower() != name.lower())
        if kept:
            by_frames.setdefault(kept, []).append(cid)
    for kept, connection_ids in by_frames.items():
        fanout.post_frames(connections, connection_ids, [frames[n] for n in kept], fence)


def crowded(occupants: list[tuple[str, str]]) -> bool:
    """Whether a room has so many users online that it gets occupancy, not presence or typing."""
    return len({name.lower() for _, name in occupants}) > OCCUPANCY_USERS


def occupancy_frame(room: str, count: int) -> dict[str, Any]:
    return {"type": "occupancy", "room": room, "count": count}


def _room(image: dict[str, Any] | None) -> str | None:
    return image["room"]["S"] if image and "room" in image else None
