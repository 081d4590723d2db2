"""Presence: the connections stream's real records through on_connection_changes."""

from __future__ import annotations

import pytest

from tests.support.streams import TableStream


@pytest.fixture
def connections_stream(aws):
    return TableStream(aws, "connections")


@pytest.fixture
def presence(chat, connections_stream):
    """Hand the connections stream's new records to on_connection_changes; returns its answer."""
    def run(event=None):
        event = event if event is not None else connections_stream.event()
        return chat.client.lambda_.invoke("on_connection_changes", event).payload
    return run


def seen(outbox, connection):
    return [(f["username"], f["status"]) for f in outbox.frames(connection)
            if f["type"] == "presence"]


def test_a_users_first_connection_is_online_and_the_last_to_leave_offline(
        chat, outbox, presence):
    watcher = chat.join("bob", "lobby")
    presence()
    first = chat.join("alice", "lobby")
    presence()
    assert seen(outbox, watcher) == [("alice", "online")]
    frame = outbox.frames(watcher)[-1]
    assert frame == {"type": "presence", "room": "lobby", "username": "alice", "status": "online"}
    second = chat.join("alice", "lobby")  # a second tab: nobody is told
    chat.disconnect(first)  # one tab left: still online
    presence()
    assert seen(outbox, watcher) == [("alice", "online")]
    chat.disconnect(second)
    presence()
    assert seen(outbox, watcher) == [("alice", "online"), ("alice", "offline")]


def test_joining_another_room_is_offline_here_and_online_there(chat, outbox, presence):
    here, there = chat.join("bob", "lobby"), chat.join("carol", "elsewhere")
    alice = chat.join("alice", "lobby")
    presence()
    chat.send(alice, {"action": "joinRoom", "room": "elsewhere"})
    presence()
    assert seen(outbox, here)[-1] == ("alice", "offline")
    assert seen(outbox, there)[-1] == ("alice", "online")


def test_a_connection_found_gone_by_the_fan_out_is_offline(chat, outbox, presence, aws):
    watcher = chat.join("bob", "lobby")
    vanished = chat.join("alice", "lobby")
    presence()
    outbox.gone.add(vanished)
    messages = TableStream(aws, "messages")
    chat.send(watcher, {"action": "sendMessage", "text": "anyone there?"})
    chat.client.lambda_.invoke("on_new_messages", messages.event())
    presence()
    assert seen(outbox, watcher)[-1] == ("alice", "offline")
    (reply,) = chat.send(watcher, {"action": "getMembers"})
    assert reply["members"] == ["bob"]


def test_a_redelivered_batch_changes_no_count(chat, outbox, presence, connections_stream):
    watcher = chat.join("bob", "lobby")
    presence()
    first, second = chat.join("alice", "lobby"), chat.join("alice", "lobby")
    batch = connections_stream.event()
    presence(batch)
    presence(batch)  # Lambda hands a batch over again after a failure
    chat.disconnect(first)
    presence()
    assert seen(outbox, watcher) == [("alice", "online")]  # still one tab: still online
    chat.disconnect(second)
    presence()
    assert seen(outbox, watcher) == [("alice", "online"), ("alice", "offline")]


def test_changes_that_move_no_one_tell_no_one(chat, outbox, presence, aws):
    watcher = chat.join("bob", "lobby")
    alice = chat.join("alice", "lobby")
    presence()
    before = len(outbox.sent)
    chat.send(alice, {"action": "sendMessage", "text": "counted on the connection"})
    assert presence() == {"batchItemFailures": []}
    assert len(outbox.sent) == before
    assert seen(outbox, watcher) == [("alice", "online")]


def test_a_failing_batch_is_handed_back_from_the_failed_record(
        chat, outbox, presence, connections_stream, monkeypatch):
    from chalicelib.store.memberships import MembershipRecords

    chat.join("alice", "lobby")
    chat.join("bob", "lobby")
    batch = connections_stream.event()

    def broken(*args):
        raise RuntimeError("memberships unavailable")

    monkeypatch.setattr(MembershipRecords, "add_present_connection", broken)
    answer = presence(batch)
    sequence = [r["dynamodb"]["SequenceNumber"] for r in batch["Records"]]
    assert answer == {"batchItemFailures": [{"itemIdentifier": s} for s in sequence]}


def test_a_connection_whose_departure_was_lost_does_not_keep_its_user_online(
        chat, outbox, presence, connections_stream, aws):
    from chalicelib import settings

    watcher = chat.join("bob", "lobby")
    first, second = chat.join("alice", "lobby"), chat.join("alice", "lobby")
    presence()
    # `first` vanished and its REMOVE record was never handled (a batch given up on).
    aws.delete_item(TableName=settings.get().connections_table,
                    Key={"connection_id": {"S": first}})
    connections_stream.event()  # that record, lost
    chat.disconnect(second)
    presence()
    assert seen(outbox, watcher) == [("alice", "online"), ("alice", "offline")]
