"""The fan-out against `chatapp serve` with the account's request rate emulated.

The Management API answers 429 once more calls than --connections-rate per
second arrive, whoever they are for (AWS: 10,000/s shared by the account).
Here the rate is set below a room's fan-out: nobody may be closed for it, and
every message must still reach every connection exactly once.
"""

from __future__ import annotations

import threading
import time

from chalicelib.settings import LIMITS
from tests.support.chatclient import ChatClient, StalledReader, signup, unique
from tests.support.localserver import server_fixture

ACCOUNT_RATE, ACCOUNT_BURST = 200, 100  # calls per second: a 300-connection room needs 300
ROOM_SIZE = 300
MESSAGES = 5
DEADLINE_SECONDS = 120.0
REPEAT_WINDOW_SECONDS = 1.0


server = server_fixture(
    "--connections-rate", str(ACCOUNT_RATE), "--connections-burst", str(ACCOUNT_BURST),
    rate_limit=0,
)


def messages_until(client: ChatClient, count: int, deadline: float) -> list[dict]:
    """The next `count` message frames (occupancy, typing and presence passed over)."""
    got = []
    while len(got) < count:
        frame = client.recv(timeout=max(deadline - time.monotonic(), 0.1))
        if frame["type"] == "message":
            got.append(frame["message"])
    return got


def test_a_room_bigger_than_the_account_rate_gets_every_message_once_and_nobody_is_closed(
    server,
):
    room = unique("crowd")
    per_user = LIMITS.connections_per_user
    tokens = [signup(server.api_url)[1] for _ in range(ROOM_SIZE // per_user)]
    clients = [ChatClient(server.ws_url, token, room) for token in tokens for _ in range(per_user)]
    try:
        started = time.monotonic()
        for n in range(MESSAGES):
            clients[n].send("sendMessage", text=f"m{n}", clientId=f"c{n}")
        deadline = started + DEADLINE_SECONDS
        for client in clients:
            got = messages_until(client, MESSAGES, deadline)
            assert sorted(m["text"] for m in got) == [f"m{n}" for n in range(MESSAGES)]
        took = time.monotonic() - started
        print(f"\n{MESSAGES} messages to {ROOM_SIZE} connections at {ACCOUNT_RATE} calls/s"
              f" (burst {ACCOUNT_BURST}): delivered to all in {took:.1f} s")
        # Nothing twice: a repeat would arrive within this window (one window for all
        # the clients, not one each), then each client's frames so far are read.
        time.sleep(REPEAT_WINDOW_SECONDS)
        for client in clients:  # and every connection still open
            assert [f for f in client.quiet(0.01) if f["type"] == "message"] == []
            assert client.request("ping", "pong") == {"type": "pong"}
    finally:
        for client in clients:
            client.close()
    assert "kept refusing frames" not in server.logs()


def test_a_reader_that_never_reads_is_still_closed(server):
    room = unique("stall")
    reader_token, stalled_token = signup(server.api_url)[1], signup(server.api_url)[1]
    count, text = 200, "y" * 3000  # 600 KB: far over what the client and sockets buffer
    with ChatClient(server.ws_url, reader_token, room) as reader:
        stalled = StalledReader(server.ws_url, stalled_token, room)
        try:
            for n in range(count):
                reader.send("sendMessage", text=f"{n:03d} {text}")
                if n % 10 == 9:  # the rate (200 calls/s) is not what closes it
                    time.sleep(0.2)
            assert len(messages_until(reader, count, time.monotonic() + DEADLINE_SECONDS)) == count
            frames = stalled.read_until_closed(timeout=DEADLINE_SECONDS)
            assert len([f for f in frames if f["type"] == "message"]) < count
        finally:
            stalled.close()


def test_a_client_reading_slowly_while_it_sends_a_burst_is_not_closed_and_loses_nothing(server):
    count, text = 400, "z" * 3900  # ~1.6 MB of echoes: six times the client buffer
    _, token = signup(server.api_url)
    with ChatClient(server.ws_url, token, unique("burst")) as client:
        received: list[dict] = []

        def read_slowly() -> None:
            deadline = time.monotonic() + DEADLINE_SECONDS
            while len(received) < count and time.monotonic() < deadline:
                frame = client.recv(timeout=DEADLINE_SECONDS)
                if frame["type"] == "message":
                    received.append(frame["message"])
                time.sleep(0.002)  # slower than the server writes

        reader = threading.Thread(target=read_slowly)
        reader.start()
        for n in range(count):
            client.send("sendMessage", text=f"{n:04d} {text}", clientId=f"b{n}")
        reader.join(DEADLINE_SECONDS + 5)
        assert sorted(m["text"][:4] for m in received) == [f"{n:04d}" for n in range(count)]
        assert len({m["id"] for m in received}) == count
        assert client.request("ping", "pong") == {"type": "pong"}  # still open
