"""Accounts and abuse limits against a running `chatapp serve` (PROTOCOL.md v2)."""

from __future__ import annotations

import stat
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from chalicelib.settings import LIMITS
from tests.support.chatclient import ChatClient, call, signup, unique
from tests.support.localserver import server_fixture

PASSWORD = "correct horse"


# This module's own server, with --verbose: it logs every event, tokens redacted.
local_server = server_fixture("--verbose")


def test_twenty_parallel_wrong_logins_get_at_most_five_401s(local_server):
    username, _ = signup(local_server.api_url)
    wrong = {"username": username, "password": "not the password"}
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: call(local_server.api_url, "/login", wrong), range(20)))
    statuses = [status for status, _ in answers]
    assert statuses.count(401) <= LIMITS.login_failures_per_user_ip
    assert set(statuses) <= {401, 429}
    assert 429 in statuses


def test_a_429_says_when_to_retry(local_server):
    username, _ = signup(local_server.api_url)
    for _ in range(LIMITS.login_failures_per_user_ip):
        call(local_server.api_url, "/login", {"username": username, "password": "wrong one"})
    request = urllib.request.Request(
        local_server.api_url + "/login",
        data=f'{{"username": "{username}", "password": "{PASSWORD}"}}'.encode(),
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 429
    assert 0 < int(refused.value.headers["Retry-After"]) <= LIMITS.login_window_seconds


def test_the_eleventh_connection_of_a_user_is_refused(local_server):
    _, token = signup(local_server.api_url)
    allowed = LIMITS.connections_per_user
    clients = [ChatClient(local_server.ws_url, token) for _ in range(allowed)]
    try:
        with pytest.raises(InvalidStatus) as refused:
            ChatClient(local_server.ws_url, token)
        assert refused.value.response.status_code == 429
    finally:
        for client in clients:
            client.close()


def test_two_connections_of_one_user_share_one_allowance(local_server):
    _, token = signup(local_server.api_url)
    room = unique("room")
    allowed = LIMITS.rate_limit_writes
    with ChatClient(local_server.ws_url, token, room) as first, ChatClient(
        local_server.ws_url, token, room
    ) as second:
        for n in range(allowed):
            (first if n % 2 else second).send("sendMessage", text=f"n{n}")
        first.messages(allowed)
        second.send("sendMessage", text="over", clientId="over-1")
        refused = [f for f in second.quiet(3.0) if f["type"] == "error"]
        assert [(f["code"], f["clientId"]) for f in refused] == [("rate_limited", "over-1")]


def test_logout_closes_an_open_socket_within_five_seconds(local_server):
    _, token = signup(local_server.api_url)
    with ChatClient(local_server.ws_url, token) as client:
        assert client.request("ping", "pong") == {"type": "pong"}
        status, body = call(local_server.api_url, "/logout", token=token)
        assert (status, body) == (204, None)
        deadline = time.monotonic() + LIMITS.logout_close_seconds
        assert client.recv(timeout=deadline - time.monotonic())["code"] == "unauthorized"
        with pytest.raises(ConnectionClosed):
            client.recv(timeout=deadline - time.monotonic())
    with pytest.raises(InvalidStatus) as refused:
        ChatClient(local_server.ws_url, token)
    assert refused.value.response.status_code == 401


def test_refresh_gives_a_token_that_opens_a_socket(local_server):
    username = unique("user")
    status, first = call(local_server.api_url, "/signup", {"username": username,
                                                           "password": PASSWORD})
    assert status == 201
    status, body = call(local_server.api_url, "/refresh", {"refreshToken": first["refreshToken"]})
    assert status == 200
    assert body["username"] == username
    with ChatClient(local_server.ws_url, body["token"]) as client:
        assert client.request("ping", "pong") == {"type": "pong"}


def test_a_login_right_after_a_logout_works(local_server):
    username, token = signup(local_server.api_url)
    assert call(local_server.api_url, "/logout", token=token)[0] == 204
    status, body = call(
        local_server.api_url, "/login", {"username": username, "password": PASSWORD}
    )
    assert status == 200
    assert call(local_server.api_url, "/rooms", method="GET", token=body["token"])[0] == 200


# ------------------------------------------------------ the local runtime's edge


def cors_origin(local_server, origin: str) -> str | None:
    request = urllib.request.Request(local_server.api_url + "/health", headers={"Origin": origin})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.headers.get("Access-Control-Allow-Origin")


def test_the_api_answers_cors_for_the_sites_own_origins_only(local_server):
    for own in (f"http://127.0.0.1:{local_server.port}", f"http://localhost:{local_server.port}"):
        assert cors_origin(local_server, own) == own
    assert cors_origin(local_server, "http://evil.example") is None
    assert cors_origin(local_server, f"http://127.0.0.1:{local_server.port + 1}") is None


def test_a_websocket_from_another_sites_page_is_refused_with_403(local_server):
    _, token = signup(local_server.api_url)
    with pytest.raises(InvalidStatus) as refused:
        ChatClient(local_server.ws_url, token, origin="http://evil.example")
    assert refused.value.response.status_code == 403
    own = f"http://localhost:{local_server.port}"
    with ChatClient(local_server.ws_url, token, origin=own) as client:
        assert client.request("ping", "pong") == {"type": "pong"}


def test_the_data_dir_is_private(local_server):
    assert stat.S_IMODE(local_server.data_dir.stat().st_mode) == 0o700
    written = [p for p in local_server.data_dir.iterdir() if p.name != "chatapp-serve.log"]
    assert written
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_verbose_logs_carry_no_token(local_server):
    username, token = signup(local_server.api_url)
    with ChatClient(local_server.ws_url, token) as client:
        client.request("ping", "pong")
    credentials = {"username": username, "password": PASSWORD}
    status, body = call(local_server.api_url, "/login", credentials)
    assert status == 200
    status, renewed = call(local_server.api_url, "/refresh", {"refreshToken": body["refreshToken"]})
    assert status == 200
    logs = local_server.logs()
    assert "$connect event" in logs  # the events are logged...
    assert token not in logs  # ...without the token
    assert token.split(".")[2] not in logs
    for secret in (body["refreshToken"], renewed["refreshToken"], body["deviceToken"]):
        assert secret not in logs
