"""Being throttled is not being slow (PROTOCOL.md v3, Big rooms): the fan-out under 429s.

The Management API double answers 429 from a script per connection (a full
buffer) or from an account-wide token bucket (chatapp.management.AccountRate);
asynchronous Invokes of the delivery function (hand-backs) are recorded by a
loopback Lambda endpoint and then run as Lambda would run them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from chalicelib import fanout, send_rate
from tests.support.lambda_invocations import recorded_invocations
from tests.support.streams import TableStream


@pytest.fixture
def invocations(aws, monkeypatch) -> Iterator[list[dict]]:
    """Asynchronous Invokes the handlers make: their payloads, in order."""
    with recorded_invocations() as (url, seen):
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", url)
        yield seen


@pytest.fixture
def stream(aws):
    return TableStream(aws, "messages")


def deliver(chat, stream):
    return chat.client.lambda_.invoke("on_new_messages", stream.event()).payload


def texts(outbox, connection):
    return [f["message"]["text"] for f in outbox.frames(connection) if f["type"] == "message"]


def test_posts_all_answered_429_for_a_while_close_nobody_and_reach_everyone_once(
    chat, outbox, stream, invocations
):
    room = [chat.join(f"user{n}", "lobby") for n in range(21)]
    for cid in room:  # the account's rate: everyone refused, twice over
        outbox.script[cid] = ["429", "429"]
    chat.send(room[0], {"action": "sendMessage", "text": "hello"})
    assert deliver(chat, stream) == {"batchItemFailures": []}
    assert outbox.closed == []
    assert all(texts(outbox, cid) == ["hello"] for cid in room)
    assert send_rate.get().rate < send_rate.get().ceiling  # the process slowed down


def test_when_the_throttling_outlasts_the_rounds_the_rest_is_handed_back_not_dropped(
    chat, outbox, stream, invocations
):
    room = [chat.join(f"user{n}", "lobby") for n in range(21)]
    for cid in room[5:]:
        outbox.script[cid] = ["429"] * 20
    chat.send(room[0], {"action": "sendMessage", "text": "hello"})
    assert deliver(chat, stream) == {"batchItemFailures": []}
    assert outbox.closed == []
    (page,) = invocations
    assert sorted(page["connectionIds"]) == sorted(room[5:])
    assert page["attempt"] == 1 and page["delay"] > 0
    for cid in room[5:]:
        outbox.script[cid] = []  # the account's rate is back
    chat.client.lambda_.invoke("deliver_to_connections", page)
    assert all(texts(outbox, cid) == ["hello"] for cid in room)
    assert outbox.closed == []


def test_a_reader_refusing_alone_is_struck_and_closed_at_the_third_strike(
    chat, outbox, stream, invocations
):
    room = [chat.join(f"user{n}", "lobby") for n in range(10)]
    stalled = room[3]
    outbox.script[stalled] = ["429"] * 20
    chat.send(room[0], {"action": "sendMessage", "text": "hello"})
    assert deliver(chat, stream) == {"batchItemFailures": []}
    assert outbox.closed == [stalled]
    assert invocations == []
    assert all(texts(outbox, cid) == ["hello"] for cid in room if cid != stalled)


def test_a_reader_that_refuses_then_takes_its_frames_is_not_closed(
    chat, outbox, stream, invocations
):
    room = [chat.join(f"user{n}", "lobby") for n in range(10)]
    slow = room[3]
    for n in range(4):  # refuses the first try of each batch, takes the retry
        outbox.script[slow] = ["429"]
        chat.send(room[0], {"action": "sendMessage", "text": f"m{n}"})
        assert deliver(chat, stream) == {"batchItemFailures": []}
    assert outbox.closed == []
    assert texts(outbox, slow) == [f"m{n}" for n in range(4)]


def test_ephemeral_frames_are_dropped_when_throttled_and_close_nobody(chat, outbox):
    room = [chat.join(f"user{n}", "lobby") for n in range(4)]
    for cid in room[1:]:
        outbox.script[cid] = ["429"] * 5
    chat.send(room[0], {"action": "typing"})
    assert outbox.closed == []
    assert all(outbox.frames(cid) == [] for cid in room[1:])
    assert [outbox.script[cid] for cid in room[1:]] == [["429"] * 4] * 3  # tried once each


def test_a_connection_gone_mid_round_is_forgotten_and_the_rest_delivered(
    chat, outbox, stream, invocations
):
    alice, ghost = chat.join("alice", "lobby"), chat.join("ghost", "lobby")
    outbox.script[alice] = ["429"]
    outbox.gone.add(ghost)
    chat.send(alice, {"action": "sendMessage", "text": "hi"})
    assert deliver(chat, stream) == {"batchItemFailures": []}
    assert texts(outbox, alice) == ["hi"]
    assert fanout.STRIKES_TO_CLOSE > 1 and outbox.closed == []


def test_a_handed_back_page_carries_keys_not_text_and_a_message_deleted_since_stays_deleted(
    chat, outbox, stream, invocations
):
    alice, bob = chat.join("alice", "lobby"), chat.join("bob", "lobby")
    chat.send(alice, {"action": "sendMessage", "text": "regrettable"})
    for cid in (alice, bob):  # the account's rate, for the whole delivery
        outbox.script[cid] = ["429"] * 20
    deliver(chat, stream)
    (page,) = invocations
    assert "regrettable" not in json.dumps(page)  # what an on-failure queue would keep
    (message_id, kind), = page["messages"]
    assert kind == "message"
    chat.send(alice, {"action": "deleteMessage", "id": message_id})
    outbox.script[alice] = outbox.script[bob] = []
    chat.client.lambda_.invoke("deliver_to_connections", page)
    assert [f["type"] for f in outbox.frames(bob)] == ["messageDeleted"]
