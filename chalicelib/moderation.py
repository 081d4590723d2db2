"""Rooms with owners: creating rooms, members and moderators, direct rooms, the directory,
blocks and reports (PROTOCOL.md v3, "Rooms: public, private, direct").

Each function takes the authenticated caller and parsed path values, decides
with chalicelib.access, and writes through the repositories. Nothing is
written before every check has passed, so bad input changes nothing.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib import access, clock, connection_cap, errors, fanout, lazy, protocol, store
from chalicelib.connections_api import ConnectionsAPI
from chalicelib.settings import LIMITS
from chalicelib.store.reports import Report
from chalicelib.store.roles import MEMBER, MODERATOR, OWNER
from chalicelib.store.rooms import DIRECT, PRIVATE, PUBLIC

REASON_MAX: int = LIMITS.report_reason_max
# Longer than a fan-out may post a frame after reading who is in the room
# (fanout.FRESH_MS), with room for the post itself.
REMOVAL_SETTLE_SECONDS = fanout.FRESH_MS / 1000 + 0.5
REMOVAL_PASSES = 2  # the REST call answers within 2 * 1.5 s
MESSAGE_ID_MAX = 128  # ids are issue 17's to shape; anything longer is no id of ours


@lazy.cached(on_reset=lambda pool: pool.shutdown(wait=False))
def _pool() -> ThreadPoolExecutor:
    """Threads for the directory's per-room online counts."""
    return ThreadPoolExecutor(10, "directory")


def _user(username: Any) -> str:
    """An existing user's name as spelled at signup: 400 for a bad name, 404 for nobody."""
    if not isinstance(username, str):
        raise errors.InvalidInput("username is required and must be a string")
    found = store.users().get(protocol.validate_username(username))
    if found is None:
        raise errors.NotFound(f"no user {username}")
    return found.username


def _existing(caller: str, room: Any) -> access.Standing:
    s = access.standing(caller, protocol.validate_room(room))
    if not s.exists:
        raise errors.NotFound(f"no room {room}")
    return s


def _moderating(caller: str, room: Any) -> access.Standing:
    s = _existing(caller, room)
    if not access.may_moderate(s):
        raise errors.Forbidden("only the room's owner or moderators may do that")
    return s


def remove_connections(
    connections: ConnectionsAPI,
    username: str,
    room: str,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Take the user's connections out of the room (into none), then tell each `removed`.

    The connections are the user's connection slots (a strongly consistent
    read; store/connection_slots.py). Out of the room, a connection drops out
    of the room index; a frame the fan-out addressed before that is posted
    within fanout.FRESH_MS of its read or read again (fanout.deliver_room), so
    waiting REMOVAL_SETTLE_SECONDS before `removed` leaves no frame of the room
    after it. The slots are read again after the wait: a connection whose
    $connect was under way (its access checked before the membership went) is
    taken out too, and waited for likewise.
    """
    told: set[str] = set()
    for _ in range(REMOVAL_PASSES):
        now_s = clock.now_s()
        held = {
            cid: at for cid, at in store.connection_slots().held(username).items()
            if cid not in told
        }
        taken = [cid for cid in sorted(held) if store.connections().leave(cid, room)]
        # A slot without a record yet: a $connect under way, which may still put
        # the connection in the room. (An old one is a connection that vanished.)
        recent = [
            cid for cid, at in held.items()
            if cid not in taken and at > now_s - connection_cap.STALE_AFTER_SECONDS
        ]
        opening = set(recent) - store.connections().existing(recent) if recent else set()
        if not taken and not opening:
            break
        sleep(REMOVAL_SETTLE_SECONDS)
        for connection_id in taken:
            connections.send(connection_id, protocol.encode(protocol.removed_frame(room)))
        told.update(taken)


def create_room(caller: str, body: dict[str, Any], now_ms: int, now_iso: str) -> dict[str, str]:
    """POST /rooms → the new room with the caller as owner; RoomTaken if the name exists."""
    room, kind = protocol.validate_room(body.get("room")), body.get("kind")
    if kind not in (PUBLIC, PRIVATE):
        raise errors.InvalidInput('kind must be "public" or "private"')
    if room.startswith(access.DIRECT_PREFIX):
        raise errors.InvalidInput(f"names starting {access.DIRECT_PREFIX} are direct rooms'")
    if not store.rooms().create(room, kind, caller, now_iso):
        raise errors.RoomTaken(f"a room named {room} exists")
    store.roles().grant(caller, room, kind, OWNER, now_ms)
    return {"room": room, "kind": kind, "role": OWNER}


def add_member(caller: str, room: Any, username: Any, now_ms: int) -> None:
    """PUT /rooms/{room}/members/{username}: into a private room, or unbanned from a public one."""
    s = _moderating(caller, room)
    target = _user(username)
    if s.kind == PRIVATE:
        store.roles().enter(target, s.room, PRIVATE, now_ms)
    else:
        store.roles().unban(target, s.room)


def remove_member(
    connections: ConnectionsAPI, caller: str, room: Any, username: Any
) -> None:
    """DELETE /rooms/{room}/members/{username}: leave, remove, or ban; never the owner."""
    s = _existing(caller, room)
    target = _user(username)
    leaving = target.lower() == caller.lower()
    if s.owner is not None and s.owner.lower() == target.lower():
        raise errors.Forbidden("the owner cannot be removed or leave")
    if leaving:
        if s.role is None and s.kind != PUBLIC:
            raise errors.Forbidden("you are not a member of this room")
        store.roles().revoke(caller, s.room, ban=False)
    else:
        if not access.may_moderate(s):
            raise errors.Forbidden("only the room's owner or moderators may remove someone")
        target_role = access.standing(target, s.room).role
        if target_role == MODERATOR and s.role != OWNER and not s.admin:
            raise errors.Forbidden("only the owner may remove a moderator")
        store.roles().revoke(target, s.room, ban=s.kind == PUBLIC)
    remove_connections(connections, target, s.room)


def set_moderator(caller: str, room: Any, username: Any, moderator: bool, now_ms: int) -> None:
    """PUT / DELETE /rooms/{room}/moderators/{username}: by the owner only."""
    s = _existing(caller, room)
    if s.role != OWNER:
        raise errors.Forbidden("only the room's owner may name moderators")
    target = _user(username)
    if target.lower() == caller.lower():
        raise errors.InvalidInput("the owner is no moderator")
    current = access.standing(target, s.room).role
    if moderator:
        store.roles().set_role(target, s.room, s.kind, MODERATOR, now_ms)
    elif current == MODERATOR:
        store.roles().set_role(target, s.room, s.kind, MEMBER, now_ms)


def direct_room_name(one: str, other: str) -> str:
    """The one direct room of two users, whichever asks (a-z 0-9 -, 43 characters)."""
    pair = "\n".join(sorted((one.lower(), other.lower())))
    return access.DIRECT_PREFIX + hashlib.sha256(pair.encode()).hexdigest()[:40]


def open_direct(caller: str, body: dict[str, Any], now_ms: int, now_iso: str) -> dict[str, str]:
    """POST /dms → the direct room of the caller and the user; 404 unknown, 403 blocked."""
    target = _user(body.get("username"))
    if target.lower() == caller.lower():
        raise errors.InvalidInput("a direct room needs another user")
    if store.blocks().either(caller, target):
        raise errors.Forbidden("you cannot message this user")
    room = direct_room_name(caller, target)
    store.rooms().create(room, DIRECT, None, now_iso, members=(caller, target))
    for one, other in ((caller, target), (target, caller)):
        store.roles().grant(one, room, DIRECT, MEMBER, now_ms, with_user=other)
    return {"room": room, "kind": DIRECT, "with": target}


def directory(prefix: Any) -> dict[str, list[dict[str, Any]]]:
    """GET /directory?prefix=P → up to 50 public rooms by name, with users online in each."""
    prefix = prefix or ""
    if prefix and (len(prefix) > LIMITS.room_max or not protocol.ROOM.fullmatch(prefix)):
        raise errors.InvalidInput("prefix must be up to 64 characters of a-z 0-9 _ -")
    names = store.rooms().directory(prefix, LIMITS.directory_max)
    online = _pool().map(
        lambda room: len({user.lower() for _, user in store.connections().occupants(room)}), names
    )
    return {"rooms": [{"room": r, "online": n} for r, n in zip(names, online, strict=True)]}


def block(caller: str, username: Any, blocked: bool, now_iso: str) -> None:
    """PUT / DELETE /blocks/{username}."""
    target = _user(username)
    if target.lower() == caller.lower():
        raise errors.InvalidInput("you cannot block yourself")
    if blocked:
        store.blocks().add(caller, target, now_iso)
    else:
        store.blocks().remove(caller, target)


def blocked(caller: str) -> dict[str, list[str]]:
    """GET /blocks."""
    return {"blocked": sorted(store.blocks().of(caller), key=str.lower)}


def report(caller: str, body: dict[str, Any], now_iso: str) -> bool:
    """POST /reports: True when stored now, False for a repeat (nothing changed)."""
    room = protocol.validate_room(body.get("room"))
    message_id, reason = body.get("id"), body.get("reason")
    if not isinstance(message_id, str) or not 1 <= len(message_id) <= MESSAGE_ID_MAX:
        raise errors.InvalidInput("id must be a message id")
    if not isinstance(reason, str) or not 1 <= len(reason.strip()) <= REASON_MAX:
        raise errors.InvalidInput(f"reason must be 1-{REASON_MAX} characters")
    s = _existing(caller, room)
    if not access.may_enter(s) or (s.kind != PUBLIC and s.role is None):
        raise errors.Forbidden("only a member of the room may report its messages")
    message = store.messages().get(room, message_id)
    if message is None or message.deleted:
        raise errors.NotFound("no message with that id in this room")
    return store.reports().add(Report(
        room, message_id, message.sender, message.text, caller, reason.strip(), now_iso,
    ))


def reports_list(caller: str) -> dict[str, list[dict[str, str]]]:
    """GET /reports: admins only, newest first."""
    if not access.is_admin(caller):
        raise errors.Forbidden("only admins read reports")
    return {"reports": [r.to_wire() for r in store.reports().newest(LIMITS.reports_max)]}
