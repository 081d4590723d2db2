"""The fan-out through `chatapp serve`: a slow reader hurts nobody; big rooms split.

One server for the module, with the allowances off (200 messages flow), rooms
above 5 connections split across invocations of deliver_to_connections, and
the first asynchronous invocation failing once (CHATAPP_FAULTS), as Lambda
would see a crash: that page is retried alone.
"""

from __future__ import annotations

from tests.support.chatclient import ChatClient, StalledReader, signup, unique
from tests.support.localserver import server_fixture
from tests.support.waiting import wait_until

BIG_ROOM = 5
MESSAGES = 200
TEXT = "x" * 3000  # 200 of these are far over a client's 256 KB buffer
DEADLINE_SECONDS = 60.0


server = server_fixture(
    rate_limit=0, faults="invocation-fails=1", env={"BIG_ROOM_CONNECTIONS": str(BIG_ROOM)}
)


def collect(client: ChatClient, count: int) -> list[dict]:
    """The next `count` distinct messages (by id) this client gets; repeats are counted too."""
    seen: dict[str, dict] = {}

    def all_seen() -> bool:
        try:
            message = client.recv_type("message", timeout=0.5)
        except TimeoutError:
            return False
        assert message["message"]["id"] not in seen, "delivered twice"
        seen[message["message"]["id"]] = message["message"]
        return len(seen) >= count

    wait_until(all_seen, lambda: f"{count} messages ({len(seen)} came)", DEADLINE_SECONDS, 0)
    return list(seen.values())


def test_a_reader_that_stops_reading_is_closed_and_catches_up_while_nobody_else_waits(server):
    room = unique("slow")
    tokens = [signup(server.api_url)[1] for _ in range(4)]
    fast = [ChatClient(server.ws_url, token, room) for token in tokens[:3]]
    slow = StalledReader(server.ws_url, tokens[3], room)
    try:
        for n in range(MESSAGES):
            fast[0].send("sendMessage", text=f"{n:03d} {TEXT}", clientId=f"c{n}")
        everyone = [collect(client, MESSAGES) for client in fast]
        for got in everyone:
            assert [m["text"][:3] for m in got] == [f"{n:03d}" for n in range(MESSAGES)]

        # The server closed it (DeleteConnection); what it had taken arrives first.
        frames = slow.read_until_closed(timeout=DEADLINE_SECONDS)
        before_close = [frame["message"] for frame in frames if frame["type"] == "message"]
        assert len(before_close) < MESSAGES

        with ChatClient(server.ws_url, tokens[3], room) as again:
            after = before_close[-1]["id"] if before_close else None
            caught_up: list[dict] = []
            while True:
                cursor = {"after": after} if after else {}
                page = again.request("getMessages", "messages", limit=100, **cursor)
                caught_up += page["messages"]
                if not page["messages"] or (not page["hasMore"] and after is not None):
                    break
                after = page["messages"][-1]["id"]
        ids = [m["id"] for m in before_close + caught_up]
        assert ids == [m["id"] for m in everyone[0]]  # no gap, no repeat
    finally:
        for client in [*fast, slow]:
            client.close()


def test_a_big_room_is_delivered_by_pages_each_message_exactly_once(server):
    room = unique("big")
    size = 8 * BIG_ROOM  # 40 connections: 8 pages, one of them failing once
    clients = [ChatClient(server.ws_url, signup(server.api_url)[1], room) for _ in range(size)]
    try:
        for n in range(3):
            clients[0].send("sendMessage", text=f"to all {n}")
        for client in clients:
            # A retried page arrives later than the others: sets, not sequences.
            texts = sorted(m["text"] for m in collect(client, 3))
            assert texts == [f"to all {n}" for n in range(3)]
        # And nothing twice: a repeat would arrive within one window for all the clients
        # (0.2 s, each client's own before: 8 s in all), then what each holds is read.
        assert clients[0].quiet(0.2) == []
        for client in clients[1:]:
            assert client.quiet(0.01) == []
    finally:
        for client in clients:
            client.close()
    assert "asynchronous invocation failed (attempt 1)" in server.logs()
