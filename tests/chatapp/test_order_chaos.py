"""A chaos run of Order and catch-up (PROTOCOL.md v3) against `chatapp serve`.

4 writers send, edit and delete (some of their writes held on purpose by the
slow-write fault), 2 readers drop their connection and come back at random,
at least 1,000 changes. Each reader keeps a replica the way the site does
(frontend/src/state/revisions.ts): the last revision applied, getChanges for a
skipped revision and after every reconnect. At the end every replica equals
`getMessages` history exactly (text, edited, deleted), every revision 1..N was
reached, nothing twice.

What this run does not have: separate handler instances with skewed clocks (the
local runtime has no worker pool yet; ids no longer come from a clock).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.chatapp.chat_client import ChatClient, signup, unique
from tests.support.localserver import LocalServer, start_local_server

SLOW = "CHAOS-SLOW"
CHANGES_PER_WRITER = 250
WRITERS, READERS = 4, 2
DEADLINE_S = 240


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    started = start_local_server(
        tmp_path_factory.mktemp("chatapp-chaos"), "--rate-limit", "0",
        env={"CHATAPP_FAULTS": f"slow-write=150@{SLOW}"},
    )
    yield started
    started.stop()


class Replica:
    """A reader's copy of the room, kept as the site keeps it."""

    def __init__(self) -> None:
        self.messages: dict[str, dict[str, Any]] = {}
        self.applied = 0
        self.ahead: set[int] = set()
        self.must_reach = 0
        self.asking = False
        self.gaps_filled = 0

    def _hold(self, message: dict[str, Any]) -> None:
        held = self.messages.get(message["id"])
        if held is None or held["rev"] < message["rev"]:
            self.messages[message["id"]] = message

    def _advance(self) -> None:
        while self.applied + 1 in self.ahead:
            self.applied += 1
        self.ahead = {rev for rev in self.ahead if rev > self.applied}

    def live(self, frame: dict[str, Any]) -> bool:
        """Apply a live frame; True when a getChanges is due."""
        if frame["type"] in ("message", "messageUpdated"):
            self._hold(frame["message"])
            rev = frame["message"]["rev"]
        else:  # messageDeleted
            rev, held = frame["rev"], self.messages.get(frame["id"])
            if held is None:  # no tombstone without its message: getChanges brings it
                self.must_reach = max(self.must_reach, rev)
                return rev > self.applied
            tombstone = {key: held[key] for key in ("id", "room", "sender", "sentAt", "seq")}
            self._hold({**tombstone, "text": "", "deleted": True, "rev": rev})
        if rev > self.applied:
            self.ahead.add(rev)
            self._advance()
        return bool(self.ahead) or self.must_reach > self.applied

    def changes(self, frame: dict[str, Any]) -> bool:
        """Apply a `changes` answer; True when another getChanges is due."""
        for message in frame["messages"]:
            self._hold(message)
        self.asking = False
        self.applied = max(self.applied, frame["rev"]) if frame["hasMore"] else frame["rev"]
        self._advance()
        return frame["hasMore"] or bool(self.ahead) or self.must_reach > self.applied

    def view(self) -> list[tuple[str, str, bool, bool]]:
        return [(m["id"], m["text"], bool(m.get("deleted")), "editedAt" in m)
                for m in sorted(self.messages.values(), key=lambda m: m["seq"])]


class Reader(threading.Thread):
    def __init__(self, server: LocalServer, token: str, room: str, seed: int,
                 writers_done: threading.Event) -> None:
        super().__init__(daemon=True)
        self.server, self.token, self.room = server, token, room
        self.random, self.writers_done = random.Random(seed), writers_done
        self.replica, self.reconnects, self.failure = Replica(), 0, None
        self.client: ChatClient | None = None

    def ask(self, gap: bool = False) -> None:
        if self.replica.asking:
            return
        self.replica.asking = True
        self.replica.gaps_filled += gap
        assert self.client is not None
        self.client.send("getChanges", sinceRev=self.replica.applied)

    def connect(self) -> None:
        self.client = ChatClient(self.server.ws_url, self.token, self.room)
        self.replica.asking = False  # whatever was asked died with the last connection
        self.ask()

    def run(self) -> None:
        try:
            self.connect()
            drop_after = self.random.randint(30, 300)
            while True:
                assert self.client is not None
                try:
                    frame = self.client.recv(timeout=2.0)
                except TimeoutError:
                    if self.writers_done.is_set() and not self.replica.asking:
                        return  # quiet, everything asked is answered
                    continue
                if frame["type"] == "changes":
                    if self.replica.changes(frame):
                        self.ask()
                elif frame["type"] in ("message", "messageUpdated", "messageDeleted"):
                    if self.replica.live(frame):
                        self.ask(gap=True)
                elif frame["type"] == "error":
                    raise AssertionError(f"reader got {frame}")
                drop_after -= 1
                if drop_after <= 0 and not self.writers_done.is_set():
                    self.client.close()  # the connection drops; frames meanwhile are missed
                    time.sleep(self.random.uniform(0.05, 0.5))
                    self.reconnects += 1
                    self.connect()
                    drop_after = self.random.randint(30, 300)
        except Exception as failure:  # reported by the test
            self.failure = failure
        finally:
            if self.client is not None:
                self.client.close()


def writer(server: LocalServer, name: str, token: str, room: str, seed: int,
           failures: list[str]) -> None:
    """CHANGES_PER_WRITER changes: messages, edits and deletes of its own, some slow."""
    rng, mine = random.Random(seed), []
    with ChatClient(server.ws_url, token, room) as client:
        for n in range(CHANGES_PER_WRITER):
            slow = f" {SLOW}" if rng.random() < 0.1 else ""
            roll = rng.random()
            if mine and roll < 0.15:
                client.send("editMessage", id=rng.choice(mine), text=f"edit {seed}-{n}{slow}")
                wanted = ("messageUpdated", None)
            elif mine and roll < 0.25:
                gone = mine.pop(rng.randrange(len(mine)))
                client.send("deleteMessage", id=gone)
                wanted = ("messageDeleted", gone)
            else:
                client_id = f"w{seed}-{n}"
                client.send("sendMessage", text=f"message {seed}-{n}{slow}", clientId=client_id)
                wanted = ("message", client_id)
            deadline = time.monotonic() + 30
            while True:  # paced by its own change coming back through the fan-out
                frame = client.recv(timeout=max(0.1, deadline - time.monotonic()))
                if frame["type"] == "error":
                    failures.append(f"writer {seed}: {frame}")
                    break
                if frame["type"] != wanted[0]:
                    continue
                if wanted[0] == "message" and frame["message"].get("clientId") == wanted[1]:
                    mine.append(frame["message"]["id"])
                    break
                if wanted[0] == "messageDeleted" and frame["id"] == wanted[1]:
                    break
                if wanted[0] == "messageUpdated" and frame["message"]["sender"] == name:
                    break


def full_history(client: ChatClient) -> list[tuple[str, str, bool, bool]]:
    """Every message of the room, oldest first, paging back with `before`."""
    pages: list[list[dict[str, Any]]] = []
    page = client.request("getMessages", "messages", limit=100)
    pages.append(page["messages"])
    while page["hasMore"]:
        page = client.request("getMessages", "messages", limit=100,
                              before=page["messages"][0]["id"])
        pages.append(page["messages"])
    history = [m for chunk in reversed(pages) for m in chunk]
    return [(m["id"], m["text"], bool(m.get("deleted")), "editedAt" in m) for m in history]


def test_readers_that_drop_at_random_end_with_exactly_the_history(server):
    room = unique("chaos")
    writer_users = [signup(server.api_url, "writer") for _ in range(WRITERS)]
    reader_tokens = [signup(server.api_url, "reader")[1] for _ in range(READERS)]
    writers_done, failures = threading.Event(), []
    readers = [Reader(server, token, room, seed, writers_done)
               for seed, token in enumerate(reader_tokens)]
    for reader in readers:
        reader.start()
    time.sleep(0.5)
    writers = []
    for seed, (name, token) in enumerate(writer_users):
        writers.append(threading.Thread(
            target=writer, args=(server, name, token, room, seed, failures), daemon=True))
    started = time.monotonic()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join(DEADLINE_S)
    writers_done.set()
    for reader in readers:
        reader.join(60)
    assert failures == []
    assert all(not thread.is_alive() for thread in writers + readers)

    with ChatClient(server.ws_url, reader_tokens[0], room) as checker:
        history = full_history(checker)
        newest = checker.request("getChanges", "changes", sinceRev=10**9)["rev"]
    changes = WRITERS * CHANGES_PER_WRITER
    assert newest == changes  # every change took one revision: 1..N, no gaps
    assert len({entry[0] for entry in history}) == len(history)
    for reader in readers:
        assert reader.failure is None, reader.failure
        assert reader.replica.applied == changes
        assert reader.replica.view() == history
    print(f"\nchaos: {changes} changes in {time.monotonic() - started:.0f} s, "
          f"{sum(r.reconnects for r in readers)} reconnects, "
          f"{sum(r.replica.gaps_filled for r in readers)} gaps filled by getChanges, "
          f"{len(history)} messages")
