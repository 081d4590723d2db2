"""Who may do what in a room: enter it, moderate it, delete a message in it.

Decisions only, read where the data is (the rooms and memberships tables) at
the moment of asking; the edges (websocket.py, moderation.py) call these and
turn a refusal into 403 / `forbidden`.
"""

from __future__ import annotations

from typing import NamedTuple

from chalicelib import errors, settings, store
from chalicelib.store.frame_reads import FrameRead
from chalicelib.store.messages import RoomState
from chalicelib.store.roles import MODERATOR, OWNER
from chalicelib.store.rooms import DIRECT, PRIVATE, PUBLIC

# Direct rooms are named from their two users; nobody may create another room so named.
DIRECT_PREFIX = "dm-"


class Standing(NamedTuple):
    """A user's standing in one room, as stored now."""

    username: str
    room: str
    exists: bool
    kind: str
    owner: str | None
    role: str | None  # owner, moderator, member, or None (not a member)
    banned: bool
    admin: bool
    members: tuple[str, ...]
    state: RoomState = RoomState(0, None)  # the room's revision and count, read with the rest
    read_marker: str | None = None  # the user's read marker there (None: no membership item)

    def other_member(self) -> str | None:
        """The other user of a direct room."""
        others = [m for m in self.members if m.lower() != self.username.lower()]
        return others[0] if others else None


def is_admin(username: str) -> bool:
    """Whether the user is one of the deployment's ADMIN_USERS."""
    return username.lower() in settings.get().admin_users


def standing(username: str, room: str) -> Standing:
    """Read the room, its revision and the user's membership of it (one BatchGetItem)."""
    return standing_from(username, room, store.frame_reads().read(None, username, room))


def standing_from(username: str, room: str, read: FrameRead) -> Standing:
    """The standing that a read of the room and the user's membership (store.frame_reads) shows."""
    found, held = read.room, read.access
    owner = found.owner if found else None
    role = OWNER if owner is not None and owner.lower() == username.lower() else held.role
    return Standing(
        username, room, found is not None, found.kind if found else PUBLIC, owner, role,
        held.banned, is_admin(username), found.members if found else (), read.state,
        read.read_marker,
    )


def may_enter(s: Standing) -> bool:
    """Public: anyone not banned; private: members and admins; direct: its two users."""
    if s.kind == DIRECT:
        return s.role is not None
    if s.admin:
        return True
    if s.kind == PRIVATE:
        return s.role is not None
    return not s.banned and (s.exists or not s.room.startswith(DIRECT_PREFIX))


def may_moderate(s: Standing) -> bool:
    """Owner, moderators and admins, in public and private rooms (never a direct one)."""
    return s.kind != DIRECT and (s.role in (OWNER, MODERATOR) or s.admin)


def check_enter(s: Standing) -> None:
    if not may_enter(s):
        raise errors.Forbidden(f"you may not enter {s.room}")


def enter(username: str, room: str, now_ms: int, created_at: str) -> Standing:
    """Let the user into the room or raise Forbidden; a new name becomes a public room."""
    s = standing(username, room)
    check_enter(s)
    if not s.exists:
        store.rooms().create(room, PUBLIC, None, created_at)
    if s.kind == PUBLIC or s.role is not None:  # an admin visiting a private room: no trace
        store.roles().enter(username, room, s.kind, now_ms, s.other_member())
    return s


def check_action(username: str, room: str, action: str, s: Standing | None = None) -> Standing:
    """Refuse an action on the connection's room unless the user may still be in it.

    `room` "" is a connection removed from its room: only joinRoom and ping
    work there. In a direct room, a block stops sendMessage both ways. `s`:
    the standing as the frame just read it (read here when None).
    """
    if not room:
        raise errors.Forbidden("you are in no room; join one")
    s = standing(username, room) if s is None else s
    check_enter(s)
    if action == "sendMessage" and s.kind == DIRECT:
        other = s.other_member()
        if other is not None and store.blocks().either(username, other):
            raise errors.Forbidden("you cannot message this user")
    return s

