"""The domain's value types, shared by storage, the WebSocket edge and the fan-out.

Value types here and in the other modules are NamedTuples: defining a frozen
dataclass costs about 1 ms of every cold start, a NamedTuple a fifth of that.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class Message(NamedTuple):
    room: str
    id: str
    sender: str
    text: str
    sent_at: str
    client_id: str | None = None
    edited_at: str | None = None  # set by editMessage
    edit_client_id: str | None = None  # the clientId of the latest edit, when it had one
    deleted: bool = False  # a tombstone: text is "" (deleteMessage)
    seq: int = 0  # the room revision that created it (chalicelib/order.py)
    rev: int = 0  # the room revision of its latest change
    ordinal: int | None = None  # its place in the room's message count (None: stored before it)

    def to_wire(self) -> dict[str, Any]:
        """The message as docs/PROTOCOL.md shows it (clientId only when given).

        An edited message carries `editedAt` (and the edit's clientId in place of
        the original's); a deleted one is the tombstone
        {"id", "room", "sender", "sentAt", "deleted": true, "text": ""}. Every
        form carries `seq` and `rev` (PROTOCOL.md v3, Order and catch-up).
        """
        wire: dict[str, Any] = {
            "id": self.id,
            "room": self.room,
            "sender": self.sender,
            "text": "" if self.deleted else self.text,
            "sentAt": self.sent_at,
            "seq": self.seq,
            "rev": self.rev,
        }
        if self.deleted:
            wire["deleted"] = True
            return wire
        client_id = self.edit_client_id if self.edited_at is not None else self.client_id
        if client_id is not None:
            wire["clientId"] = client_id
        if self.edited_at is not None:
            wire["editedAt"] = self.edited_at
        return wire
