"""Repositories are built from a client, table names and a clock: tests hand them their own."""

from __future__ import annotations

import pytest

from chalicelib import clock, errors, lazy, settings, store
from chalicelib.clock import Clock
from chalicelib.store.connections import Connections
from chalicelib.store.guards import Guards
from chalicelib.store.sessions import Sessions
from chalicelib.store.users import Users


def test_the_container_builds_each_repository_once_and_again_after_a_reset(aws):
    assert store.connections() is store.connections()
    first = store.users()
    lazy.reset()
    assert store.users() is not first


def test_a_repository_handed_a_stopped_clock_writes_that_time(aws):
    stopped = Clock()
    stopped.set(1_800_000_000, stopped=True)
    sessions = Sessions(aws, settings.get().sessions_table, stopped)
    sessions.start("s1", "alice", "hash", "nonce", expires_at=1_800_000_600)
    record = sessions.get("s1")
    assert record is not None and record.started_at == 1_800_000_000
    assert record.active(1_800_000_599) and not record.active(1_800_000_600)


def test_users_are_unique_ignoring_case(aws):
    users = Users(aws, settings.get().users_table)
    users.create("Alice", "hash", "2026-01-01T00:00:00.000Z")
    with pytest.raises(errors.UsernameTaken):
        users.create("ALICE", "other", "2026-01-01T00:00:00.000Z")
    found = users.get("alice")
    assert found is not None and (found.username, found.password_hash) == ("Alice", "hash")


def test_a_window_counts_to_its_limit_then_says_how_long_to_wait(aws):
    guards = Guards(aws, settings.get().guards_table)
    assert [guards.take_from_window("k", 2, 10, 1000) for _ in range(2)] == [0, 0]
    assert guards.take_from_window("k", 2, 10, 1004) == 6  # the window opened at 1000
    guards.give_back_to_window("k")
    assert guards.take_from_window("k", 2, 10, 1005) == 0
    assert guards.take_from_window("k", 2, 10, 1010) == 0  # a new window
    guards.forget_window("k")
    assert aws.get_item(TableName=settings.get().guards_table,
                        Key={"guard_key": {"S": "k"}}).get("Item") is None


def test_a_rooms_pages_and_occupants_come_from_the_same_query(aws):
    config = settings.get()
    connections = Connections(aws, config.connections_table, config.user_index,
                              config.room_index, config.connection_ttl_seconds)
    now = clock.now_s()
    for n in range(5):
        connections.put(f"c{n}", f"user{n % 2}", "lobby", now, now + 60)
    connections.put("elsewhere", "user0", "other", now, now + 60)
    pages = list(connections.room_pages("lobby", 2))
    assert [len(page) for page in pages] == [2, 2, 1]
    occupants = connections.occupants("lobby")
    assert sorted(cid for page in pages for cid in page) == sorted(c for c, _ in occupants)
    assert dict(occupants)["c3"] == "user1"
    assert connections.leave("c3", "lobby") and not connections.leave("c3", "lobby")
    assert "c3" not in dict(connections.occupants("lobby"))
    assert connections.existing(["c3", "gone"]) == {"c3"}
    assert sorted(connections.of_user("USER0")) == ["c0", "c2", "c4", "elsewhere"]
