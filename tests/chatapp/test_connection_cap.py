"""The per-user connection cap against `chatapp serve`: it holds under concurrency."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from websockets.exceptions import InvalidStatus

from chalicelib.settings import LIMITS
from tests.support.chatclient import ChatClient, signup
from tests.support.localserver import start_local_server
from tests.support.waiting import wait_until

HANDSHAKES = 40


def open_at_once(
    ws_url: str, token: str, count: int
) -> tuple[list[ChatClient], list[int | str]]:
    """`count` handshakes released together; the clients let in and the refusals' statuses."""
    start = threading.Barrier(count)

    def handshake(_: int) -> ChatClient | int | str:
        start.wait()
        try:
            return ChatClient(ws_url, token)
        except InvalidStatus as refused:
            return refused.response.status_code
        except Exception as failure:  # shown in the assertion, not raised from the pool
            return repr(failure)

    with ThreadPoolExecutor(count) as pool:
        outcomes = list(pool.map(handshake, range(count)))
    return ([o for o in outcomes if isinstance(o, ChatClient)],
            [o for o in outcomes if not isinstance(o, ChatClient)])


def test_forty_simultaneous_handshakes_of_one_user_leave_exactly_ten_open(local_server):
    _, token = signup(local_server.api_url)
    opened, refused = open_at_once(local_server.ws_url, token, HANDSHAKES)
    try:
        assert refused == [429] * (HANDSHAKES - LIMITS.connections_per_user)
        assert len(opened) == LIMITS.connections_per_user
        for client in opened:  # each one let in really works
            assert client.request("ping", "pong") == {"type": "pong"}
    finally:
        for client in opened:
            client.close()
    # Every close gives its slot back ($disconnect runs just after the close):
    # the user can open as many again.
    allowed = LIMITS.connections_per_user

    def all_accepted_again() -> bool:
        again, failed = open_at_once(local_server.ws_url, token, allowed)
        for client in again:
            client.close()
        return failed == [] and len(again) == allowed

    wait_until(all_accepted_again, f"{allowed} connections accepted again", 15, interval=0.5)


def test_a_crash_forgets_the_slots_with_the_connections(tmp_path):
    server = start_local_server(tmp_path / "data")
    try:
        _, token = signup(server.api_url)
        clients = [ChatClient(server.ws_url, token) for _ in range(LIMITS.connections_per_user)]
        server.kill()  # no $disconnect runs: the slots stay taken in the tables
        for client in clients:
            client.close()
        server.start()
        again = [ChatClient(server.ws_url, token) for _ in range(LIMITS.connections_per_user)]
        with pytest.raises(InvalidStatus):
            ChatClient(server.ws_url, token)
        for client in again:
            client.close()
    finally:
        server.stop()
