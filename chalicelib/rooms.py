"""The rooms list (GET /rooms): the user's rooms, most recently active first, with unread counts.

Cost per call: one Query on memberships' recent-index (the user's 100 most recently
entered rooms, whatever their history) and, per room, one
Query for its unread messages (newest first, at most unread_max items) plus,
only for a room with nothing unread, one Query for its newest message (one
item). Reads follow the number of rooms and unread messages, never a room's
history. The per-room Queries run in parallel on a small pool.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib import lazy, store
from chalicelib.settings import LIMITS
from chalicelib.store import roles

ROOMS_MAX: int = LIMITS.rooms_max
UNREAD_MAX: int = LIMITS.unread_max


@lazy.cached(on_reset=lambda pool: pool.shutdown(wait=False))
def _pool() -> ThreadPoolExecutor:
    """Threads for the per-room Queries (a user in 50 rooms waits for ~5 round trips, not 50)."""
    return ThreadPoolExecutor(10, "rooms")


def user_rooms(username: str) -> list[dict[str, Any]]:
    """PROTOCOL.md's `rooms`: newest activity first, rooms without messages last, capped."""
    memberships = roles.repository().recent(username, ROOMS_MAX)
    activities = _pool().map(
        lambda m: store.room_activity(m.room, m.read_marker, UNREAD_MAX), memberships
    )
    rooms = [
        {"room": m.room, "lastMessageAt": activity.last_message_at, "unread": activity.unread,
         "kind": m.kind, "role": m.role, **({"with": m.with_user} if m.with_user else {})}
        for m, activity in zip(memberships, activities, strict=True)
    ]
    # Newest first, then by name; sentAt strings are ISO-8601 UTC, so they sort as text.
    rooms.sort(key=lambda room: str(room["room"]))
    rooms.sort(key=lambda room: str(room["lastMessageAt"] or ""), reverse=True)
    return rooms[:ROOMS_MAX]
