"""The wire contract (docs/PROTOCOL.md): parsing and validating what clients
send into typed values, and building the frames the server sends.

Every rule here raises an `errors.ChatError` subclass with the protocol's code;
nothing here touches AWS.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, NamedTuple

from chalicelib import errors
from chalicelib.model import Message
from chalicelib.settings import LIMITS

USERNAME = re.compile(LIMITS.username_pattern, re.ASCII)
ROOM = re.compile(LIMITS.room_pattern, re.ASCII)
MESSAGE_ID = re.compile(r"[0-9]{12}", re.ASCII)  # a zero-padded seq (chalicelib/order.py)
FRAME_MAX_BYTES: int = LIMITS.frame_max_bytes


class Credentials(NamedTuple):
    username: str
    password: str


class SendMessage(NamedTuple):
    text: str
    client_id: str | None


class GetMessages(NamedTuple):
    limit: int
    before: str | None
    after: str | None


class JoinRoom(NamedTuple):
    room: str


class Ping(NamedTuple):
    pass


class GetMembers(NamedTuple):
    pass


class Typing(NamedTuple):
    pass


class EditMessage(NamedTuple):
    id: str
    text: str
    client_id: str | None


class DeleteMessage(NamedTuple):
    id: str
    client_id: str | None


class MarkRead(NamedTuple):
    id: str


class GetChanges(NamedTuple):
    since_rev: int
    limit: int


Action = (
    SendMessage | GetMessages | JoinRoom | Ping | GetMembers | Typing
    | EditMessage | DeleteMessage | MarkRead | GetChanges
)


class Frame(NamedTuple):
    """A parsed client frame: the action, plus what an error frame must echo."""

    name: str
    action: Action


# ---------------------------------------------------------------- REST bodies


def parse_credentials(raw_body: bytes | str | None) -> Credentials:
    """A signup/login body → Credentials, or InvalidInput saying what is wrong."""
    body = _json_object(raw_body, what="body")
    username = body.get("username")
    password = body.get("password")
    if not isinstance(username, str):
        raise errors.InvalidInput("username is required and must be a string")
    if not isinstance(password, str):
        raise errors.InvalidInput("password is required and must be a string")
    return Credentials(validate_username(username), validate_password(password))


def parse_device_token(raw_body: bytes | str | None) -> str | None:
    """The optional `deviceToken` of a login body (already parsed once by parse_credentials)."""
    token = _json_object(raw_body, what="body").get("deviceToken")
    if token is not None and not isinstance(token, str):
        raise errors.InvalidInput("deviceToken must be a string")
    return token or None


def parse_refresh(raw_body: bytes | str | None) -> str | None:
    """A /refresh body → its `refreshToken` (None when there is none), or InvalidInput."""
    if not raw_body:
        return None
    token = _json_object(raw_body, what="body").get("refreshToken")
    if token is not None and not isinstance(token, str):
        raise errors.InvalidInput("refreshToken must be a string")
    return token or None


def parse_logout(raw_body: bytes | str | None) -> bool:
    """A /logout body (optional) → whether to end every session of the user, or InvalidInput."""
    if not raw_body:
        return False
    everywhere = _json_object(raw_body, what="body").get("everywhere", False)
    if not isinstance(everywhere, bool):
        raise errors.InvalidInput("everywhere must be true or false")
    return everywhere


def validate_username(username: str) -> str:
    low, high = LIMITS.username_min, LIMITS.username_max
    if not (low <= len(username) <= high) or not USERNAME.fullmatch(username):
        raise errors.InvalidInput(
            f"username must be {low}-{high} characters of A-Z a-z 0-9 _ . -"
        )
    return username


def validate_password(password: str) -> str:
    low, high = LIMITS.password_min, LIMITS.password_max
    if not (low <= len(password) <= high):
        raise errors.InvalidInput(f"password must be {low}-{high} characters")
    return password


def validate_room(room: Any) -> str:
    """A room name per the protocol, or InvalidInput."""
    low, high = LIMITS.room_min, LIMITS.room_max
    if not isinstance(room, str) or not (low <= len(room) <= high) or not ROOM.fullmatch(room):
        raise errors.InvalidInput(f"room must be {low}-{high} characters of a-z 0-9 _ -")
    return room


# ------------------------------------------------------------ WebSocket frames


def parse_frame(body: str | bytes | None) -> Frame:
    """A client frame → Frame, or a ChatError carrying the protocol's code."""
    size = len(body.encode("utf-8", "surrogatepass")) if isinstance(body, str) else len(body or b"")
    if size > FRAME_MAX_BYTES:
        raise errors.TooLarge(f"frame is over {FRAME_MAX_BYTES} bytes")
    frame = _json_object(body, what="frame")
    name = frame.get("action")
    if not isinstance(name, str) or not name:
        raise errors.InvalidInput("action is required and must be a string")
    parser = _ACTIONS.get(name)
    if parser is None:
        raise errors.UnknownAction(f"unknown action: {name[:64]}")
    return Frame(name, parser(frame))


def echoed_fields(body: str | bytes | None) -> dict[str, str]:
    """The action and clientId an error frame echoes, read leniently from any frame."""
    try:
        frame = parse_json(body, "frame")
    except errors.InvalidInput:
        return {}
    if not isinstance(frame, dict):
        return {}
    echoed: dict[str, str] = {}
    action, client_id = frame.get("action"), frame.get("clientId")
    if isinstance(action, str) and action in _ACTIONS:
        echoed["action"] = action
    if isinstance(client_id, str) and _is_client_id(client_id):
        echoed["clientId"] = client_id
    return echoed


def _send_message(frame: dict[str, Any]) -> SendMessage:
    client_id = _client_id(frame)
    return SendMessage(_text(frame), client_id)


def _edit_message(frame: dict[str, Any]) -> EditMessage:
    client_id = _client_id(frame)
    return EditMessage(_message_id(frame, "id"), _text(frame), client_id)


def _delete_message(frame: dict[str, Any]) -> DeleteMessage:
    client_id = _client_id(frame)
    return DeleteMessage(_message_id(frame, "id"), client_id)


def _mark_read(frame: dict[str, Any]) -> MarkRead:
    return MarkRead(_message_id(frame, "id"))


def _client_id(frame: dict[str, Any]) -> str | None:
    """The frame's optional clientId (checked before the text, so errors can echo it)."""
    client_id = frame.get("clientId")
    if client_id is not None and not _is_client_id(client_id):
        raise errors.InvalidInput(
            f"clientId must be a string of 1-{LIMITS.client_id_max} characters"
        )
    return client_id


def _text(frame: dict[str, Any]) -> str:
    """The frame's message text, trimmed: 1-4000 characters (too_large above)."""
    text = frame.get("text")
    if not isinstance(text, str):
        raise errors.InvalidInput("text is required and must be a string")
    text = text.strip()
    if len(text) > LIMITS.text_max:
        raise errors.TooLarge(f"text must be 1-{LIMITS.text_max} characters")
    if not text:
        raise errors.InvalidInput(f"text must be 1-{LIMITS.text_max} characters")
    return text


def _message_id(frame: dict[str, Any], name: str) -> str:
    value = frame.get(name)
    if not (isinstance(value, str) and MESSAGE_ID.fullmatch(value)):
        raise errors.InvalidInput(f"{name} is required and must be a message id")
    return value


def _get_messages(frame: dict[str, Any]) -> GetMessages:
    limit = frame.get("limit", LIMITS.history_default)
    if type(limit) is not int or not (1 <= limit <= LIMITS.history_max):
        raise errors.InvalidInput(f"limit must be an integer from 1 to {LIMITS.history_max}")
    before, after = frame.get("before"), frame.get("after")
    if before is not None and after is not None:
        raise errors.InvalidInput("give before or after, not both")
    for name, cursor in (("before", before), ("after", after)):
        if cursor is not None and not (isinstance(cursor, str) and MESSAGE_ID.fullmatch(cursor)):
            raise errors.InvalidInput(f"{name} must be a message id")
    return GetMessages(limit, before, after)


def _get_changes(frame: dict[str, Any]) -> GetChanges:
    since_rev = frame.get("sinceRev")
    if type(since_rev) is not int or since_rev < 0:
        raise errors.InvalidInput("sinceRev is required and must be an integer of at least 0")
    limit = frame.get("limit", LIMITS.changes_max)
    if type(limit) is not int or not (1 <= limit <= LIMITS.changes_max):
        raise errors.InvalidInput(f"limit must be an integer from 1 to {LIMITS.changes_max}")
    return GetChanges(since_rev, limit)


def _join_room(frame: dict[str, Any]) -> JoinRoom:
    return JoinRoom(validate_room(frame.get("room")))


def _ping(frame: dict[str, Any]) -> Ping:
    return Ping()


def _get_members(frame: dict[str, Any]) -> GetMembers:
    return GetMembers()


def _typing(frame: dict[str, Any]) -> Typing:
    return Typing()


_ACTIONS: dict[str, Callable[[dict[str, Any]], Action]] = {
    "sendMessage": _send_message,
    "getMessages": _get_messages,
    "joinRoom": _join_room,
    "ping": _ping,
    "getMembers": _get_members,
    "typing": _typing,
    "editMessage": _edit_message,
    "deleteMessage": _delete_message,
    "markRead": _mark_read,
    "getChanges": _get_changes,
}


def _is_client_id(value: Any) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= LIMITS.client_id_max


def _json_object(raw: str | bytes | None, what: str) -> dict[str, Any]:
    value = parse_json(raw, what)
    if not isinstance(value, dict):
        raise errors.InvalidInput(f"{what} must be a JSON object")
    return value


JSON_MAX_DEPTH: int = LIMITS.json_max_depth
# A JSON string token, or one bracket: enough to measure nesting without parsing.
_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
_SURROGATE = re.compile("[\ud800-\udfff]")


def parse_json(raw: str | bytes | None, what: str) -> Any:
    """Strict JSON (PROTOCOL.md): InvalidInput for anything a hostile client might send.

    Refused before Python's parser sees it: invalid UTF-8, a BOM, nesting deeper
    than json_max_depth (the parser recurses per level, so a deep body would
    raise RecursionError). Refused while parsing: NaN/Infinity (also as numbers
    too big for a float), a key given twice, integers of more digits than Python
    converts. Refused after: unpaired UTF-16 surrogates anywhere, keys included.
    """
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise errors.InvalidInput(f"{what} is not valid UTF-8") from None
    if not raw:
        raise errors.InvalidInput(f"{what} is not valid JSON")
    if raw.startswith("\ufeff"):
        raise errors.InvalidInput(f"{what} is not valid JSON (it starts with a BOM)")
    _check_depth(raw, what)
    try:
        value = json.loads(
            raw,
            object_pairs_hook=_object_without_duplicates,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
        )
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError
        raise errors.InvalidInput(f"{what} is not valid JSON") from None
    if _has_surrogate(value):
        raise errors.InvalidInput(f"{what} holds an unpaired UTF-16 surrogate")
    return value


def _check_depth(text: str, what: str) -> None:
    depth = 0
    for token in _STRING_OR_BRACKET.finditer(text):
        bracket = token.group()
        if bracket in "[{":
            depth += 1
            if depth > JSON_MAX_DEPTH:
                raise errors.InvalidInput(f"{what} nests deeper than {JSON_MAX_DEPTH} levels")
        elif bracket in "]}":
            depth -= 1


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        raise ValueError("a key is given twice")
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    number = float(text)
    if number in (float("inf"), float("-inf")):
        raise ValueError("number out of range")
    return number


def _has_surrogate(value: Any) -> bool:
    # Depth is at most JSON_MAX_DEPTH here, so recursion is bounded.
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(item) for item in value)
    return False


# ------------------------------------------------------------ server → client


def encode(frame: dict[str, Any]) -> str:
    """A frame as compact JSON text (UTF-8 kept as is: escapes would double its size)."""
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


def message_frame(message: Message) -> dict[str, Any]:
    return {"type": "message", "message": message.to_wire()}


def message_updated_frame(message: Message) -> dict[str, Any]:
    """An edit, as the room sees it: the message with its new text and editedAt."""
    return {"type": "messageUpdated", "message": message.to_wire()}


def message_deleted_frame(message: Message) -> dict[str, Any]:
    return {"type": "messageDeleted", "room": message.room, "id": message.id, "rev": message.rev}


def joined_frame(room: str) -> dict[str, Any]:
    return {"type": "joined", "room": room}


def removed_frame(room: str) -> dict[str, Any]:
    """Told to a user's connections taken out of a room (removed, banned, or left)."""
    return {"type": "removed", "room": room}


def pong_frame() -> dict[str, Any]:
    return {"type": "pong"}


def members_frame(room: str, usernames: list[str]) -> dict[str, Any]:
    """Who is online in a room: distinct names sorted ignoring case, at most members_max."""
    distinct = sorted(set(usernames), key=lambda name: (name.lower(), name))
    return {
        "type": "members",
        "room": room,
        "members": distinct[: LIMITS.members_max],
        "count": len(distinct),
    }


def presence_frame(room: str, username: str, online: bool) -> dict[str, Any]:
    status = "online" if online else "offline"
    return {"type": "presence", "room": room, "username": username, "status": status}


def typing_frame(room: str, username: str) -> dict[str, Any]:
    return {"type": "typing", "room": room, "username": username}


def read_frame(room: str, message_id: str) -> dict[str, Any]:
    return {"type": "read", "room": room, "id": message_id}


def error_frame(code: str, message: str, echoed: dict[str, str]) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message, **echoed}


def messages_frame(
    room: str, page: list[Message], has_more: bool, keep_newest: bool
) -> dict[str, Any]:
    """A history page (oldest first) that fits in one frame.

    A page of 100 long messages would be far over API Gateway's 32 KB, so the
    page is cut from the end away from the reader (the oldest when paging back,
    the newest when catching up) and hasMore tells the client to ask again.
    """
    wires = [message.to_wire() for message in page]
    overhead = len(encode({"type": "messages", "room": room, "messages": [], "hasMore": False}))
    sizes = [len(encode(wire).encode("utf-8")) + 1 for wire in wires]
    total = overhead + sum(sizes)
    while wires and total > FRAME_MAX_BYTES:
        total -= sizes.pop(-1 if not keep_newest else 0)
        wires.pop(-1 if not keep_newest else 0)
        has_more = True
    return {"type": "messages", "room": room, "messages": wires, "hasMore": has_more}


def changes_frame(room: str, page: list[Message], has_more: bool) -> dict[str, Any]:
    """A getChanges page (rev order) that fits in one frame; `rev` as PROTOCOL.md v3 says.

    Cut from the newest end when over 32 KB (hasMore then). With hasMore, `rev`
    is the last message's; without, the caller knows the room's newest revision
    is the last message's too (chalicelib/order.py), or sets it for an empty page.
    """
    wires = [message.to_wire() for message in page]
    overhead = len(encode(
        {"type": "changes", "room": room, "messages": [], "rev": 10**12, "hasMore": False}
    ))
    total = overhead + sum(len(encode(wire).encode("utf-8")) + 1 for wire in wires)
    while wires and total > FRAME_MAX_BYTES:
        total -= len(encode(wires.pop()).encode("utf-8")) + 1
        has_more = True
    rev = wires[-1]["rev"] if wires else 0
    return {"type": "changes", "room": room, "messages": wires, "rev": rev, "hasMore": has_more}


_BATCH_OPEN, _BATCH_CLOSE = '{"type":"batch","frames":[', "]}"


def batched(frames: list[dict[str, Any]]) -> list[bytes]:
    """Frames for one connection as few posts as fit: `batch` frames of at most 32 KB, in order.

    Consecutive frames share a batch until the next would push it over
    FRAME_MAX_BYTES; a batch of one is sent bare (never a batch of one, never nested).
    """
    posts: list[bytes] = []
    group: list[bytes] = []
    size = 0
    overhead = len(_BATCH_OPEN) + len(_BATCH_CLOSE)

    def close_group() -> None:
        if len(group) == 1:
            posts.append(group[0])
        elif group:
            posts.append(_BATCH_OPEN.encode() + b",".join(group) + _BATCH_CLOSE.encode())

    for frame in frames:
        data = encode(frame).encode("utf-8")
        if group and overhead + size + len(group) + len(data) > FRAME_MAX_BYTES:
            close_group()
            group, size = [], 0
        group.append(data)
        size += len(data)
    close_group()
    return posts
