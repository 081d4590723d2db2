"""Protocol v2 actions of the WebSocket edge: getMembers, typing, editMessage,
deleteMessage, markRead; edits and deletes reaching the room through the
messages stream (MODIFY records)."""

from __future__ import annotations

import pytest

from chalicelib import clock, settings
from chalicelib.settings import LIMITS
from tests.support.streams import TableStream


def say(chat, connection, text, **extra):
    assert chat.send(connection, {"action": "sendMessage", "text": text, **extra}) == []


def newest(chat, connection):
    (reply,) = chat.send(connection, {"action": "getMessages"})
    return reply["messages"]


def said(chat, connection, text):
    """Send a message and return its id."""
    say(chat, connection, text)
    return newest(chat, connection)[-1]["id"]


def error(replies):
    (reply,) = replies
    assert reply["type"] == "error", reply
    return reply


def membership(aws, username, room):
    return aws.get_item(
        TableName=settings.get().memberships_table,
        Key={"username_key": {"S": username.lower()}, "room": {"S": room}},
    ).get("Item")


# ----------------------------------------------------------------- getMembers


def test_get_members_lists_each_online_user_once_sorted_ignoring_case(chat):
    asker = chat.join("alice", "lobby")
    chat.join("Zed", "lobby")
    chat.join("bob", "lobby")
    chat.join("bob", "lobby")  # a second tab
    chat.join("carol", "elsewhere")
    assert chat.send(asker, {"action": "getMembers"}) == [
        {"type": "members", "room": "lobby", "members": ["alice", "bob", "Zed"], "count": 3}
    ]


def test_get_members_follows_disconnects_and_moves(chat):
    asker = chat.join("alice", "lobby")
    bob = chat.join("bob", "lobby")
    carol = chat.join("carol", "lobby")
    chat.disconnect(bob)
    chat.send(carol, {"action": "joinRoom", "room": "elsewhere"})
    (reply,) = chat.send(asker, {"action": "getMembers"})
    assert reply["members"] == ["alice"]


def test_members_are_capped_while_count_says_how_many():
    from chalicelib import protocol

    names = [f"user{i:03d}" for i in range(LIMITS.members_max + 5)]
    frame = protocol.members_frame("big", list(reversed(names)) + names[:3])
    assert frame["members"] == names[: LIMITS.members_max]
    assert frame["count"] == len(names)


# --------------------------------------------------------------------- typing


def typings(outbox, connection):
    return [f for f in outbox.frames(connection) if f["type"] == "typing"]


def test_typing_reaches_other_users_in_the_room_only(chat, outbox, aws):
    alice, alice_tab = chat.join("alice", "lobby"), chat.join("alice", "lobby")
    bob, carol = chat.join("bob", "lobby"), chat.join("carol", "elsewhere")
    assert chat.send(alice, {"action": "typing"}) == []
    assert typings(outbox, bob) == [{"type": "typing", "room": "lobby", "username": "alice"}]
    assert typings(outbox, alice) == typings(outbox, alice_tab) == typings(outbox, carol) == []
    assert aws.scan(TableName=settings.get().messages_table)["Items"] == []  # nothing stored


def test_typing_is_passed_on_at_most_once_per_interval(chat, outbox, monkeypatch):
    alice, bob = chat.join("alice", "lobby"), chat.join("bob", "lobby")
    clock.get().set(clock.now_ms() / 1000, stopped=True)
    for _ in range(3):
        assert chat.send(alice, {"action": "typing"}) == []  # dropped without an error
    assert len(typings(outbox, bob)) == 1
    clock.get().advance(LIMITS.typing_interval_seconds)
    chat.send(alice, {"action": "typing"})
    assert len(typings(outbox, bob)) == 2


def test_typing_counts_against_no_allowance(chat, outbox, monkeypatch):
    monkeypatch.setenv("RATE_LIMIT_WRITES", "1")
    from chalicelib import lazy

    lazy.reset()
    alice, bob = chat.join("alice", "lobby"), chat.join("bob", "lobby")
    say(chat, alice, "the one allowed")
    assert chat.send(alice, {"action": "typing"}) == []
    assert len(typings(outbox, bob)) == 1
    lazy.reset()


# ---------------------------------------------------------- edit and delete


@pytest.fixture
def messages_stream(aws):
    return TableStream(aws, "messages")


def deliver(chat, stream):
    return chat.client.lambda_.invoke("on_new_messages", stream.event()).payload


def test_the_sender_edits_and_the_room_gets_message_updated(chat, outbox, messages_stream):
    alice, bob = chat.join("alice", "lobby"), chat.join("bob", "lobby")
    message_id = said(chat, alice, "helo")
    deliver(chat, messages_stream)
    reply = chat.send(alice, {"action": "editMessage", "id": message_id, "text": " hello ",
                              "clientId": "e-1"})
    assert reply == []
    assert deliver(chat, messages_stream) == {"batchItemFailures": []}
    (update,) = [f for f in outbox.frames(bob) if f["type"] == "messageUpdated"]
    message = update["message"]
    assert (message["id"], message["text"], message["sender"]) == (message_id, "hello", "alice")
    assert message["clientId"] == "e-1"
    assert message["editedAt"].endswith("Z")
    (stored,) = newest(chat, bob)
    assert stored["text"] == "hello" and stored["editedAt"] == message["editedAt"]


def test_the_sender_deletes_and_history_keeps_a_tombstone(chat, outbox, messages_stream):
    alice, bob = chat.join("alice", "lobby"), chat.join("bob", "lobby")
    message_id = said(chat, alice, "oops")
    deliver(chat, messages_stream)
    assert chat.send(alice, {"action": "deleteMessage", "id": message_id}) == []
    deliver(chat, messages_stream)
    assert [f for f in outbox.frames(bob) if f["type"] == "messageDeleted"] == [
        {"type": "messageDeleted", "room": "lobby", "id": message_id, "rev": 2}
    ]
    (tombstone,) = newest(chat, bob)
    assert tombstone == {"id": message_id, "room": "lobby", "sender": "alice",
                         "sentAt": tombstone["sentAt"], "deleted": True, "text": "",
                         "seq": 1, "rev": 2}


CHANGES = {
    "edit": {"action": "editMessage", "text": "mine now"},
    "delete": {"action": "deleteMessage"},
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_changing_someone_elses_message_is_forbidden(chat, change):
    alice, bob = chat.join("alice", "lobby"), chat.join("bob", "lobby")
    message_id = said(chat, alice, "original")
    reply = error(chat.send(bob, {**change, "id": message_id, "clientId": "x-1"}))
    assert (reply["code"], reply["action"], reply["clientId"]) == (
        "forbidden", change["action"], "x-1")
    (message,) = newest(chat, alice)
    assert message["text"] == "original" and "editedAt" not in message


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_changing_an_unknown_or_deleted_or_other_room_message_is_not_found(chat, change):
    alice = chat.join("alice", "lobby")
    unknown = "000000000099"
    assert error(chat.send(alice, {**change, "id": unknown}))["code"] == "not_found"
    deleted = said(chat, alice, "gone soon")
    chat.send(alice, {"action": "deleteMessage", "id": deleted})
    assert error(chat.send(alice, {**change, "id": deleted}))["code"] == "not_found"
    kept = said(chat, alice, "stays in lobby")
    chat.send(alice, {"action": "joinRoom", "room": "elsewhere"})
    assert error(chat.send(alice, {**change, "id": kept}))["code"] == "not_found"


def test_an_edit_repeated_with_its_client_id_is_applied_once(chat):
    alice = chat.join("alice", "lobby")
    message_id = said(chat, alice, "first")
    edit = {"action": "editMessage", "id": message_id, "clientId": "e-7"}
    assert chat.send(alice, {**edit, "text": "second"}) == []
    assert chat.send(alice, {**edit, "text": "third"}) == []  # a retry: no error, no change
    (message,) = newest(chat, alice)
    assert message["text"] == "second"


def test_a_delete_repeated_with_its_client_id_is_not_an_error(chat):
    alice = chat.join("alice", "lobby")
    message_id = said(chat, alice, "bye")
    delete = {"action": "deleteMessage", "id": message_id, "clientId": "d-1"}
    assert chat.send(alice, delete) == []
    assert chat.send(alice, delete) == []


BAD_CHANGES = {
    "edit-no-id": ({"action": "editMessage", "text": "x"}, "bad_request"),
    "edit-bad-id": ({"action": "editMessage", "id": "nope", "text": "x"}, "bad_request"),
    "edit-no-text": ({"action": "editMessage", "id": "0000000000001-00000000aa"}, "bad_request"),
    "edit-blank": ({"action": "editMessage", "id": "0000000000001-00000000aa", "text": "  "},
                   "bad_request"),
    "edit-too-long": ({"action": "editMessage", "id": "0000000000001-00000000aa",
                       "text": "x" * (LIMITS.text_max + 1)}, "too_large"),
    "edit-bad-client-id": ({"action": "editMessage", "id": "0000000000001-00000000aa",
                            "text": "x", "clientId": ""}, "bad_request"),
    "delete-id-number": ({"action": "deleteMessage", "id": 7}, "bad_request"),
    "delete-long-client-id": ({"action": "deleteMessage", "id": "0000000000001-00000000aa",
                               "clientId": "c" * (LIMITS.client_id_max + 1)}, "bad_request"),
    "read-no-id": ({"action": "markRead"}, "bad_request"),
}


@pytest.mark.parametrize("frame, code", BAD_CHANGES.values(), ids=BAD_CHANGES.keys())
def test_bad_v2_frames_get_an_error_and_change_nothing(chat, aws, frame, code):
    alice = chat.join("alice", "lobby")
    message_id = said(chat, alice, "untouched")
    frame = {**frame, "id": message_id} if frame.get("id") == "0000000000001-00000000aa" else frame
    reply = error(chat.send(alice, frame))
    assert reply["code"] == code and reply["action"] == frame["action"]
    (message,) = newest(chat, alice)
    assert message["text"] == "untouched" and "editedAt" not in message


def test_an_edit_counts_against_the_write_allowance(chat, monkeypatch):
    monkeypatch.setenv("RATE_LIMIT_WRITES", "1")
    from chalicelib import lazy

    lazy.reset()
    alice = chat.join("alice", "lobby")
    message_id = said(chat, alice, "the one allowed")
    reply = error(chat.send(alice, {"action": "editMessage", "id": message_id, "text": "more"}))
    assert reply["code"] == "rate_limited"
    lazy.reset()


# ------------------------------------------------------------------- markRead


def read_marker(aws, username, room):
    return membership(aws, username, room)["read_marker"]["S"]


def test_connect_and_join_room_record_the_first_entry_once(chat, aws):
    alice = chat.join("alice", "lobby")
    entered = membership(aws, "alice", "lobby")
    assert entered["username"]["S"] == "alice"
    # The room's state at first entry: revision 0, nothing in it yet.
    assert read_marker(aws, "alice", "lobby") == "000000000000~"
    chat.send(alice, {"action": "joinRoom", "room": "elsewhere"})
    assert membership(aws, "alice", "elsewhere") is not None
    chat.send(alice, {"action": "joinRoom", "room": "lobby"})
    assert membership(aws, "alice", "lobby")["entered_at"] == entered["entered_at"]


def test_mark_read_moves_the_marker_forward_and_never_back(chat, aws):
    alice, bob = chat.join("alice", "lobby"), chat.join("bob", "lobby")
    first, second = said(chat, bob, "one"), said(chat, bob, "two")
    assert chat.send(alice, {"action": "markRead", "id": second}) == [
        {"type": "read", "room": "lobby", "id": second}
    ]
    assert chat.send(alice, {"action": "markRead", "id": first}) == [
        {"type": "read", "room": "lobby", "id": second}
    ]
    assert read_marker(aws, "alice", "lobby") == second


def test_mark_read_of_an_unknown_id_is_not_found(chat, aws):
    alice = chat.join("alice", "lobby")
    marker = read_marker(aws, "alice", "lobby")
    reply = error(chat.send(alice, {"action": "markRead", "id": "999999999999"}))
    assert reply["code"] == "not_found"
    assert read_marker(aws, "alice", "lobby") == marker


def test_sending_moves_the_senders_marker(chat, aws):
    alice = chat.join("alice", "lobby")
    mine = said(chat, alice, "mine")
    assert read_marker(aws, "alice", "lobby") == mine


def test_a_send_whose_marker_cannot_move_is_still_stored_without_an_error(chat, aws, monkeypatch):
    from botocore.exceptions import ClientError

    from chalicelib.store.memberships import MembershipRecords

    def throttled(*args):
        error = {"Error": {"Code": "ProvisionedThroughputExceededException"}}
        raise ClientError(error, "UpdateItem")

    alice = chat.join("alice", "lobby")
    monkeypatch.setattr(MembershipRecords, "move_read_marker", throttled)
    say(chat, alice, "stored anyway", clientId="c-1")
    assert [m["text"] for m in newest(chat, alice)] == ["stored anyway"]
