"""The rooms list (GET /rooms): the user's rooms, most recently active first, with unread counts.

Cost per call: one Query on memberships' recent-index (the user's 100 most
recently entered rooms, whatever their history) and two BatchGetItems side by
side: those memberships' read markers with the room's message count at each
marker, and those rooms' items (their message count and newest message time,
kept by the message path in the same transaction that takes a revision).
unread = the room's count - the count at the marker, at most unread_max: no
message is read.

Items written before the counts existed still answer: a membership whose
marker has no count, or a room with messages but no count yet, is counted
from the messages table as before (at most two bounded Queries for that room,
on a small pool) until its next message or marker move.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib import lazy, store
from chalicelib.settings import LIMITS
from chalicelib.store.memberships import Membership
from chalicelib.store.messages import RoomActivity
from chalicelib.store.rooms import Activity

ROOMS_MAX: int = LIMITS.rooms_max
UNREAD_MAX: int = LIMITS.unread_max


@lazy.cached(on_reset=lambda pool: pool.shutdown(wait=False))
def _pool() -> ThreadPoolExecutor:
    """Threads for the Queries of rooms from before the counts (see the module's doc)."""
    return ThreadPoolExecutor(10, "rooms")


def activity(
    membership: Membership, room: Activity | None
) -> RoomActivity | None:
    """The room's newest message time and unread count from the counts; None: not counted."""
    if room is None or (room.messages is None and room.rev == 0):
        # Nothing was ever written in the room: no message, nothing unread.
        return RoomActivity(None, 0) if membership.read_count is not None else None
    if membership.read_count is None or room.messages is None:
        return None
    unread = max(0, min(UNREAD_MAX, room.messages - membership.read_count))
    return RoomActivity(room.last_message_at, unread)


def user_rooms(username: str) -> list[dict[str, Any]]:
    """PROTOCOL.md's `rooms`: newest activity first, rooms without messages last, capped."""
    listed = store.roles().recent(username, ROOMS_MAX)
    names = [m.room for m in listed]
    # The two reads side by side: the rooms' counts, the memberships' counts at their markers.
    items_read = _pool().submit(store.rooms().activities, names) if names else None
    markers = store.memberships().read_counts(username, names) if names else {}
    items = items_read.result() if items_read is not None else {}
    # A marker as the BatchGetItem read it (else as recent-index had it: not counted).
    with_counts = [
        m._replace(read_marker=markers[m.room].read_marker, read_count=markers[m.room].read_count)
        if m.room in markers else m
        for m in listed
    ]
    counted = [activity(m, items.get(m.room)) for m in with_counts]
    uncounted = [m for m, found in zip(with_counts, counted, strict=True) if found is None]
    queried = dict(zip(
        [m.room for m in uncounted],
        _pool().map(
            lambda m: store.messages().activity_after(m.room, m.read_marker, UNREAD_MAX), uncounted
        ),
        strict=True,
    ))
    rooms = []
    for m, found in zip(with_counts, counted, strict=True):
        known = found if found is not None else queried[m.room]
        rooms.append({
            "room": m.room, "lastMessageAt": known.last_message_at, "unread": known.unread,
            "kind": m.kind, "role": m.role, **({"with": m.with_user} if m.with_user else {}),
        })
    # Newest first, then by name; sentAt strings are ISO-8601 UTC, so they sort as text.
    rooms.sort(key=lambda room: str(room["room"]))
    rooms.sort(key=lambda room: str(room["lastMessageAt"] or ""), reverse=True)
    return rooms[:ROOMS_MAX]
