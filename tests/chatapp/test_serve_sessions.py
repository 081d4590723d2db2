"""Sessions against a running `chatapp serve` (PROTOCOL.md v3, Sessions): real sockets.

Logout ends the caller's session: its connections get `unauthorized` and are
closed within 5 seconds, other sessions keep working; `everywhere` ends them
all. A reused refresh token ends its family, sockets included. A flood of
invalid frames is answered `rate_limited`. A close the Management API keeps
refusing past the logout's retries is closed later, by the delivery function.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from chalicelib.settings import LIMITS
from tests.support.chatclient import ChatClient, call, unique
from tests.support.localserver import start_local_server
from tests.support.waiting import wait_until

PASSWORD = "correct horse"
CLOSE_SECONDS = LIMITS.logout_close_seconds


def new_user(api_url: str) -> tuple[str, dict[str, Any]]:
    username = unique("sess")[:32]
    status, body = call(api_url, "/signup", {"username": username, "password": PASSWORD})
    assert status == 201, body
    return username, body


def log_in(api_url: str, username: str) -> dict[str, Any]:
    status, body = call(api_url, "/login", {"username": username, "password": PASSWORD})
    assert status == 200, body
    return body


def told_and_closed(client: ChatClient, seconds: float = CLOSE_SECONDS) -> bool:
    """Whether the connection got `unauthorized` and was closed within `seconds` (5 s)."""
    frames: list[dict[str, Any]] = []

    def closed() -> bool:
        try:
            frames.append(client.recv(timeout=0.1))
        except ConnectionClosed:
            return True
        except TimeoutError:
            pass
        return False

    try:
        wait_until(closed, "the close", seconds, interval=0)
    except AssertionError:
        return False
    return [f.get("code") for f in frames if f.get("type") == "error"] == ["unauthorized"]


def still_works(client: ChatClient) -> bool:
    return client.request("ping", "pong") == {"type": "pong"}


def test_logout_closes_the_callers_connections_and_no_other_sessions(local_server):
    username, mine = new_user(local_server.api_url)
    other = log_in(local_server.api_url, username)
    room = unique("room")
    with ChatClient(local_server.ws_url, mine["token"], room) as first, ChatClient(
        local_server.ws_url, mine["token"]
    ) as second, ChatClient(local_server.ws_url, other["token"], room) as elsewhere:
        assert still_works(first) and still_works(second)
        assert call(local_server.api_url, "/logout", token=mine["token"])[0] == 204
        assert told_and_closed(first)
        assert told_and_closed(second)
        assert still_works(elsewhere)
    with pytest.raises(InvalidStatus) as refused:
        ChatClient(local_server.ws_url, mine["token"])
    assert refused.value.response.status_code == 401
    assert call(local_server.api_url, "/refresh", {"refreshToken": mine["refreshToken"]})[0] == 401
    assert call(local_server.api_url, "/rooms", method="GET", token=other["token"])[0] == 200


def test_logout_everywhere_closes_every_session_of_the_user(local_server):
    username, first = new_user(local_server.api_url)
    second = log_in(local_server.api_url, username)
    _, bystander = new_user(local_server.api_url)
    with ChatClient(local_server.ws_url, first["token"]) as one, ChatClient(
        local_server.ws_url, second["token"]
    ) as two, ChatClient(local_server.ws_url, bystander["token"]) as bob:
        assert still_works(one) and still_works(two)
        status, _ = call(local_server.api_url, "/logout", {"everywhere": True},
                         token=second["token"])
        assert status == 204
        assert told_and_closed(one)
        assert told_and_closed(two)
        assert still_works(bob)
    for session in (first, second):
        refresh = call(local_server.api_url, "/refresh", {"refreshToken": session["refreshToken"]})
        assert refresh[0] == 401


def test_a_reused_refresh_token_ends_its_family_sockets_included(local_server):
    _, session = new_user(local_server.api_url)
    status, renewed = call(local_server.api_url, "/refresh",
                           {"refreshToken": session["refreshToken"]})
    assert status == 200
    with ChatClient(local_server.ws_url, renewed["token"]) as client:
        assert still_works(client)
        replay = call(local_server.api_url, "/refresh", {"refreshToken": session["refreshToken"]})
        assert replay[0] == 401
        assert told_and_closed(client)
    with pytest.raises(InvalidStatus) as refused:
        ChatClient(local_server.ws_url, renewed["token"])
    assert refused.value.response.status_code == 401


def test_150_invalid_frames_are_answered_rate_limited_before_the_150th(local_server):
    _, session = new_user(local_server.api_url)
    codes: list[str] = []
    with ChatClient(local_server.ws_url, session["token"]) as client:
        # All sent before any answer is read: the allowance's window (10 s) opens
        # at the first frame, and a loaded machine's round trips must not let it
        # pass before the limit is reached. A connection's frames are handled one
        # at a time, in order (chatapp/gateway.py), so the answers are in order.
        try:
            for _ in range(150):
                client.send_raw("{not json")
        except ConnectionClosed:
            pass  # it went on: the connection was closed
        try:
            while len(codes) < 150:
                codes.append(client.recv_type("error")["code"])
        except ConnectionClosed:
            pass
    assert "rate_limited" in codes[:149]
    assert set(codes) <= {"bad_request", "rate_limited"}
    assert codes.index("rate_limited") == LIMITS.rate_limit_invalid


def test_a_connection_opened_while_its_session_logs_out_is_closed_too(tmp_path: Path):
    # Each upgrade waits 1.5 s after its $connect handler accepted it (API
    # Gateway's latency, made long): the logout comes in between, while a
    # DeleteConnection can only answer 410.
    server = start_local_server(tmp_path, faults="slow-connect=1500")
    try:
        _, session = new_user(server.api_url)
        opened: dict[str, ChatClient] = {}
        connecting = threading.Thread(
            target=lambda: opened.setdefault("client", ChatClient(server.ws_url, session["token"]))
        )
        connecting.start()
        # Its $connect has run and registered it on the session (counted once it has):
        wait_until(lambda: server.metrics()["totals"]["openConnections"] == 1, "its $connect")
        assert call(server.api_url, "/logout", token=session["token"])[0] == 204
        connecting.join(timeout=15)
        client = opened["client"]  # the upgrade completed...
        try:
            assert told_and_closed(client)  # ...and the logout closed it right after
        finally:
            client.close()
    finally:
        server.stop()


def test_a_close_still_throttled_after_the_logouts_retries_is_closed_by_a_later_retry(
    tmp_path: Path,
):
    # The first 60 DeleteConnection calls answer 429 (the account's rate): more
    # than the logout's own retries make in their 4 s (about 20).
    server = start_local_server(tmp_path, env={"CHATAPP_FAULTS": "delete-throttled=60"})
    try:
        _, session = new_user(server.api_url)
        with ChatClient(server.ws_url, session["token"]) as client:
            assert still_works(client)
            assert call(server.api_url, "/logout", token=session["token"])[0] == 204
            # Handed to the delivery function (an asynchronous Invoke): it closes
            # the connection once deletes go through, nobody's help needed.
            assert told_and_closed(client, seconds=60), server.logs()[-3000:]
        logs = server.logs()
        assert "handed to deliver_to_connections (attempt 1" in logs
        assert logs.count("429 (CHATAPP_FAULTS=delete-throttled)") == 60
    finally:
        server.stop()
