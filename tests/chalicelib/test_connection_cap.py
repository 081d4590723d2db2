"""The per-user connection cap: slots in guards, given back, healed when stale."""

from __future__ import annotations

from chalicelib import clock, connection_cap, settings, store
from chalicelib.settings import LIMITS
from tests.support.inprocess import token_for
from tests.support.streams import TableStream


def slots_of(aws, username):
    item = aws.get_item(
        TableName=settings.get().guards_table,
        Key={"guard_key": {"S": f"connections#{username.lower()}"}},
    ).get("Item")
    return set(item["slots"]["M"]) if item else set()


def test_each_open_connection_holds_one_slot_and_disconnect_gives_it_back(chat, aws):
    first, second = chat.join("alice"), chat.join("Alice")
    assert slots_of(aws, "alice") == {first, second}
    chat.disconnect(first)
    chat.disconnect(first)  # a repeated $disconnect gives back nothing more
    assert slots_of(aws, "alice") == {second}


def test_a_refused_connect_takes_no_slot(chat, aws):
    connections = {chat.join("alice") for _ in range(LIMITS.connections_per_user)}
    _, status = chat.connect({"token": token_for("alice")})
    assert status == 429
    assert slots_of(aws, "alice") == connections


def test_a_connection_found_gone_by_the_fanout_gives_its_slot_back(chat, aws, outbox):
    stream = TableStream(aws, "messages")
    reader, vanished = chat.join("alice"), chat.join("bob")
    outbox.gone.add(vanished)  # closed without a $disconnect
    chat.send(reader, {"action": "sendMessage", "text": "anyone?"})
    chat.client.lambda_.invoke("on_new_messages", stream.event())
    assert slots_of(aws, "bob") == set()
    assert slots_of(aws, "alice") == {reader}


def test_slots_of_connections_that_vanished_without_a_trace_heal_at_the_next_handshake(
    chat, aws
):
    allowed = LIMITS.connections_per_user
    long_ago = clock.now_s() - connection_cap.STALE_AFTER_SECONDS - 1
    for n in range(allowed):  # slots whose connections left no record (a lost $disconnect)
        store.connection_slots().take("alice", f"lost-{n}", allowed, long_ago)
    connection, status = chat.connect({"token": token_for("alice")})
    assert status == 200
    assert connection in slots_of(aws, "alice")
    assert len(slots_of(aws, "alice")) < allowed


def test_young_slots_without_a_record_are_handshakes_in_progress_and_stay(chat, aws):
    allowed = LIMITS.connections_per_user
    now = clock.now_s()
    for n in range(allowed):
        store.connection_slots().take("alice", f"starting-{n}", allowed, now)
    _, status = chat.connect({"token": token_for("alice")})
    assert status == 429
    assert len(slots_of(aws, "alice")) == allowed
