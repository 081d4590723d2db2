"""A chaos run of Order and catch-up (PROTOCOL.md v3) against `chatapp serve`.

4 writers send, edit and delete (some of their writes held on purpose by the
slow-write fault), 2 readers drop their connection and come back at random,
at least 1,000 changes. Each reader keeps a replica the way the site does
(frontend/src/state/revisions.ts): the last revision applied, getChanges for a
skipped revision and after every reconnect. At the end every replica equals
`getMessages` history exactly (text, edited, deleted), every revision 1..N was
reached, nothing twice.

The server runs the handlers on 4 Lambda instances (worker processes, one
invocation at a time each) whose clocks are skewed (instance i runs i * 250 ms
ahead), so the writers' changes are made by different processes with different
clocks, as on Lambda; order must come from the revision alone.
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.request
from typing import Any

from tests.support.chatclient import ChatClient, signup, unique
from tests.support.localserver import LocalServer, server_fixture
from tests.support.waiting import wait_until

SLOW = "CHAOS-SLOW"
CHANGES_PER_WRITER = 275  # a few edits meet a delete first: at least 1,000 changes
WRITERS, READERS = 4, 2
DEADLINE_S = 240
IN_FLIGHT = 4  # changes a writer has sent and not yet seen answered
INSTANCES, SKEW_MS = 4, 250


server = server_fixture(
    "--instances", str(INSTANCES), rate_limit=0,
    faults=f"slow-write=150@{SLOW},clock-skew={SKEW_MS}",
)


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
        """Apply a live frame; True when a getChanges is due (a revision was skipped)."""
        due = self._live(frame)
        self.gaps_filled += due
        return due

    def _live(self, frame: dict[str, Any]) -> bool:
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
        self.target: int | None = None  # the room's revision once the writers are done

    def done(self) -> bool:
        """The writers are done and this replica reached the room's last revision."""
        return self.target is not None and self.replica.applied >= self.target \
            and not self.replica.asking

    def ask(self) -> None:
        if self.replica.asking:
            return
        self.replica.asking = True
        assert self.client is not None
        self.client.send("getChanges", sinceRev=self.replica.applied)

    def connect(self) -> None:
        self.client = ChatClient(self.server.ws_url, self.token, self.room)
        self.replica.asking = False  # whatever was asked died with the last connection
        self.ask()

    def run(self) -> None:
        try:
            self.connect()
            drop_after = self.random.randint(20, 150)
            while True:
                assert self.client is not None
                try:
                    frame = self.client.recv(timeout=2.0)
                except TimeoutError:
                    if self.done():
                        return
                    continue
                if frame["type"] == "changes":
                    if self.replica.changes(frame):
                        self.ask()
                elif frame["type"] in ("message", "messageUpdated", "messageDeleted"):
                    if self.replica.live(frame):
                        self.ask()
                elif frame["type"] == "error":
                    raise AssertionError(f"reader got {frame}")
                if self.done():
                    return
                drop_after -= 1
                if drop_after <= 0 and not self.writers_done.is_set():
                    self.client.close()  # the connection drops; frames meanwhile are missed
                    time.sleep(self.random.uniform(0.05, 0.5))
                    self.reconnects += 1
                    self.connect()
                    drop_after = self.random.randint(20, 150)
        except Exception as failure:  # reported by the test
            self.failure = failure
        finally:
            if self.client is not None:
                self.client.close()


def writer(server: LocalServer, token: str, room: str, seed: int, failures: list[str]) -> None:
    """CHANGES_PER_WRITER changes sent without waiting: messages, edits and deletes of
    its own (ids learnt from its echoes), one in ten held by the slow-write fault.
    Returns once every change it asked for is answered (its frame came back, or an error)."""
    rng, mine = random.Random(seed), []
    outstanding: dict[str, str | None] = {}  # clientId -> the id a delete waits for
    with ChatClient(server.ws_url, token, room) as client:

        def settle(client_id: str | None) -> None:
            outstanding.pop(client_id, None)

        def drain(wait: float) -> None:
            while True:
                try:
                    frame = client.recv(timeout=wait)
                except TimeoutError:
                    return
                wait = 0.0
                kind = frame["type"]
                if kind == "message" and frame["message"].get("clientId") in outstanding:
                    settle(frame["message"]["clientId"])
                    mine.append(frame["message"]["id"])
                elif kind == "messageUpdated":
                    settle(frame["message"].get("clientId"))
                elif kind == "messageDeleted":
                    for client_id, deleted in list(outstanding.items()):
                        if deleted == frame["id"]:
                            settle(client_id)
                elif kind == "error":
                    settle(frame.get("clientId"))
                    if frame["code"] != "not_found":  # not_found: an edit met a delete
                        failures.append(f"writer {seed}: {frame}")  # first: no change

        for n in range(CHANGES_PER_WRITER):
            while len(outstanding) >= IN_FLIGHT:  # a few changes in flight, not a flood
                drain(1.0)
            slow = f" {SLOW}" if rng.random() < 0.1 else ""
            roll, client_id = rng.random(), f"w{seed}-{n}"
            if mine and roll < 0.15:
                outstanding[client_id] = None
                client.send("editMessage", id=rng.choice(mine), text=f"edit {seed}-{n}{slow}",
                            clientId=client_id)
            elif mine and roll < 0.25:
                gone = mine.pop(rng.randrange(len(mine)))
                outstanding[client_id] = gone
                client.send("deleteMessage", id=gone, clientId=client_id)
            else:
                outstanding[client_id] = None
                client.send("sendMessage", text=f"message {seed}-{n}{slow}", clientId=client_id)
            drain(0.01)

        def all_answered() -> bool:
            drain(1.0)
            return not outstanding

        try:
            wait_until(all_answered, "every change answered", DEADLINE_S, interval=0)
        except AssertionError:
            failures.append(f"writer {seed}: {len(outstanding)} changes never answered")


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
    for seed, (_, token) in enumerate(writer_users):
        def run(token: str = token, seed: int = seed) -> None:
            try:
                writer(server, token, room, seed, failures)
            except Exception as failure:  # a dropped writer fails the run, loudly
                failures.append(f"writer {seed}: {failure!r}")
        writers.append(threading.Thread(target=run, daemon=True))
    started = time.monotonic()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join(DEADLINE_S)
    writers_done.set()
    with ChatClient(server.ws_url, reader_tokens[0], room) as checker:
        # An empty page answers the room's revision: every change took one, 1..N.
        changes = checker.request("getChanges", "changes", sinceRev=10**9)["rev"]
    for reader in readers:
        reader.target = changes
    for reader in readers:
        reader.join(DEADLINE_S)
    assert failures == []
    assert changes >= 1000
    stuck = [vars(reader.replica) | {"messages": len(reader.replica.messages)}
             for reader in readers if reader.is_alive()]
    assert stuck == [], f"readers short of revision {changes}: {stuck}"
    assert [t for t in writers if t.is_alive()] == []

    with ChatClient(server.ws_url, reader_tokens[0], room) as checker:
        history = full_history(checker)
    assert len({entry[0] for entry in history}) == len(history)
    for reader in readers:
        assert reader.failure is None, reader.failure
        assert reader.replica.applied == changes
        assert reader.replica.view() == history
    with urllib.request.urlopen(f"{server.url}/_local/instances.json", timeout=10) as answer:
        instances = json.load(answer)["instances"]
    # The writers' changes ran on every instance (each with its own clock), none restarted.
    assert len({i["pid"] for i in instances}) == INSTANCES
    assert all(i["invocations"] > 0 for i in instances), instances
    print(f"\nchaos: {changes} changes in {time.monotonic() - started:.0f} s on "
          f"{INSTANCES} instances (clock skew {SKEW_MS} ms apart), "
          f"{sum(r.reconnects for r in readers)} reconnects, "
          f"{sum(r.replica.gaps_filled for r in readers)} gaps filled "
          f"(skipped revisions seen live), {len(history)} messages")
