"""The stream handler, fed the records moto's DynamoDB stream really produced.

Messages are written through the sendMessage handler; the records are read
back with boto3's dynamodbstreams client and shaped as Lambda shapes them.
"""

from __future__ import annotations

import json

import boto3
import pytest

from chalicelib import lazy, settings
from chalicelib.connections_api import ENDPOINT_ENV
from chalicelib.protocol import FRAME_MAX_BYTES
from chatapp.streams import lambda_record


class Stream:
    """Reads the messages table's stream from the start, returning only new records."""

    def __init__(self, aws):
        self.streams = boto3.client("dynamodbstreams")
        self.arn = aws.describe_table(TableName=settings.get().messages_table)["Table"][
            "LatestStreamArn"
        ]
        shard = self.streams.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"][0]
        self.iterator = self.streams.get_shard_iterator(
            StreamArn=self.arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]

    def event(self):
        response = self.streams.get_records(ShardIterator=self.iterator)
        self.iterator = response["NextShardIterator"]
        records = [lambda_record(r, self.arn, "us-east-1") for r in response["Records"]]
        return {"Records": records}


@pytest.fixture
def stream(aws):
    return Stream(aws)


def deliver(chat, stream):
    event = stream.event()
    return event, chat.client.lambda_.invoke("on_new_messages", event).payload


def say(chat, connection, text, **extra):
    assert chat.send(connection, {"action": "sendMessage", "text": text, **extra}) == []


def posts_to(outbox, connection):
    return [json.loads(data) for cid, data in outbox.posts if cid == connection]


def received(outbox, connection):
    return [frame["message"]["text"] for frame in outbox.frames(connection)
            if frame["type"] == "message"]


def test_a_message_reaches_everyone_in_its_room_and_no_one_else(chat, outbox, stream):
    alice, bob = chat.join("alice", "lobby"), chat.join("bob", "lobby")
    carol = chat.join("carol", "elsewhere")
    say(chat, alice, "hello lobby", clientId="c-1")
    event, result = deliver(chat, stream)
    assert len(event["Records"]) == 1
    assert result == {"batchItemFailures": []}
    (frame,) = outbox.frames(alice)
    assert posts_to(outbox, alice) == [frame]  # a single frame is sent bare
    assert frame["type"] == "message"
    message = frame["message"]
    assert set(message) == {"id", "room", "sender", "text", "sentAt", "clientId", "seq", "rev"}
    assert (message["room"], message["sender"], message["text"], message["clientId"]) == (
        "lobby", "alice", "hello lobby", "c-1")
    assert outbox.frames(bob) == [frame]
    assert outbox.frames(carol) == []


def test_a_batch_reaches_each_connection_as_one_post_in_order_and_queries_each_room_once(
    chat, outbox, stream, monkeypatch
):
    from chalicelib import store

    queried = []
    real = store.connections().room_pages
    def counted(room, size=None):
        queried.append(room)
        return real(room, size)

    monkeypatch.setattr(store.connections(), "room_pages", counted)
    a, b, b2 = chat.join("alice", "a"), chat.join("bob", "b"), chat.join("bea", "b")
    for i in range(3):
        say(chat, a, f"a{i}")
        say(chat, b, f"b{i}")
    event, result = deliver(chat, stream)
    assert len(event["Records"]) == 6
    assert result == {"batchItemFailures": []}
    assert received(outbox, a) == ["a0", "a1", "a2"]
    assert received(outbox, b) == received(outbox, b2) == ["b0", "b1", "b2"]
    assert sorted(queried) == ["a", "b"]
    for connection in (a, b, b2):
        (post,) = posts_to(outbox, connection)
        assert post["type"] == "batch"
        assert [frame["type"] for frame in post["frames"]] == ["message"] * 3


def test_a_batch_over_32_kb_is_split_in_order_and_never_nested(chat, outbox, stream):
    alice, bob = chat.join("alice", "lobby"), chat.join("bob", "lobby")
    texts = [f"{i:02d}" + "é" * 2000 for i in range(12)]  # ~4 KB of UTF-8 each
    for text in texts:
        say(chat, alice, text)
    _, result = deliver(chat, stream)
    assert result == {"batchItemFailures": []}
    for connection in (alice, bob):
        assert received(outbox, connection) == texts
        sizes = [len(data) for cid, data in outbox.posts if cid == connection]
        assert len(sizes) == 2 and all(size <= FRAME_MAX_BYTES for size in sizes)
        for post in posts_to(outbox, connection):
            assert all(frame["type"] == "message" for frame in post["frames"])


def test_a_gone_connection_is_deleted_and_nobody_else_notices(chat, outbox, stream, aws):
    alice, ghost = chat.join("alice", "lobby"), chat.join("ghost", "lobby")
    outbox.gone.add(ghost)
    say(chat, alice, "anyone?")
    _, result = deliver(chat, stream)
    assert result == {"batchItemFailures": []}
    assert received(outbox, alice) == ["anyone?"]
    key = {"connection_id": {"S": ghost}}
    assert "Item" not in aws.get_item(TableName=settings.get().connections_table, Key=key)


def test_a_room_the_service_keeps_failing_for_is_reported_while_the_rest_is_delivered(
    chat, outbox, stream
):
    healthy, broken = chat.join("alice", "healthy"), chat.join("bob", "broken")
    outbox.broken.add(broken)
    say(chat, healthy, "fine")
    say(chat, broken, "fails")
    event, result = deliver(chat, stream)
    by_room = {r["dynamodb"]["NewImage"]["room"]["S"]: r["dynamodb"]["SequenceNumber"]
               for r in event["Records"]}
    assert result == {"batchItemFailures": [{"itemIdentifier": by_room["broken"]}]}
    assert received(outbox, healthy) == ["fine"]


def test_records_other_than_inserts_send_nothing(chat, outbox, stream, aws):
    alice = chat.join("alice", "lobby")
    say(chat, alice, "to be removed")
    deliver(chat, stream)
    item = aws.scan(TableName=settings.get().messages_table)["Items"][0]
    aws.delete_item(TableName=settings.get().messages_table,
                    Key={"room": item["room"], "id": item["id"]})
    event, result = deliver(chat, stream)
    assert [r["eventName"] for r in event["Records"]] == ["REMOVE"]
    assert result == {"batchItemFailures": []}
    assert received(outbox, alice) == ["to be removed"]


def test_a_large_room_gets_every_message(chat, outbox, stream, monkeypatch):
    members = [chat.join(f"user{i}", "big") for i in range(60)]
    say(chat, members[0], "to all")
    _, result = deliver(chat, stream)
    assert result == {"batchItemFailures": []}
    assert all(received(outbox, member) == ["to all"] for member in members)


def test_without_a_websocket_api_id_the_batch_fails_loudly(chat, outbox, stream, monkeypatch):
    say(chat, chat.join("alice"), "hi")
    monkeypatch.setenv("WEBSOCKET_API_ID", "")
    monkeypatch.delenv(ENDPOINT_ENV)
    lazy.reset()
    with pytest.raises(RuntimeError, match="WEBSOCKET_API_ID"):
        deliver(chat, stream)
    lazy.reset()



def test_a_reader_that_keeps_refusing_is_closed_and_nobody_else_waits_for_it(
    chat, outbox, stream
):
    alice, slow = chat.join("alice", "lobby"), chat.join("slow", "lobby")
    outbox.script[slow] = ["429"] * 10  # its buffer stays full
    say(chat, alice, "one")
    say(chat, alice, "two")
    _, result = deliver(chat, stream)
    assert result == {"batchItemFailures": []}
    assert received(outbox, alice) == ["one", "two"]
    assert received(outbox, slow) == []
    assert outbox.closed == [slow]  # DeleteConnection: its client reconnects and catches up


def test_a_reader_that_refuses_once_gets_its_frames_on_a_retry(chat, outbox, stream):
    alice, busy = chat.join("alice", "lobby"), chat.join("busy", "lobby")
    outbox.script[busy] = ["429", "500"]
    say(chat, alice, "patience")
    _, result = deliver(chat, stream)
    assert result == {"batchItemFailures": []}
    assert received(outbox, busy) == ["patience"]
    assert outbox.closed == []


def test_a_page_handed_over_by_message_keys_is_read_and_delivered_in_order(chat, outbox, stream):
    # What on_new_messages sends deliver_to_connections when the frames would not
    # fit in an asynchronous Invoke (256 KB): the room and the messages' ids.
    alice, bob = chat.join("alice", "lobby"), chat.join("bob", "lobby")
    say(chat, alice, "first")
    say(chat, alice, "second")
    ids = [r["dynamodb"]["NewImage"]["id"]["S"] for r in stream.event()["Records"]]
    page = {"room": "lobby", "connectionIds": [bob], "messageIds": ids}
    chat.client.lambda_.invoke("deliver_to_connections", page)
    assert received(outbox, bob) == ["first", "second"]
    assert received(outbox, alice) == []


def test_a_page_the_service_keeps_failing_for_raises_so_lambda_retries_it(chat, outbox):
    alice, broken = chat.join("alice", "lobby"), chat.join("bob", "lobby")
    outbox.broken.add(broken)
    page = {"room": "lobby", "connectionIds": [alice, broken], "frames": [{"type": "pong"}]}
    with pytest.raises(RuntimeError, match="kept failing"):
        chat.client.lambda_.invoke("deliver_to_connections", page)
    assert outbox.frames(alice) == [{"type": "pong"}]


def test_a_page_read_before_a_removal_skips_the_connection_that_left_the_room(
        chat, outbox, stream):
    from chalicelib import store

    alice, bob = chat.join("alice", "lobby"), chat.join("bob", "lobby")
    say(chat, alice, "first")
    ids = [r["dynamodb"]["NewImage"]["id"]["S"] for r in stream.event()["Records"]]
    page = {"room": "lobby", "connectionIds": [alice, bob], "messageIds": ids, "readAt": 1}
    assert store.connections().leave(bob, "lobby")  # removed after the page's read of the room
    chat.client.lambda_.invoke("deliver_to_connections", page)
    assert received(outbox, alice) == ["first"]
    assert outbox.frames(bob) == []


def test_a_delivery_right_after_its_read_of_the_room_reads_no_connection_again(
        chat, outbox, stream):
    from chalicelib import store

    alice, bob = chat.join("alice", "lobby"), chat.join("bob", "lobby")
    say(chat, alice, "hello")
    made: list[str] = []
    store.client().meta.events.register(
        "before-call.dynamodb", lambda model, **_: made.append(model.name)
    )
    _, result = deliver(chat, stream)
    assert result == {"batchItemFailures": []}
    assert received(outbox, bob) == ["hello"]
    assert made == ["Query"]  # the room index, nothing else
