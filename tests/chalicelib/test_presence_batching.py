"""Presence and typing cost no more than messages (PROTOCOL.md v3, Big rooms).

One post per connection per room per stream batch; typing thinned per user and
room; rooms with more than 200 users online get `occupancy` instead.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from chalicelib import clock, lazy
from chalicelib.settings import LIMITS
from tests.support.lambda_invocations import recorded_invocations
from tests.support.streams import TableStream

CROWD = LIMITS.occupancy_users + 50  # 250 users online


@pytest.fixture
def connections_stream(aws):
    return TableStream(aws, "connections")


@pytest.fixture
def presence(chat, connections_stream):
    def run():
        event = connections_stream.event()
        return chat.client.lambda_.invoke("on_connection_changes", event).payload
    return run


@pytest.fixture
def invocations(aws, monkeypatch) -> Iterator[list[dict]]:
    with recorded_invocations() as (url, seen):
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", url)
        yield seen


def posts_per_connection(outbox, since: int = 0) -> Counter:
    return Counter(cid for cid, _ in outbox.posts[since:])


def types_seen(outbox, since: int = 0) -> set[str]:
    kinds = set()
    for _, data in outbox.posts[since:]:
        frame = json.loads(data)
        kinds.update(f["type"] for f in (frame["frames"] if frame["type"] == "batch" else [frame]))
    return kinds


def test_a_batch_of_arrivals_reaches_each_connection_as_one_post(chat, outbox, presence):
    watcher = chat.join("watcher", "lobby")
    presence()
    arrivals = [chat.join(name, "lobby") for name in ("alice", "bob", "carol")]
    before = len(outbox.posts)
    assert presence() == {"batchItemFailures": []}
    counts = posts_per_connection(outbox, before)
    assert counts[watcher] == 1 and max(counts.values()) == 1
    (data,) = [data for cid, data in outbox.posts[before:] if cid == watcher]
    frame = json.loads(data)
    assert frame["type"] == "batch"
    assert [(f["username"], f["status"]) for f in frame["frames"]] == [
        ("alice", "online"), ("bob", "online"), ("carol", "online")
    ]
    # Nobody hears of their own arrival; each hears of the two others in one post.
    (own,) = [json.loads(d) for cid, d in outbox.posts[before:] if cid == arrivals[0]]
    assert [f["username"] for f in own["frames"]] == ["bob", "carol"]


def test_typing_is_passed_on_once_per_interval_per_user_whatever_their_tabs(chat, outbox):
    tabs = [chat.join("alice", "lobby") for _ in range(3)]
    bob = chat.join("bob", "lobby")
    for tab in tabs:
        chat.send(tab, {"action": "typing"})
    assert [f["type"] for f in outbox.frames(bob)] == ["typing"]
    # The same user in another room is another typist.
    elsewhere, carol = chat.join("alice", "elsewhere"), chat.join("carol", "elsewhere")
    chat.send(elsewhere, {"action": "typing"})
    assert [f["type"] for f in outbox.frames(carol)] == ["typing"]


def test_a_room_of_more_than_200_users_gets_occupancy_not_presence_or_typing(
    chat, outbox, presence, monkeypatch
):
    clock.get().set(clock.now_ms() / 1000, stopped=True)  # moved by the test only
    crowd = [chat.join(f"user{n:03d}", "arena") for n in range(CROWD)]
    before = len(outbox.posts)
    assert presence() == {"batchItemFailures": []}
    counts = posts_per_connection(outbox, before)
    assert set(counts) == set(crowd) and max(counts.values()) == 1  # one post each
    assert types_seen(outbox, before) == {"occupancy"}
    assert outbox.frames(crowd[0])[-1] == {"type": "occupancy", "room": "arena", "count": CROWD}

    before = len(outbox.posts)
    for typist in crowd[:20]:  # 20 users typing
        chat.send(typist, {"action": "typing"})
    assert outbox.posts[before:] == []

    late = chat.join("latecomer", "arena")  # within 5 s of the last occupancy: not told yet
    presence()
    assert outbox.posts[before:] == []
    clock.get().advance(LIMITS.occupancy_interval_seconds)
    chat.disconnect(late)
    chat.join("another", "arena")
    chat.join("and-one-more", "arena")
    presence()
    counts = posts_per_connection(outbox, before)
    assert max(counts.values()) == 1 and types_seen(outbox, before) == {"occupancy"}
    assert outbox.frames(crowd[0])[-1]["count"] == CROWD + 2


def test_presence_in_a_room_of_many_connections_is_paged_out(
    chat, outbox, presence, invocations, monkeypatch
):
    monkeypatch.setenv("BIG_ROOM_CONNECTIONS", "4")
    lazy.reset()
    room = [chat.join(f"user{n}", "lobby") for n in range(10)]
    presence()
    assert outbox.posts == []
    assert [len(page["connectionIds"]) for page in invocations] == [4, 4, 2]
    assert all(page["ephemeral"] for page in invocations)
    for page in invocations:
        chat.client.lambda_.invoke("deliver_to_connections", page)
    assert set(posts_per_connection(outbox)) == set(room)
    assert max(posts_per_connection(outbox).values()) == 1
    lazy.reset()


def test_forty_typing_frames_from_ten_tabs_pass_on_at_most_once_per_interval(chat, outbox):
    tabs = [chat.join("alice", "busy") for _ in range(10)]
    bob = chat.join("bob", "busy")
    started = time.monotonic()
    for _ in range(4):
        for tab in tabs:
            chat.send(tab, {"action": "typing"})
    elapsed = time.monotonic() - started
    passed = [f for f in outbox.frames(bob) if f["type"] == "typing"]
    # One per interval that the 40 frames spanned (one when sent within 2 s).
    assert 1 <= len(passed) <= 1 + int(elapsed // LIMITS.typing_interval_seconds)
