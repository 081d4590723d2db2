"""The memberships table as access (store.roles): a user's role in a room, since when, bans.

The memberships table (hash username_key, range room) also holds read markers
and the presence set of connections (store/memberships.py); this module owns the
`role`, `since`, `banned`, `kind` and `with_user` attributes. A membership
with a read marker is listed by GET /rooms; taking someone's access away
removes the marker (and role) so the room drops off their list, and keeps the
presence set untouched.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from chalicelib import store as store_package
from chalicelib.store.items import n as _n
from chalicelib.store.items import s as _s
from chalicelib.store.memberships import Membership, initial_read_marker, membership_from_item

OWNER, MODERATOR, MEMBER = "owner", "moderator", "member"


class Access(NamedTuple):
    role: str | None  # None: no standing membership (a public room's visitor, or none)
    banned: bool = False


# What access decisions read of a membership (store/frame_reads.py reads the same).
ACCESS_PROJECTION = "#role, banned"
ACCESS_NAMES = {"#role": "role"}


def access_from_item(item: dict[str, Any]) -> Access:
    """A membership item (as Roles.get projects it; {} when none) as an Access."""
    return Access(item.get("role", {}).get("S"), item.get("banned", {}).get("BOOL", False))



class Roles:
    """A user's standing in rooms: roles, bans, and entering."""

    def __init__(self, client: Any, table: str, recent_index: str) -> None:
        self._client, self._table, self._recent_index = client, table, recent_index

    def _key(self, username: str, room: str) -> dict[str, Any]:
        return {"username_key": _s(username.lower()), "room": _s(room)}

    def get(self, username: str, room: str) -> Access:
        """The user's role in the room (None when not a member) and whether banned."""
        item = self._client.get_item(
            TableName=self._table,
            Key=self._key(username, room),
            ConsistentRead=True,
            ProjectionExpression=ACCESS_PROJECTION,
            ExpressionAttributeNames=ACCESS_NAMES,
        ).get("Item") or {}
        return access_from_item(item)

    def enter(
        self, username: str, room: str, kind: str, now_ms: int, with_user: str | None = None
    ) -> None:
        """Record that the user entered the room (first entry time and marker kept once)."""
        self._write(username, room, kind, None, now_ms, with_user)

    def grant(
        self, username: str, room: str, kind: str, role: str, now_ms: int,
        with_user: str | None = None,
    ) -> None:
        """Make the user a member with this role (listed at once; unread counts from now)."""
        self._write(username, room, kind, role, now_ms, with_user)

    def _write(
        self, username: str, room: str, kind: str, role: str | None, now_ms: int,
        with_user: str | None,
    ) -> None:
        # Unread counts from the room's state now (issue 17's revision and the
        # message count beside it; an eventually consistent read: a change a
        # moment before may count as read).
        state = store_package.messages().room_state(room, consistent=False)
        marker = initial_read_marker(state.rev)
        values: dict[str, Any] = {
            ":username": _s(username), ":now": _n(now_ms), ":kind": _s(kind),
            ":marker": _s(marker),
            # A room that never kept a count has at most one message per revision;
            # its next message is counted from there (store/messages.py append).
            ":count": _n(state.rev if state.messages is None else state.messages),
            ":member": _s(role or MEMBER),
        }
        # The count goes with the marker it was taken at: kept once, like the marker.
        # A membership whose marker predates counting keeps a counted_marker that
        # does not match it, and is counted from the messages (store/memberships.py).
        update = (
            "SET username = :username, entered_at = if_not_exists(entered_at, :now), "
            "read_marker = if_not_exists(read_marker, :marker), "
            "read_count = if_not_exists(read_count, :count), "
            "counted_marker = if_not_exists(counted_marker, :marker), #kind = :kind, "
            "since = if_not_exists(since, :now), touched_at = :now, "
        )
        update += "#role = :member" if role else "#role = if_not_exists(#role, :member)"
        if with_user is not None:
            update += ", with_user = :with"
            values[":with"] = _s(with_user)
        self._client.update_item(
            TableName=self._table,
            Key=self._key(username, room),
            UpdateExpression=update,
            ExpressionAttributeNames={"#kind": "kind", "#role": "role"},
            ExpressionAttributeValues=values,
        )

    def revoke(self, username: str, room: str, ban: bool) -> None:
        """Take the user's membership away (leave, remove; ban: also keep them out)."""
        update = (
            "REMOVE #role, since, read_marker, read_count, counted_marker, entered_at, #kind, "
            "with_user, touched_at"
        )
        values: dict[str, Any] = {}
        if ban:
            update = "SET banned = :true " + update
            values[":true"] = {"BOOL": True}
        self._client.update_item(
            TableName=self._table,
            Key=self._key(username, room),
            UpdateExpression=update,
            ExpressionAttributeNames={"#kind": "kind", "#role": "role"},
            **({"ExpressionAttributeValues": values} if values else {}),
        )

    def unban(self, username: str, room: str) -> None:
        """Let a banned user back into a public room (they join again themselves)."""
        self._client.update_item(
            TableName=self._table,
            Key=self._key(username, room),
            UpdateExpression="REMOVE banned",
        )

    def set_role(self, username: str, room: str, kind: str, role: str, now_ms: int) -> None:
        """Give a user a role in the room (a moderator of a room is its member too)."""
        self._write(username, room, kind, role, now_ms, None)


    def recent(self, username: str, limit: int) -> list[Membership]:
        """The user's `limit` most recently entered or granted rooms: one Query, any history.

        recent-index is sparse: only memberships that are listed (a read marker
        and touched_at) are in it, and a revoked one leaves it. Rooms entered
        longer ago than the newest `limit` age out of GET /rooms.
        """
        items = self._client.query(
            TableName=self._table,
            IndexName=self._recent_index,
            KeyConditionExpression="username_key = :key",
            ExpressionAttributeValues={":key": _s(username.lower())},
            ScanIndexForward=False,
            Limit=limit,
        )["Items"]
        return [membership_from_item(item) for item in items if "read_marker" in item]
