"""The messages table with the room's revision: one change = one transaction.

Every change to a room (a new message, an edit, a delete) is ONE
TransactWriteItems: an Update of the room's item in `rooms` (`rev` moved from
the revision the writer read to the next one, under a condition on the old
value), the Put or Update of the message (carrying that revision), and, when
the client gave a clientId, the idempotency marker in `guards`. DynamoDB
serialises the room item's writes, so revisions are handed out 1, 2, 3, ... in
commit order; a cancelled transaction writes nothing and leaves no stream
record, so no revision is ever taken and left empty.

This module stores and reads; it does not decide. A lost race is reported as
`RevisionTaken` carrying the room's revision as the failed condition saw it;
the retry policy lives in chalicelib/order.py.
"""

from __future__ import annotations

import contextlib
from typing import Any, NamedTuple

from chalicelib import errors, settings
from chalicelib.model import Message
from chalicelib.store.items import Item
from chalicelib.store.items import n as _n
from chalicelib.store.items import s as _s

# The room item's lease (take_lease) is free, run out, or this writer's.
_LEASE_FREE = "attribute_not_exists(lease_until) OR lease_until < :now OR lease_owner = :me"
REV_INDEX: str = next(
    index["name"]
    for index in settings.TABLES["messages"].get("local_secondary_indexes", [])
    if index["range_key"] == "rev"
)
ID_DIGITS = 12  # 10^12 changes per room: more than any room will ever see


def message_id(seq: int) -> str:
    """The id of the message created at revision `seq`: zero-padded, so ids sort as seqs."""
    return f"{seq:0{ID_DIGITS}d}"


class RevisionTaken(Exception):
    """Another change took the revision this writer meant to take, or is taking it now.

    `current` is the room's revision as the failed condition saw it; None when
    DynamoDB cancelled for a transaction in progress on the same item
    (TransactionConflict): read the room again.
    """

    def __init__(
        self, current: int | None, leased: bool = False, count: int | None = None
    ) -> None:
        super().__init__(f"the room is at revision {current}")
        self.current = current
        self.leased = leased  # another writer holds the room's lease: wait, it is not a lost race
        self.count = count  # the room's message count beside `current` (None: not kept yet)


class RoomActivity(NamedTuple):
    """A room as GET /rooms shows it to one member."""

    last_message_at: str | None
    unread: int


class MembershipGone(errors.Forbidden):
    """The sender's membership was taken away after the frame read it: nothing was stored."""

    def __init__(self, room: str) -> None:
        super().__init__(f"you may not enter {room}")


class RoomState(NamedTuple):
    """A room item's revision and message count (count None: a room from before counting)."""

    rev: int
    messages: int | None


def room_state_from_item(item: dict[str, Any]) -> RoomState:
    """The revision and message count of a room item (or a failed condition's old image)."""
    return RoomState(
        int(item["rev"]["N"]) if "rev" in item else 0,
        int(item["messages"]["N"]) if "messages" in item else None,
    )


class Turn(NamedTuple):
    """Who is writing and when: the room's lease (below) is honoured by this writer's time."""

    writer: str  # unique per change being written (its attempts share it)
    now_ms: int


class Draft(NamedTuple):
    """A new message before it has a revision."""

    room: str
    sender: str
    text: str
    sent_at: str
    client_id: str | None = None




def _reasons(cancelled: Any) -> list[dict[str, Any]]:
    return list(cancelled.response.get("CancellationReasons") or [])


def _failed(reason: dict[str, Any] | None) -> bool:
    return reason is not None and reason.get("Code") == "ConditionalCheckFailed"


def _conflicted(reasons: list[dict[str, Any]]) -> bool:
    """Another transaction was writing one of the items at that moment (DynamoDB, not moto)."""
    return any(reason.get("Code") == "TransactionConflict" for reason in reasons)


class Messages:
    """A room's messages by seq (the table's key: room, id) and changes by rev (rev-index)."""

    def __init__(
        self, client: Any, messages_table: str, rooms_table: str, guards_table: str,
        client_id_ttl_seconds: int, memberships_table: str,
    ) -> None:
        self._client = client
        self._messages, self._rooms, self._guards = messages_table, rooms_table, guards_table
        self._memberships = memberships_table
        self._client_id_ttl = client_id_ttl_seconds

    # ------------------------------------------------------------- revisions

    def room_rev(self, room: str, consistent: bool = True) -> int:
        """The room's last revision (0 for a room nothing has changed yet)."""
        return self.room_state(room, consistent).rev

    def room_state(self, room: str, consistent: bool = True) -> RoomState:
        """The room's last revision and message count, read together (one GetItem)."""
        item = self._client.get_item(
            TableName=self._rooms,
            Key={"room": _s(room)},
            ProjectionExpression="rev, messages",
            ConsistentRead=consistent,
        ).get("Item") or {}
        return room_state_from_item(item)

    def _advance(
        self, room: str, expected: int, turn: Turn, newest: Message | None = None
    ) -> dict[str, Any]:
        """The transaction's Update of the room item: `rev` from `expected` to the next one.

        SET touches `rev` (and REMOVE the lease) alone, so whatever else the
        room item holds (its kind, owner, ...) stays; the first change creates
        the item. While another writer holds the room's lease, this fails too.
        A new message (`newest`) also sets the room's message count and the
        newest message's time, which GET /rooms reads instead of the messages:
        the condition on `rev` makes the count read with it still the count.
        """
        values = {":next": _n(expected + 1), ":me": _s(turn.writer), ":now": _n(turn.now_ms)}
        current = "attribute_not_exists(rev)" if expected == 0 else "rev = :expected"
        if expected:
            values[":expected"] = _n(expected)
        update = "SET rev = :next"
        if newest is not None and newest.ordinal is not None:
            update += ", messages = :count, last_message_at = :at"
            values[":count"], values[":at"] = _n(newest.ordinal), _s(newest.sent_at)
        return {
            "TableName": self._rooms,
            "Key": {"room": _s(room)},
            "UpdateExpression": f"{update} REMOVE lease_owner, lease_until",
            "ConditionExpression": f"{current} AND ({_LEASE_FREE})",
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def take_lease(self, room: str, turn: Turn, lease_ms: int) -> bool:
        """Hold the room's next revision for this writer for lease_ms; False if another holds it.

        Optimistic writers starve a slow one (each of its attempts is overtaken);
        after a few lost races a writer takes the lease, the others' transactions
        fail until it commits (which removes the lease) or the lease runs out
        (a writer that died). Order never rests on it: the revision condition does.
        """
        try:
            self._client.update_item(
                TableName=self._rooms,
                Key={"room": _s(room)},
                UpdateExpression="SET lease_owner = :me, lease_until = :until",
                ConditionExpression=_LEASE_FREE,
                ExpressionAttributeValues={
                    ":me": _s(turn.writer), ":now": _n(turn.now_ms),
                    ":until": _n(turn.now_ms + lease_ms),
                },
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def release_lease(self, room: str, turn: Turn) -> None:
        """Give the lease back without a change (the change was refused or a repeat)."""
        # Nothing to give back when it ran out and was taken or removed meanwhile.
        with contextlib.suppress(self._client.exceptions.ConditionalCheckFailedException):
            self._client.update_item(
                TableName=self._rooms,
                Key={"room": _s(room)},
                UpdateExpression="REMOVE lease_owner, lease_until",
                ConditionExpression="lease_owner = :me",
                ExpressionAttributeValues={":me": _s(turn.writer)},
            )

    def _marker(
        self, kind: str, room: str, sender: str, client_id: str, message: str, now_s: int
    ) -> dict[str, Any]:
        """The Put of a change's idempotency marker (`client#…` a send, `edit#…` an edit or
        delete): it fails when the same clientId of the same user in the room came before."""
        return {"Put": {
            "TableName": self._guards,
            "Item": {
                "guard_key": _s(f"{kind}#{room}#{sender.lower()}#{client_id}"),
                "message_id": _s(message),
                "ttl": _n(now_s + self._client_id_ttl),
            },
            "ConditionExpression": "attribute_not_exists(guard_key)",
        }}

    # ---------------------------------------------------------------- writes

    def append(
        self, draft: Draft, expected: int, now_s: int, turn: Turn, count: int | None = None,
        mark_read: bool = False,
    ) -> Message | None:
        """Store a new message at revision expected + 1; None if its clientId was stored before.

        `count` is the room's message count read with `expected` (room_state;
        None: taken as `expected`, what a room whose count was never kept has at
        most); the message becomes number count + 1. RevisionTaken when the
        room is no longer at `expected`.

        `mark_read`: the same transaction moves the sender's read marker (and
        its count) to the new message, under the condition that the sender's
        membership still has a marker: a membership taken away since it was
        read cancels the message too (MembershipGone), so a removed member's
        send never lands after the removal. The marker only moves forward: the
        new message's id is the room's newest.
        """
        seq = expected + 1
        ordinal = (expected if count is None else count) + 1
        message = Message(
            room=draft.room, id=message_id(seq), sender=draft.sender, text=draft.text,
            sent_at=draft.sent_at, client_id=draft.client_id, seq=seq, rev=seq,
            ordinal=ordinal,
        )
        item: Item = {
            "room": _s(message.room),
            "id": _s(message.id),
            "seq": _n(seq),
            "rev": _n(seq),
            "ordinal": _n(ordinal),
            "sender": _s(message.sender),
            "text": _s(message.text),
            "sent_at": _s(message.sent_at),
        }
        put = {
            "TableName": self._messages,
            "Item": item,
            # Never true while the room item is right; a guard against a wiped room item.
            "ConditionExpression": "attribute_not_exists(id)",
        }
        items: list[dict[str, Any]] = [
            {"Update": self._advance(draft.room, expected, turn, message)}, {"Put": put},
        ]
        if draft.client_id is not None:
            item["client_id"] = _s(draft.client_id)
            items.append(self._marker(
                "client", draft.room, draft.sender, draft.client_id, message.id, now_s
            ))
        marker_at = len(items)
        if mark_read:
            items.append({"Update": {
                "TableName": self._memberships,
                "Key": {"username_key": _s(draft.sender.lower()), "room": _s(draft.room)},
                "UpdateExpression": (
                    "SET read_marker = :id, read_count = :count, counted_marker = :id"
                ),
                "ConditionExpression": "attribute_exists(read_marker)",
                "ExpressionAttributeValues": {":id": _s(message.id), ":count": _n(ordinal)},
            }})
        try:
            # botocore gives the call one ClientRequestToken for all its retries, so a
            # transaction whose answer was lost is not applied twice.
            self._client.transact_write_items(TransactItems=items)
        except self._client.exceptions.TransactionCanceledException as cancelled:
            reasons = [*_reasons(cancelled), {}, {}, {}, {}]
            if draft.client_id is not None and _failed(reasons[2]):
                return None  # a retry of a send that was stored
            if _failed(reasons[0]):
                raise _taken(reasons[0], turn) from None
            if _conflicted(reasons):
                raise RevisionTaken(None) from None
            if mark_read and _failed(reasons[marker_at]):
                raise MembershipGone(draft.room) from None
            raise
        return message

    def change(
        self, room: str, message: str, sender: str, text: str | None, changed_at: str,
        client_id: str | None, expected: int, now_s: int, turn: Turn,
    ) -> Message | None:
        """Edit (text given) or delete (text None) a message at revision expected + 1.

        Only its sender may; the item stays (a delete leaves a tombstone). None
        when the change's clientId was applied before; RevisionTaken when the
        room moved on; Forbidden for another user's message; NotFound for an
        unknown or deleted id in the room.
        """
        rev = expected + 1
        values: Item = {":sender": _s(sender), ":true": {"BOOL": True}, ":rev": _n(rev)}
        if text is None:
            update = "SET deleted = :true, #text = :empty, rev = :rev"
            values[":empty"] = _s("")
        else:
            update = "SET #text = :text, edited_at = :at, rev = :rev"
            values[":text"], values[":at"] = _s(text), _s(changed_at)
            if client_id is not None:
                update += ", edit_client_id = :client"
                values[":client"] = _s(client_id)
            else:
                update += " REMOVE edit_client_id"
        items: list[dict[str, Any]] = [
            {"Update": self._advance(room, expected, turn)},
            {"Update": {
                "TableName": self._messages,
                "Key": {"room": _s(room), "id": _s(message)},
                "UpdateExpression": update,
                "ConditionExpression": (
                    "sender = :sender AND (attribute_not_exists(deleted) OR deleted <> :true)"
                ),
                "ExpressionAttributeNames": {"#text": "text"},
                "ExpressionAttributeValues": values,
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }},
        ]
        if client_id is not None:
            items.append(self._marker("edit", room, sender, client_id, message, now_s))
        try:
            self._client.transact_write_items(TransactItems=items)
        except self._client.exceptions.TransactionCanceledException as cancelled:
            reasons = [*_reasons(cancelled), {}, {}, {}]
            if client_id is not None and _failed(reasons[2]):
                return None
            if _failed(reasons[1]):  # the message says why, whatever the room's revision
                old = reasons[1].get("Item")
                if old is None or old.get("deleted", {}).get("BOOL", False):
                    raise errors.NotFound("no message with that id in this room") from None
                raise errors.Forbidden("only its sender can change a message") from None
            if _failed(reasons[0]):
                raise _taken(reasons[0], turn) from None
            if _conflicted(reasons):
                raise RevisionTaken(None) from None
            raise
        return self.get(room, message)

    # ----------------------------------------------------------------- reads

    def get(self, room: str, message: str) -> Message | None:
        """One message of the room by id (strongly consistent), or None."""
        item = self._client.get_item(
            TableName=self._messages,
            Key={"room": _s(room), "id": _s(message)},
            ConsistentRead=True,
        ).get("Item")
        return message_from_item(item) if item is not None else None

    def by_ids(self, room: str, message_ids: list[str]) -> list[Message]:
        """The messages of a room with these ids, in that order (missing ones left out)."""
        found = (self.get(room, message_id) for message_id in message_ids)
        return [message for message in found if message is not None]

    def page(
        self, room: str, limit: int, before: str | None = None, after: str | None = None
    ) -> tuple[list[Message], bool]:
        """Up to `limit` messages of a room, oldest first, and whether more exist that way.

        One Query reading limit + 1 items: the newest, those just before `before`,
        or those just after `after`; cost follows the page, not the history.
        """
        condition, values = "room = :room", {":room": _s(room)}
        if before is not None:
            condition, values[":cursor"] = condition + " AND id < :cursor", _s(before)
        elif after is not None:
            condition, values[":cursor"] = condition + " AND id > :cursor", _s(after)
        items = self._client.query(
            TableName=self._messages,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values,
            ScanIndexForward=after is not None,
            Limit=limit + 1,
            ConsistentRead=True,
        )["Items"]
        page = [message_from_item(item) for item in items[:limit]]
        if after is None:
            page.reverse()
        return page, len(items) > limit

    def changes(self, room: str, since_rev: int, limit: int) -> tuple[list[Message], bool]:
        """Messages whose latest change is after since_rev, in rev order, and whether more exist.

        One strongly consistent Query on the rev-index reading limit + 1 items:
        cost follows the page, not the history.
        """
        items = self._client.query(
            TableName=self._messages,
            IndexName=REV_INDEX,
            KeyConditionExpression="room = :room AND rev > :since",
            ExpressionAttributeValues={":room": _s(room), ":since": _n(since_rev)},
            ScanIndexForward=True,
            Limit=limit + 1,
            ConsistentRead=True,
        )["Items"]
        return [message_from_item(item) for item in items[:limit]], len(items) > limit

    def activity_after(self, room: str, read_marker: str, unread_max: int) -> RoomActivity:
        """The newest message's time and how many are newer than the marker (up to unread_max).

        For GET /rooms where the counts kept on the room and membership items do
        not cover the marker (chalicelib/rooms.py). One Query for up to
        unread_max unread messages, newest first (its first item is the newest);
        only a room with nothing unread needs a second, for its newest message.
        Both read at most unread_max items: cost never follows history size.
        """
        def newest(condition: str, values: Item, limit: int) -> list[Item]:
            return list(self._client.query(
                TableName=self._messages,
                KeyConditionExpression=condition,
                ExpressionAttributeValues=values,
                ScanIndexForward=False,
                Limit=limit,
                ProjectionExpression="sent_at",
            )["Items"])

        unread = newest(
            "room = :room AND id > :marker",
            {":room": _s(room), ":marker": _s(read_marker)},
            unread_max,
        )
        if unread:
            return RoomActivity(unread[0]["sent_at"]["S"], len(unread))
        last = newest("room = :room", {":room": _s(room)}, 1)
        return RoomActivity(last[0]["sent_at"]["S"] if last else None, 0)


def _leased(reason: dict[str, Any], turn: Turn) -> bool:
    """Whether the room item, as the failed condition saw it, is leased to another writer."""
    old = reason.get("Item") or {}
    return (
        "lease_until" in old
        and int(old["lease_until"]["N"]) >= turn.now_ms
        and old.get("lease_owner", {}).get("S") != turn.writer
    )


def _taken(reason: dict[str, Any], turn: Turn) -> RevisionTaken:
    """RevisionTaken with the room item as the failed condition saw it (0: no revision yet)."""
    state = room_state_from_item(reason.get("Item") or {})
    return RevisionTaken(state.rev, _leased(reason, turn), state.messages)


def message_from_item(item: Item) -> Message:
    """A stored item, or a stream record's NewImage (the same raw shape), as a Message."""
    def optional(name: str) -> str | None:
        value = item.get(name)
        return value["S"] if value else None

    def number(name: str) -> int:
        value = item.get(name)
        return int(value["N"]) if value else 0

    return Message(
        room=item["room"]["S"],
        id=item["id"]["S"],
        sender=item["sender"]["S"],
        text=item["text"]["S"],
        sent_at=item["sent_at"]["S"],
        client_id=optional("client_id"),
        edited_at=optional("edited_at"),
        edit_client_id=optional("edit_client_id"),
        deleted=item.get("deleted", {}).get("BOOL", False),
        seq=number("seq"),
        rev=number("rev"),
        ordinal=int(item["ordinal"]["N"]) if "ordinal" in item else None,
    )
