"""sendMessage's DynamoDB calls: one read of connection, room and membership, one transaction."""

from __future__ import annotations

import json

import pytest

from chalicelib import access, clock, errors, ids, order, store
from chalicelib.store.messages import Draft
from tests.support.inprocess import token_for


@pytest.fixture(autouse=True)
def _transactions(moto_transactions):
    """DynamoDB's transaction semantics on moto (chatapp/motointernals.py)."""


def say(chat, connection, text):
    assert chat.send(connection, {"action": "sendMessage", "text": text}) == []


def calls_of(action):
    """Run action(); the DynamoDB operations it made, in order."""
    made: list[str] = []

    def record(model, **_):
        made.append(model.name)

    events = store.client().meta.events
    events.register("before-call.dynamodb", record)
    try:
        action()
    finally:
        events.unregister("before-call.dynamodb", record)
    return made


def unread(client, username):
    headers = {"Authorization": f"Bearer {token_for(username)}"}
    response = client.http.get("/rooms", headers=headers)
    assert response.status_code == 200, response.body
    return {room["room"]: room["unread"] for room in json.loads(response.body)["rooms"]}


def test_a_send_is_one_batch_read_and_one_transaction_once_the_connection_was_seen(chat):
    alice = chat.join("alice", "lobby")
    say(chat, alice, "first")  # this instance now knows alice's connection is in the lobby
    made = calls_of(lambda: say(chat, alice, "second"))
    # (the UpdateItem: alice's writes allowance, PROTOCOL.md's rate limit)
    assert made == ["BatchGetItem", "UpdateItem", "TransactWriteItems"], made
    assert [m["text"] for m in chat.stored("lobby")] == ["first", "second"]


def test_the_senders_marker_moves_with_the_message_so_their_own_are_never_unread(client, chat):
    alice, bob = chat.join("alice", "lobby"), chat.join("bob", "lobby")
    say(chat, alice, "one")
    say(chat, bob, "two")
    say(chat, alice, "three")
    assert unread(client, "alice")["lobby"] == 0
    assert unread(client, "bob")["lobby"] == 1


def test_a_connection_moved_to_another_room_sends_there(chat):
    alice = chat.join("alice", "lobby")
    say(chat, alice, "in the lobby")
    # Moved as another instance would move it: this one still remembers the lobby.
    store.roles().enter("alice", "garden", "public", clock.now_ms())
    store.connections().move(alice, "garden")
    say(chat, alice, "in the garden")
    assert [m["text"] for m in chat.stored("lobby")] == ["in the lobby"]
    assert [m["text"] for m in chat.stored("garden")] == ["in the garden"]


def test_a_connection_taken_out_of_its_room_cannot_send_there_any_more(chat):
    alice = chat.join("alice", "lobby")
    say(chat, alice, "before")
    store.connections().leave(alice, "lobby")  # as a removal does (docs/ROOMS.md)
    (error,) = chat.send(alice, {"action": "sendMessage", "text": "after"})
    assert error["type"] == "error" and error["code"] == "forbidden", error
    assert [m["text"] for m in chat.stored("lobby")] == ["before"]


def test_a_member_banned_after_the_frame_read_their_standing_stores_nothing(chat):
    chat.join("alice", "lobby")
    standing = access.check_action("alice", "lobby", "sendMessage")
    store.roles().revoke("alice", "lobby", ban=True)  # between the read and the commit
    draft = Draft("lobby", "alice", "too late", ids.iso_utc(clock.now_ms()), "late-1")
    with pytest.raises(errors.Forbidden):
        order.send(draft, clock.now_s(), expected=standing.state, mark_read=True)
    assert chat.stored("lobby") == []
    assert store.messages().room_rev("lobby") == standing.state.rev
