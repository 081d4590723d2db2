"""The per-user connection cap against `chatapp serve`: it holds under concurrency."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from websockets.exceptions import InvalidStatus

from chalicelib.settings import LIMITS
from tests.chatapp.chat_client import ChatClient, signup
from tests.support.localserver import start_local_server

HANDSHAKES = 40


def open_at_once(ws_url: str, token: str, count: int) -> tuple[list[ChatClient], list[int]]:
    """`count` handshakes released together; the clients let in and the refusals' statuses."""
    start = threading.Barrier(count)

    def handshake(_: int) -> ChatClient | int:
        start.wait()
        try:
            return ChatClient(ws_url, token)
        except InvalidStatus as refused:
            return refused.response.status_code

    with ThreadPoolExecutor(count) as pool:
        outcomes = list(pool.map(handshake, range(count)))
    return ([o for o in outcomes if isinstance(o, ChatClient)],
            [o for o in outcomes if isinstance(o, int)])


def test_forty_simultaneous_handshakes_of_one_user_leave_exactly_ten_open(local_server):
    _, token = signup(local_server.api_url)
    opened, refused = open_at_once(local_server.ws_url, token, HANDSHAKES)
    try:
        assert len(opened) == LIMITS["connections_per_user"]
        assert refused == [429] * (HANDSHAKES - len(opened))
        for client in opened:  # each one let in really works
            assert client.request("ping", "pong") == {"type": "pong"}
    finally:
        for client in opened:
            client.close()
    # Every close gave its slot back: the user can open as many again.
    again, _ = open_at_once(local_server.ws_url, token, LIMITS["connections_per_user"])
    try:
        assert len(again) == LIMITS["connections_per_user"]
    finally:
        for client in again:
            client.close()


def test_a_crash_forgets_the_slots_with_the_connections(tmp_path):
    server = start_local_server(tmp_path / "data")
    try:
        _, token = signup(server.api_url)
        clients = [ChatClient(server.ws_url, token) for _ in range(LIMITS["connections_per_user"])]
        server.kill()  # no $disconnect runs: the slots stay taken in the tables
        for client in clients:
            client.close()
        server.start()
        again = [ChatClient(server.ws_url, token) for _ in range(LIMITS["connections_per_user"])]
        with pytest.raises(InvalidStatus):
            ChatClient(server.ws_url, token)
        for client in again:
            client.close()
    finally:
        server.stop()
