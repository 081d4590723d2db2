"""Order and catch-up (PROTOCOL.md v3) against `chatapp serve`, with a slow write on purpose.

The server runs with CHATAPP_FAULTS=slow-write=MS@MARKER: the embedded
DynamoDB holds any write carrying MARKER, so one user's write is slow while
everyone else's is not. That reproduces the interleaving measured on main
before revisions existed: Bob's message is begun first and stored last, Carol
saw Alice's in between and was away when Bob's landed. It runs the handlers on
two Lambda instances (worker processes) whose clocks are SKEW_MS apart
(CHATAPP_FAULTS=clock-skew), so Bob's and Alice's writes are made by different
processes with different clocks, as on Lambda.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from typing import Any

import pytest

from tests.support.chatclient import ChatClient, signup, unique
from tests.support.localserver import LocalServer, server_fixture, start_local_server

SLOW = "SLOW-WRITE-MARK"
SLOW_MS = 1500
SKEW_MS = 250


server = server_fixture(
    "--instances", "2", faults=f"slow-write={SLOW_MS}@{SLOW},clock-skew={SKEW_MS}"
)


class Timeline:
    """What a client holds: messages by id and the last revision applied (as the site does)."""

    def __init__(self) -> None:
        self.messages: dict[str, dict[str, Any]] = {}
        self.rev = 0

    def apply(self, message: dict[str, Any]) -> None:
        held = self.messages.get(message["id"])
        if held is None or held["rev"] < message["rev"]:
            self.messages[message["id"]] = message

    def frame(self, frame: dict[str, Any]) -> None:
        if frame["type"] in ("message", "messageUpdated"):
            self.apply(frame["message"])
            self.rev = max(self.rev, frame["message"]["rev"])
        elif frame["type"] == "messageDeleted":
            held = self.messages.get(frame["id"])
            if held is not None:
                self.apply({**held, "text": "", "deleted": True, "rev": frame["rev"]})
            self.rev = max(self.rev, frame["rev"])

    def catch_up(self, client: ChatClient) -> int:
        """getChanges from the last applied revision, page after page; the pages asked."""
        pages = 0
        while True:
            pages += 1
            reply = client.request("getChanges", "changes", sinceRev=self.rev)
            for message in reply["messages"]:
                self.apply(message)
            self.rev = reply["rev"]
            if not reply["hasMore"]:
                return pages

    def view(self) -> list[tuple[str, str, bool, bool]]:
        return [(m["id"], m["text"], bool(m.get("deleted")), "editedAt" in m)
                for m in sorted(self.messages.values(), key=lambda m: m["seq"])]


def instances_of(server: LocalServer) -> list[dict[str, Any]]:
    """The server's Lambda instances: index, pid, invocations so far."""
    with urllib.request.urlopen(f"{server.url}/_local/instances.json", timeout=10) as answer:
        return json.load(answer)["instances"]


def history_view(client: ChatClient) -> list[tuple[str, str, bool, bool]]:
    history = client.request("getMessages", "messages", limit=100)["messages"]
    return [(m["id"], m["text"], bool(m.get("deleted")), "editedAt" in m) for m in history]


def next_of(client: ChatClient, frame_type: str, text: str | None = None) -> dict[str, Any]:
    """The next frame of this type (and text); others are skipped, an error is a failure."""

    def wanted(frame: dict[str, Any]) -> bool:
        assert frame["type"] != "error", frame
        return frame["type"] == frame_type and (
            text is None or frame.get("message", {}).get("text") == text
        )

    return client.recv_until(wanted, timeout=15)


def test_a_reader_away_while_a_slow_write_landed_catches_up_with_everything(server):
    room = unique("order")
    (_, alice_token), (_, bob_token), (_, carol_token) = (
        signup(server.api_url, name) for name in ("alice", "bob", "carol"))
    with ChatClient(server.ws_url, alice_token, room) as alice, \
            ChatClient(server.ws_url, bob_token, room) as bob:
        carol, timeline = ChatClient(server.ws_url, carol_token, room), Timeline()

        before = {i["pid"]: i["invocations"] for i in instances_of(server)}
        bob.send("sendMessage", text=f"bob, begun first {SLOW}")  # its write is held
        time.sleep(0.02)
        alice.send("sendMessage", text="alice, stored first")  # on the other instance
        seen = next_of(carol, "message")
        timeline.frame(seen)
        assert (seen["message"]["text"], seen["message"]["seq"]) == ("alice, stored first", 1)
        carol.close()  # Carol's socket drops

        # Bob's write lands (it lost revision 1, so it takes 2) and goes out live.
        bobs = next_of(alice, "message", f"bob, begun first {SLOW}")["message"]
        assert (bobs["text"], bobs["seq"], bobs["rev"]) == (f"bob, begun first {SLOW}", 2, 2)
        # Both instances ran meanwhile (Bob's held one could not take Alice's send),
        # and neither was replaced.
        after = {i["pid"]: i["invocations"] for i in instances_of(server)}
        assert after.keys() == before.keys() and len(after) == 2
        assert all(after[pid] > before[pid] for pid in after), (before, after)
        # Changes made while Carol is away: an edit, a delete, a new message.
        alice.send("editMessage", id=seen["message"]["id"], text="alice, edited")
        assert next_of(alice, "messageUpdated")["message"]["rev"] == 3
        bob.send("deleteMessage", id=bobs["id"])
        assert next_of(alice, "messageDeleted")["rev"] == 4
        alice.send("sendMessage", text="alice, later")
        assert next_of(alice, "message")["message"]["rev"] == 5

        with ChatClient(server.ws_url, carol_token, room) as carol_again:
            timeline.catch_up(carol_again)
            assert timeline.rev == 5
            assert timeline.view() == history_view(carol_again)
        assert timeline.view() == [
            (seen["message"]["id"], "alice, edited", False, True),
            (bobs["id"], "", True, False),
            (timeline.view()[2][0], "alice, later", False, False),
        ]


def test_twenty_concurrent_senders_store_every_message_with_a_consecutive_seq(server):
    room, per_sender = unique("busy"), 5
    tokens = [signup(server.api_url, "sender")[1] for _ in range(20)]
    clients = [ChatClient(server.ws_url, token, room) for token in tokens]
    start, failures = threading.Barrier(len(clients)), []

    def send_all(client: ChatClient, n: int) -> None:
        start.wait()
        for i in range(per_sender):
            client.send("sendMessage", text=f"{n}-{i}", clientId=f"c-{n}-{i}")
        # Every sender hears every message (its own included) or the run failed.
        try:
            got = [next_of(client, "message") for _ in range(20 * per_sender)]
        except (TimeoutError, AssertionError) as failure:
            failures.append((n, repr(failure)))
            return
        assert len({frame["message"]["id"] for frame in got}) == 20 * per_sender

    threads = [threading.Thread(target=send_all, args=(c, n)) for n, c in enumerate(clients)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert failures == []
        history = clients[0].request("getMessages", "messages", limit=100)["messages"]
        assert [m["seq"] for m in history] == list(range(1, 20 * per_sender + 1))
        assert sorted(m["text"] for m in history) == sorted(
            f"{n}-{i}" for n in range(20) for i in range(per_sender))
        assert [m["id"] for m in history] == sorted(m["id"] for m in history)
        changes = clients[0].request("getChanges", "changes", sinceRev=0)
        assert (changes["rev"], changes["hasMore"]) == (100, False)
    finally:
        for client in clients:
            client.close()


def test_the_slow_write_fault_is_parsed_with_or_without_a_marker():
    from chatapp.faults import Faults, from_environment

    assert from_environment({"CHATAPP_FAULTS": "slow-write=250"}) == Faults(slow_write_ms=250)
    assert from_environment({"CHATAPP_FAULTS": "slow-write=9@MARK"}) == Faults(
        slow_write_ms=9, slow_write_marker="MARK")
    with pytest.raises(ValueError, match="slow-write=MS"):
        from_environment({"CHATAPP_FAULTS": "slow-write=soon"})


def test_the_drop_after_fault_drops_a_connection_after_n_frames_and_a_reconnect_catches_up(
    tmp_path,
):
    from websockets.exceptions import ConnectionClosed

    from chatapp.faults import Faults, from_environment

    assert from_environment({"CHATAPP_FAULTS": "drop-after=3"}) == Faults(drop_after_frames=3)
    flaky = start_local_server(tmp_path / "data", faults="drop-after=3")
    try:
        room = unique("flaky")
        (_, token), (_, writer_token) = signup(flaky.api_url), signup(flaky.api_url)
        reader, timeline = ChatClient(flaky.ws_url, token, room), Timeline()
        for n in range(5):  # a connection per message: each gets 1-2 frames, under the cap
            with ChatClient(flaky.ws_url, writer_token, room) as writer:
                writer.send("sendMessage", text=f"m{n}")
                next_of(writer, "message", f"m{n}")
        with pytest.raises(ConnectionClosed):  # 3 frames (presence counts), then dropped
            while True:
                frame = reader.recv(timeout=5)
                if frame["type"] == "message":
                    timeline.frame(frame)
        reader.close()
        assert timeline.rev < 5
        with ChatClient(flaky.ws_url, token, room) as again:
            timeline.catch_up(again)
            assert timeline.view() == history_view(again)
        assert [text for _, text, _, _ in timeline.view()] == [f"m{n}" for n in range(5)]
    finally:
        flaky.stop()
