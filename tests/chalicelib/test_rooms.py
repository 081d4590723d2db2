"""GET /rooms: the user's rooms, most recently active first, with unread counts."""

from __future__ import annotations

import json

import pytest

from chalicelib import clock, ids, lazy, order, store
from chalicelib.settings import LIMITS
from chalicelib.store.messages import Draft
from tests.support.inprocess import token_for


def get_rooms(client, username, made=None):
    """GET /rooms; `made` (a list) collects the DynamoDB calls the answer made."""
    headers = {"Authorization": f"Bearer {token_for(username)}"}
    if made is not None:
        from chalicelib import store

        store.client().meta.events.register(
            "before-call.dynamodb", lambda model, **_: made.append(model.name)
        )
    response = client.http.get("/rooms", headers=headers)
    assert response.status_code == 200, response.body
    return json.loads(response.body)["rooms"]


def say(chat, connection, text):
    assert chat.send(connection, {"action": "sendMessage", "text": text}) == []


def stored(room, sender, count):
    """Write messages straight into the table (many, past the per-user allowance)."""
    for i in range(count):
        now_ms = clock.now_ms()
        draft = Draft(room, sender, f"m{i}", ids.iso_utc(now_ms))
        order.send(draft, now_ms // 1000)


@pytest.fixture(autouse=True)
def no_rate_limit(monkeypatch):
    monkeypatch.setenv("RATE_LIMIT_WRITES", "0")
    monkeypatch.setenv("RATE_LIMIT_READS", "0")
    lazy.reset()
    yield
    lazy.reset()


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer not-a-jwt", "Basic abc"])
def test_rooms_needs_a_valid_bearer_token(client, header):
    headers = {"Authorization": header} if header else {}
    response = client.http.get("/rooms", headers=headers)
    assert response.status_code == 401
    assert json.loads(response.body)["Code"] == "UnauthorizedError"


def test_a_new_user_has_no_rooms(client):
    assert get_rooms(client, "alice") == []


def test_rooms_are_newest_activity_first_and_rooms_without_messages_last(client, chat):
    alice = chat.join("alice", "quiet")
    for room in ("older", "newer", "empty"):
        chat.send(alice, {"action": "joinRoom", "room": room})
        if room != "empty":
            say(chat, alice, f"in {room}")
    rooms = get_rooms(client, "alice")
    assert [r["room"] for r in rooms] == ["newer", "older", "empty", "quiet"]
    assert rooms[0]["lastMessageAt"] > rooms[1]["lastMessageAt"]
    assert rooms[2]["lastMessageAt"] is None and rooms[3]["lastMessageAt"] is None


def test_unread_counts_others_messages_since_the_marker_not_my_own(client, chat):
    alice = chat.join("alice", "lobby")
    bob = chat.join("bob", "lobby")
    say(chat, alice, "mine")
    for text in ("one", "two", "three"):
        say(chat, bob, text)
    (lobby,) = get_rooms(client, "alice")
    assert (lobby["room"], lobby["unread"]) == ("lobby", 3)
    assert get_rooms(client, "bob")[0]["unread"] == 0  # sending read what came before it too


def test_the_rooms_past_is_never_unread(client, chat):
    stored("busy", "bob", 5)
    chat.join("alice", "busy")
    (busy,) = get_rooms(client, "alice")
    assert busy["unread"] == 0
    assert busy["lastMessageAt"] is not None


def test_mark_read_clears_unread_up_to_the_id(client, chat):
    alice, bob = chat.join("alice", "lobby"), chat.join("bob", "lobby")
    for text in ("one", "two", "three"):
        say(chat, bob, text)
    (page,) = chat.send(alice, {"action": "getMessages"})
    second = page["messages"][1]["id"]
    chat.send(alice, {"action": "markRead", "id": second})
    assert get_rooms(client, "alice")[0]["unread"] == 1


def test_unread_stops_counting_at_the_cap(client, chat):
    chat.join("alice", "flood")
    stored("flood", "bob", LIMITS.unread_max + 3)
    assert get_rooms(client, "alice")[0]["unread"] == LIMITS.unread_max


def test_deleted_messages_still_count_as_unread(client, chat):
    chat.join("alice", "lobby")
    bob = chat.join("bob", "lobby")
    say(chat, bob, "gone soon")
    (page,) = chat.send(bob, {"action": "getMessages"})
    chat.send(bob, {"action": "deleteMessage", "id": page["messages"][0]["id"]})
    assert get_rooms(client, "alice")[0]["unread"] == 1


def test_at_most_the_cap_of_rooms_the_room_entered_longest_ago_ages_out(client, chat):
    # Bounded cost (issue 19): one Query finds the cap most recently entered rooms,
    # so a user's 101st-newest room drops off however active it is.
    cap = LIMITS.rooms_max
    for i in range(cap + 1):
        store.roles().enter("alice", f"room-{i:03d}", "public", clock.now_ms() + i)
    stored("room-050", "bob", 1)
    rooms = get_rooms(client, "alice")
    assert len(rooms) == cap
    assert rooms[0]["room"] == "room-050"  # the active one first among those kept
    assert "room-000" not in {room["room"] for room in rooms}


def test_an_edit_takes_a_revision_but_is_no_unread_message(client, chat):
    chat.join("alice", "lobby")
    bob = chat.join("bob", "lobby")
    say(chat, bob, "first")
    (page,) = chat.send(bob, {"action": "getMessages"})
    chat.send(bob, {"action": "editMessage", "id": page["messages"][0]["id"], "text": "again"})
    say(chat, bob, "second")
    assert get_rooms(client, "alice")[0]["unread"] == 2


@pytest.mark.parametrize("rooms", [3, 30])
def test_the_list_is_one_query_and_two_batch_reads_whatever_the_rooms(client, chat, rooms):
    for i in range(rooms):
        store.roles().enter("alice", f"room-{i:03d}", "public", clock.now_ms() + i)
        stored(f"room-{i:03d}", "bob", 2)
    made: list[str] = []
    listed = get_rooms(client, "alice", made)
    assert {r["unread"] for r in listed} == {2} and len(listed) == rooms
    # (the GetItems: the bearer token's session)
    assert sorted(set(made) - {"GetItem"}) == ["BatchGetItem", "Query"], made
    assert made.count("Query") == 1 and made.count("BatchGetItem") == 2


def test_items_written_before_the_counts_still_answer_and_are_counted_after(client, chat, aws):
    from chalicelib import settings

    alice = chat.join("alice", "old")
    bob = chat.join("bob", "old")
    for text in ("one", "two", "three"):
        say(chat, bob, text)
    (page,) = chat.send(alice, {"action": "getMessages"})
    chat.send(alice, {"action": "markRead", "id": page["messages"][0]["id"]})
    counted = get_rooms(client, "alice")
    config = settings.get()
    # As the tables were before: no counts on the room, the membership or the messages.
    aws.update_item(TableName=config.rooms_table, Key={"room": {"S": "old"}},
                    UpdateExpression="REMOVE messages, last_message_at")
    for user in ("alice", "bob"):
        aws.update_item(TableName=config.memberships_table,
                        Key={"username_key": {"S": user}, "room": {"S": "old"}},
                        UpdateExpression="REMOVE read_count, counted_marker")
    for message in page["messages"]:
        aws.update_item(TableName=config.messages_table,
                        Key={"room": {"S": "old"}, "id": {"S": message["id"]}},
                        UpdateExpression="REMOVE ordinal")
    assert get_rooms(client, "alice") == counted
    assert counted[0]["unread"] == 2
    say(chat, bob, "four")  # the room is counted from its next message on
    chat.send(alice, {"action": "markRead", "id": page["messages"][1]["id"]})  # uncounted id
    assert get_rooms(client, "alice")[0]["unread"] == 2
    (page,) = chat.send(alice, {"action": "getMessages"})
    chat.send(alice, {"action": "markRead", "id": page["messages"][2]["id"]})
    assert get_rooms(client, "alice")[0]["unread"] == 1
    chat.send(alice, {"action": "markRead", "id": page["messages"][3]["id"]})  # "four": counted
    made: list[str] = []
    assert get_rooms(client, "alice", made)[0]["unread"] == 0
    assert made.count("Query") == 1  # the recent-index only: no message read
