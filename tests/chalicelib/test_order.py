"""Order and catch-up (PROTOCOL.md v3): a gap-free revision per room, getChanges.

Driven through the WebSocket handlers against moto's DynamoDB, as the other
backend tests are; the room's revision is read from the rooms table itself.
"""

from __future__ import annotations

import json
import threading

import pytest

from chalicelib import ids, lazy, order, settings
from chalicelib.settings import LIMITS
from chalicelib.store.messages import Draft
from tests.support.inprocess import token_for
from tests.support.streams import TableStream

# DynamoDB's own transactions: all conditions checked before any write, and
# safe across threads (moto's leaks cancelled writes to the stream).
pytestmark = pytest.mark.usefixtures("moto_transactions")


@pytest.fixture(autouse=True)
def no_rate_limit(monkeypatch):
    monkeypatch.setenv("RATE_LIMIT_WRITES", "0")
    monkeypatch.setenv("RATE_LIMIT_READS", "0")
    lazy.reset()
    yield
    lazy.reset()


def room_item(aws, room):
    return aws.get_item(TableName=settings.get().rooms_table, Key={"room": {"S": room}}).get("Item")


def room_rev(aws, room):
    item = room_item(aws, room) or {}
    return int(item["rev"]["N"]) if "rev" in item else 0


def said(chat, connection, text, **extra):
    assert chat.send(connection, {"action": "sendMessage", "text": text, **extra}) == []
    (reply,) = chat.send(connection, {"action": "getMessages", "limit": 1})
    return reply["messages"][-1]


def changes(chat, connection, since_rev, **extra):
    (reply,) = chat.send(connection, {"action": "getChanges", "sinceRev": since_rev, **extra})
    return reply


def test_messages_edits_and_deletes_take_revisions_one_two_three(chat, aws):
    alice = chat.join("alice", "lobby")
    first = said(chat, alice, "one")
    second = said(chat, alice, "two")
    assert (first["seq"], first["rev"], second["seq"], second["rev"]) == (1, 1, 2, 2)
    assert chat.send(alice, {"action": "editMessage", "id": first["id"], "text": "uno"}) == []
    assert chat.send(alice, {"action": "deleteMessage", "id": second["id"]}) == []
    third = said(chat, alice, "three")
    assert (third["seq"], third["rev"]) == (5, 5)
    assert room_rev(aws, "lobby") == 5
    (history,) = chat.send(alice, {"action": "getMessages"})
    assert [(m["seq"], m["rev"], m["text"]) for m in history["messages"]] == [
        (1, 3, "uno"), (2, 4, ""), (5, 5, "three")]


def test_ids_sort_as_plain_strings_in_seq_order_and_cursors_page_by_them(chat):
    alice = chat.join("alice", "lobby")
    sent = [said(chat, alice, f"m{i}") for i in range(12)]
    assert [m["id"] for m in sent] == sorted(m["id"] for m in sent)
    assert [m["seq"] for m in sent] == list(range(1, 13))
    (after,) = chat.send(alice, {"action": "getMessages", "after": sent[8]["id"]})
    assert [m["text"] for m in after["messages"]] == ["m9", "m10", "m11"]
    (before,) = chat.send(alice, {"action": "getMessages", "before": sent[2]["id"]})
    assert [m["text"] for m in before["messages"]] == ["m0", "m1"]


def test_a_client_id_retry_is_stored_once_and_takes_no_revision(chat, aws, outbox):
    alice = chat.join("alice", "lobby")
    first = said(chat, alice, "once", clientId="c-1")
    assert chat.send(alice, {"action": "sendMessage", "text": "once", "clientId": "c-1"}) == []
    assert room_rev(aws, "lobby") == first["rev"] == 1
    (history,) = chat.send(alice, {"action": "getMessages"})
    assert [m["text"] for m in history["messages"]] == ["once"]


def test_an_edit_repeated_with_its_client_id_takes_one_revision(chat, aws):
    alice = chat.join("alice", "lobby")
    message = said(chat, alice, "helo")
    edit = {"action": "editMessage", "id": message["id"], "text": "hello", "clientId": "e-1"}
    assert chat.send(alice, edit) == [] and chat.send(alice, edit) == []
    assert room_rev(aws, "lobby") == 2


def test_a_refused_change_takes_no_revision_and_writes_nothing(chat, aws, outbox):
    stream = TableStream(aws, "messages")
    alice, bob = chat.join("alice", "lobby"), chat.join("bob", "lobby")
    message = said(chat, alice, "mine")
    stream.event()  # the INSERT: read past it
    (refused,) = chat.send(bob, {"action": "deleteMessage", "id": message["id"]})
    assert refused["code"] == "forbidden"
    (unknown,) = chat.send(bob, {"action": "editMessage", "id": "000000000077", "text": "x"})
    assert unknown["code"] == "not_found"
    assert room_rev(aws, "lobby") == 1
    assert stream.event()["Records"] == []  # a cancelled transaction leaves no stream record


def test_the_revision_keeps_whatever_else_the_room_item_holds(chat, aws):
    aws.put_item(TableName=settings.get().rooms_table,
                 Item={"room": {"S": "club"}, "kind": {"S": "private"}, "owner": {"S": "alice"}})
    alice = chat.join("alice", "club")
    said(chat, alice, "hi")
    item = room_item(aws, "club")
    assert (item["kind"]["S"], item["owner"]["S"], item["rev"]["N"]) == ("private", "alice", "1")


def test_frames_carry_the_revision(chat, aws, outbox):
    stream = TableStream(aws, "messages")
    alice, bob = chat.join("alice", "lobby"), chat.join("bob", "lobby")
    message = said(chat, alice, "helo")
    chat.send(alice, {"action": "editMessage", "id": message["id"], "text": "hello"})
    chat.send(alice, {"action": "deleteMessage", "id": message["id"]})
    chat.client.lambda_.invoke("on_new_messages", stream.event())
    frames = [f for f in outbox.frames(bob) if f["type"] != "presence"]
    assert [(f["type"], f["message"]["rev"] if "message" in f else f["rev"]) for f in frames] == [
        ("message", 1), ("messageUpdated", 2), ("messageDeleted", 3)]


def test_twenty_concurrent_senders_get_distinct_consecutive_seqs(aws):
    start = threading.Barrier(20)
    stored, failures, lock = [], [], threading.Lock()

    def sender(n):
        start.wait()
        for i in range(5):
            try:
                message = order.send(Draft("busy", f"user{n}", f"{n}-{i}", ids.iso_utc(0)), 0)
            except Exception as failure:  # any failure is the answer
                with lock:
                    failures.append(repr(failure))
                continue
            with lock:
                stored.append(message)

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sorted(m.seq for m in stored) == list(range(1, 101))
    assert room_rev(aws, "busy") == 100
    items = aws.query(TableName=settings.get().messages_table,
                      KeyConditionExpression="room = :r",
                      ExpressionAttributeValues={":r": {"S": "busy"}})["Items"]
    assert sorted(int(item["seq"]["N"]) for item in items) == list(range(1, 101))


# ----------------------------------------------------------------- getChanges


def test_get_changes_gives_the_current_state_of_everything_changed_since(chat):
    alice = chat.join("alice", "lobby")
    kept, edited, deleted = (said(chat, alice, t) for t in ("kept", "helo", "oops"))
    chat.send(alice, {"action": "editMessage", "id": edited["id"], "text": "hello"})
    chat.send(alice, {"action": "deleteMessage", "id": deleted["id"]})
    reply = changes(chat, alice, 1)
    assert (reply["type"], reply["room"], reply["rev"], reply["hasMore"]) == (
        "changes", "lobby", 5, False)
    assert [(m["id"], m["rev"], m["text"], m.get("deleted", False)) for m in reply["messages"]] == [
        (edited["id"], 4, "hello", False), (deleted["id"], 5, "", True)]
    assert kept["id"] not in [m["id"] for m in reply["messages"]]


def test_get_changes_pages_in_rev_order_with_the_last_rev_as_cursor(chat):
    alice = chat.join("alice", "lobby")
    for i in range(7):
        said(chat, alice, f"m{i}")
    first = changes(chat, alice, 0, limit=3)
    assert ([m["rev"] for m in first["messages"]], first["rev"], first["hasMore"]) == (
        [1, 2, 3], 3, True)
    second = changes(chat, alice, first["rev"], limit=3)
    assert ([m["rev"] for m in second["messages"]], second["rev"], second["hasMore"]) == (
        [4, 5, 6], 6, True)
    last = changes(chat, alice, second["rev"], limit=3)
    assert ([m["rev"] for m in last["messages"]], last["rev"], last["hasMore"]) == ([7], 7, False)


def test_get_changes_when_up_to_date_is_empty_at_the_rooms_revision(chat):
    alice = chat.join("alice", "lobby")
    assert changes(chat, alice, 0) == {
        "type": "changes", "room": "lobby", "messages": [], "rev": 0, "hasMore": False}
    said(chat, alice, "one")
    assert changes(chat, alice, 1)["rev"] == 1
    assert changes(chat, alice, 50)["rev"] == 1  # ahead of the room: told where the room is


def test_get_changes_is_cut_to_one_frame_and_says_has_more(chat):
    alice = chat.join("alice", "lobby")
    for i in range(12):
        said(chat, alice, f"{i:02d}" + "x" * 3990)
    reply = changes(chat, alice, 0)
    assert reply["hasMore"] is True and 0 < len(reply["messages"]) < 12
    assert reply["rev"] == reply["messages"][-1]["rev"]
    assert len(chat.outbox.posts[-1][1]) <= LIMITS.frame_max_bytes


@pytest.mark.parametrize("frame", [
    {"action": "getChanges"},
    {"action": "getChanges", "sinceRev": -1},
    {"action": "getChanges", "sinceRev": 1.5},
    {"action": "getChanges", "sinceRev": "3"},
    {"action": "getChanges", "sinceRev": True},
    {"action": "getChanges", "sinceRev": 0, "limit": 0},
    {"action": "getChanges", "sinceRev": 0, "limit": 101},
    {"action": "getChanges", "sinceRev": 0, "limit": False},
    {"action": "getChanges", "sinceRev": 0, "limit": 2.0},
])
def test_get_changes_refuses_bad_input(chat, frame):
    alice = chat.join("alice", "lobby")
    (reply,) = chat.send(alice, frame)
    assert (reply["type"], reply["code"], reply["action"]) == ("error", "bad_request", "getChanges")


def test_get_changes_counts_against_the_read_allowance(chat, monkeypatch):
    monkeypatch.setenv("RATE_LIMIT_READS", "2")
    lazy.reset()
    alice = chat.join("alice", "lobby")
    assert changes(chat, alice, 0)["type"] == "changes"
    assert changes(chat, alice, 0)["type"] == "changes"
    assert changes(chat, alice, 0)["code"] == "rate_limited"


# ------------------------------------------------------------ read markers


def test_a_late_joiner_has_nothing_unread_and_counts_what_comes_after(chat, client):
    bob = chat.join("bob", "lobby")
    for i in range(3):
        said(chat, bob, f"before {i}")
    chat.join("alice", "lobby")
    said(chat, bob, "after")

    response = client.http.get("/rooms", headers={"Authorization": f"Bearer {token_for('alice')}"})
    (room,) = json.loads(response.body)["rooms"]
    assert (room["room"], room["unread"]) == ("lobby", 1)


def test_a_transaction_conflict_is_a_lost_race_read_again_not_an_error():
    # DynamoDB (not moto) cancels a transaction racing another on the same item
    # with TransactionConflict; the writer must re-read the room and try again.
    import boto3
    from botocore.stub import Stubber

    from chalicelib.store.messages import Messages, RevisionTaken, Turn

    client = boto3.client("dynamodb", region_name="us-east-1")
    repository = Messages(client, "messages", "rooms", "guards", 60, "memberships")
    with Stubber(client) as stub:
        stub.add_client_error(
            "transact_write_items", "TransactionCanceledException",
            response_meta={}, modeled_fields={"CancellationReasons": [
                {"Code": "TransactionConflict"}, {"Code": "None"}]},
        )
        with pytest.raises(RevisionTaken) as taken:
            repository.append(Draft("lobby", "alice", "hi", ids.iso_utc(0)), 4, 0, Turn("w", 0))
    assert taken.value.current is None


def test_a_writer_holding_the_lease_goes_first_and_a_dead_ones_lease_runs_out(aws):
    from chalicelib import store
    from chalicelib.store.messages import RevisionTaken, Turn

    repository, room = store.messages(), "leased"
    slow, fast = Turn("slow", 10_000), Turn("fast", 10_500)
    assert repository.take_lease(room, slow, 2_000)
    assert not repository.take_lease(room, fast, 2_000)
    with pytest.raises(RevisionTaken):  # the right revision, but not its turn
        repository.append(Draft(room, "bob", "fast", ids.iso_utc(0)), 0, 0, fast)
    first = repository.append(Draft(room, "alice", "slow", ids.iso_utc(0)), 0, 0, slow)
    assert first.seq == 1
    assert "lease_owner" not in room_item(aws, room)  # the commit gave it back
    assert repository.append(Draft(room, "bob", "fast", ids.iso_utc(0)), 1, 0, fast).seq == 2

    assert repository.take_lease(room, Turn("dead", 20_000), 2_000)  # and never commits
    with pytest.raises(RevisionTaken):
        repository.append(Draft(room, "bob", "x", ids.iso_utc(0)), 2, 0, Turn("b", 21_000))
    late = repository.append(Draft(room, "bob", "x", ids.iso_utc(0)), 2, 0, Turn("b", 22_001))
    assert late.seq == 3


def test_a_first_lost_race_is_retried_at_once_and_later_ones_after_a_growing_pause():
    # The cancelled transaction told the room's revision as it now is: the
    # first retry goes at once; writers that keep colliding spread out.
    assert order.pause_seconds(1) == 0.0
    for lost in range(2, order.ATTEMPTS):
        cap = min(order.BACKOFF_CAP_S, order.BACKOFF_BASE_S * 2 ** (lost - 1))
        assert all(0.0 <= order.pause_seconds(lost) <= cap for _ in range(20))
    assert max(order.pause_seconds(6) for _ in range(50)) > order.BACKOFF_BASE_S


def test_a_lost_race_is_retried_at_the_revision_the_cancelled_transaction_reported(aws):
    from chalicelib import store
    from chalicelib.store.messages import RoomState, Turn

    repository, room = store.messages(), "raced"
    repository.append(Draft(room, "bob", "first", ids.iso_utc(0)), 0, 0, Turn("b", 0))
    tallies: list[order.Tally] = []
    # Tried at revision 0 (stale): cancelled, told 1, stored at 2 on the next attempt.
    message = order.send(Draft(room, "alice", "second", ids.iso_utc(0)), 0, tallies,
                         expected=RoomState(0, 0))
    assert message is not None and message.seq == 2
    assert tallies == [order.Tally(2)]
