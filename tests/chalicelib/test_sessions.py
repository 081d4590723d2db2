"""Sessions (PROTOCOL.md v3): one-time refresh tokens, session families, logout, device tokens.

Through chalice.test.Client and the WebSocket handlers, against moto. Lifetimes
are tested by setting the clock (chalicelib.clock), never by patching time.
"""

from __future__ import annotations

import json

import jwt
import pytest
from chalice.local import LambdaEventConverter

from chalicelib import auth, clock, keys, lazy, revocation, settings, store
from chalicelib.settings import LIMITS
from tests.chalicelib.test_observability import emf_lines, metric_values
from tests.support.lambda_invocations import recorded_invocations

JSON = {"Content-Type": "application/json"}
PASSWORD = "correct horse"
WIRE_FIELDS = {"username", "token", "expiresAt", "refreshToken", "refreshExpiresAt", "deviceToken"}


def post(client, path, body=None, token=None):
    headers = {**JSON, **({"Authorization": f"Bearer {token}"} if token else {})}
    raw = b"" if body is None else json.dumps(body).encode()
    return client.http.post(path, headers=headers, body=raw)


def signup(client, username="alice"):
    response = post(client, "/signup", {"username": username, "password": PASSWORD})
    assert response.status_code == 201, response.json_body
    return response.json_body


def login(client, username="alice", password=PASSWORD, device=None):
    body = {"username": username, "password": password}
    if device is not None:
        body["deviceToken"] = device
    return post(client, "/login", body)


def refresh(client, refresh_token):
    return post(client, "/refresh", {"refreshToken": refresh_token})


def rooms(client, token):
    return client.http.get("/rooms", headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def from_address(monkeypatch):
    """Requests come from a public address (chalice's local events say 127.0.0.1)."""
    def use(address: str) -> None:
        monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", address)

    return use


# ------------------------------------------------------------------ the pair


@pytest.mark.parametrize("path", ["/signup", "/login", "/refresh"])
def test_signup_login_and_refresh_answer_the_whole_session(client, path):
    session = signup(client)
    if path == "/login":
        session = login(client).json_body
    elif path == "/refresh":
        session = refresh(client, session["refreshToken"]).json_body
    assert set(session) == WIRE_FIELDS
    key_set = keys.current()
    claims = jwt.decode(session["token"], key_set.keys[key_set.signing], algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] <= 15 * 60 == settings.get().token_lifetime_seconds
    assert session["refreshToken"] != session["token"] and "." not in session["refreshToken"]


def test_refresh_tokens_are_stored_only_as_hashes(client, aws):
    session = signup(client)
    renewed = refresh(client, session["refreshToken"]).json_body
    stored = json.dumps(aws.scan(TableName=settings.get().sessions_table)["Items"])
    for token in (session["refreshToken"], renewed["refreshToken"]):
        assert token not in stored
    assert renewed["refreshExpiresAt"] == session["refreshExpiresAt"]  # the login's 30 days


def test_a_refresh_token_works_once(client):
    session = signup(client)
    renewed = refresh(client, session["refreshToken"])
    assert renewed.status_code == 200
    assert renewed.json_body["username"] == "alice"
    assert rooms(client, renewed.json_body["token"]).status_code == 200
    again = refresh(client, renewed.json_body["refreshToken"])
    assert again.status_code == 200


def test_a_spent_refresh_token_presented_again_ends_the_whole_session(client, chat):
    session = signup(client)
    renewed = refresh(client, session["refreshToken"]).json_body
    open_socket = chat.connect({"token": renewed["token"]})[0]
    replay = refresh(client, session["refreshToken"])  # the thief, or the owner: one is
    assert replay.status_code == 401
    assert replay.json_body["Code"] == "UnauthorizedError"
    # The pair issued from the spent token stops working: REST, refresh, $connect.
    assert rooms(client, renewed["token"]).status_code == 401
    assert refresh(client, renewed["refreshToken"]).status_code == 401
    assert chat.connect({"token": renewed["token"]})[1] == 401
    assert chat.outbox.closed == [open_socket]
    assert [f["code"] for f in chat.outbox.frames(open_socket)] == ["unauthorized"]


def test_a_reuse_ends_only_that_session(client):
    first = signup(client)
    second = login(client).json_body
    refresh(client, first["refreshToken"])
    assert refresh(client, first["refreshToken"]).status_code == 401
    assert rooms(client, second["token"]).status_code == 200
    assert refresh(client, second["refreshToken"]).status_code == 200


@pytest.mark.parametrize("body", [{}, {"refreshToken": ""}, {"refreshToken": "made-up"}])
def test_an_unknown_or_missing_refresh_token_is_401(client, body):
    signup(client)
    response = post(client, "/refresh", body)
    assert response.status_code == 401


@pytest.mark.parametrize("body", [{"refreshToken": 5}, [1]])
def test_a_malformed_refresh_body_is_400(client, body):
    assert post(client, "/refresh", body).status_code == 400


def test_a_bearer_access_token_alone_never_refreshes(client):
    session = signup(client)
    assert post(client, "/refresh", token=session["token"]).status_code == 401
    assert post(client, "/refresh", {"refreshToken": session["token"]}).status_code == 401


def test_access_tokens_expire_after_15_minutes_and_refresh_gives_a_new_one(client):
    session = signup(client)
    clock.get().advance(settings.get().token_lifetime_seconds + 1)
    assert rooms(client, session["token"]).status_code == 401
    renewed = refresh(client, session["refreshToken"]).json_body
    assert rooms(client, renewed["token"]).status_code == 200


def test_a_session_ends_30_days_after_its_login_however_often_refreshed(client, chat):
    session = signup(client)
    for _ in range(29):  # refreshed every day
        clock.get().advance(86400)
        session = refresh(client, session["refreshToken"]).json_body
    assert chat.connect({"token": session["token"]})[1] == 200
    clock.get().advance(86400)
    assert refresh(client, session["refreshToken"]).status_code == 401
    assert rooms(client, session["token"]).status_code == 401
    assert chat.connect({"token": session["token"]})[1] == 401
    assert login(client).status_code == 200  # a new login starts a new 30 days


# ------------------------------------------------------------------ logout


def test_logout_ends_the_callers_session_only(client, chat):
    mine, other = signup(client), login(client).json_body
    assert post(client, "/logout", token=mine["token"]).status_code == 204
    assert rooms(client, mine["token"]).status_code == 401
    assert refresh(client, mine["refreshToken"]).status_code == 401
    assert chat.connect({"token": mine["token"]})[1] == 401
    assert rooms(client, other["token"]).status_code == 200
    assert refresh(client, other["refreshToken"]).status_code == 200


def test_logout_everywhere_ends_every_session_of_the_user(client, chat):
    sessions = [signup(client), login(client).json_body, login(client).json_body]
    bob = signup(client, "bob")
    response = post(client, "/logout", {"everywhere": True}, token=sessions[1]["token"])
    assert response.status_code == 204
    for session in sessions:
        assert rooms(client, session["token"]).status_code == 401
        assert refresh(client, session["refreshToken"]).status_code == 401
        assert chat.connect({"token": session["token"]})[1] == 401
    assert rooms(client, bob["token"]).status_code == 200


@pytest.mark.parametrize("body", [{"everywhere": "yes"}, [True]])
def test_a_malformed_logout_body_is_400_and_ends_nothing(client, body):
    session = signup(client)
    assert post(client, "/logout", body, token=session["token"]).status_code == 400
    assert rooms(client, session["token"]).status_code == 200


def test_a_connection_still_inside_its_connect_during_logout_is_closed_once_open(client, chat):
    session = signup(client)
    connection = chat.connect({"token": session["token"]})[0]
    # DeleteConnection answers 410 while a connection's $connect runs; its record exists.
    chat.outbox.delete_script[connection] = ["410", "410"]
    assert post(client, "/logout", token=session["token"]).status_code == 204
    assert chat.outbox.closed == [connection]


def test_a_refused_delete_is_retried_until_the_connection_is_gone(client, chat):
    session = signup(client)
    connection = chat.connect({"token": session["token"]})[0]
    chat.outbox.delete_script[connection] = ["429"] * 8  # refused for about a second
    assert post(client, "/logout", token=session["token"]).status_code == 204
    assert chat.outbox.closed == [connection]


@pytest.fixture
def invocations(aws, monkeypatch):
    """Asynchronous Invokes the handlers make: their payloads, in order."""
    with recorded_invocations() as (url, seen):
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", url)
        yield seen


def test_a_delete_still_refused_after_the_retries_is_handed_to_a_later_retry(
    client, chat, invocations, capsys, monkeypatch
):
    monkeypatch.setattr(revocation, "CLOSE_SECONDS", 1.5)  # retried 0.5 s, not 4: the same path
    session = signup(client)
    refused, closed = (chat.connect({"token": session["token"]})[0] for _ in range(2))
    chat.outbox.delete_script[refused] = ["429"] * 1000  # throttled through the whole logout
    capsys.readouterr()
    assert post(client, "/logout", token=session["token"]).status_code == 204
    written = emf_lines(capsys.readouterr().out)
    assert sum(metric_values(written, "ClosesHandedOff")) == 1
    assert chat.outbox.closed == [closed]
    (page,) = invocations
    assert page == {"close": [refused], "told": [refused], "attempt": 1, "delay": 1.0}
    # Later the service takes deletes again: the delivery function closes it, without
    # telling it twice.
    chat.outbox.delete_script[refused] = []
    chat.client.lambda_.invoke("deliver_to_connections", page | {"delay": 0})  # not its 1 s wait
    assert chat.outbox.closed == [closed, refused]
    assert [f["code"] for f in chat.outbox.frames(refused)] == ["unauthorized"]
    assert len(invocations) == 1


def test_a_handed_over_close_still_refused_is_handed_on_then_fails_for_lambda_to_retry(
    client, chat, invocations, monkeypatch
):
    monkeypatch.setattr(revocation, "HANDED_OVER_CLOSE_SECONDS", 0.3)
    session = signup(client)
    connection = chat.connect({"token": session["token"]})[0]
    chat.outbox.delete_script[connection] = ["429"] * 10_000
    page = {"close": [connection], "attempt": 1, "delay": 0}
    chat.client.lambda_.invoke("deliver_to_connections", page)
    (handed_on,) = invocations
    assert handed_on == {"close": [connection], "told": [connection], "attempt": 2,
                         "delay": revocation.HANDOFF_DELAYS[1]}
    last = {**handed_on, "attempt": revocation.MAX_HANDOFFS, "delay": 0}
    with pytest.raises(RuntimeError, match="could not be closed"):
        chat.client.lambda_.invoke("deliver_to_connections", last)
    assert len(invocations) == 1  # Lambda's own retries and the on-failure queue take it
    assert chat.outbox.closed == []


@pytest.mark.parametrize("page", [
    {"close": []}, {"close": "abc="}, {"close": [1]}, {"close": ["a="], "attempt": 0},
    {"close": ["a="], "told": "a="}, {"close": ["a="], "delay": "soon"},
])
def test_a_malformed_close_page_is_refused_and_closes_nothing(client, chat, page):
    with pytest.raises(ValueError, match="not a page of connections to close"):
        chat.client.lambda_.invoke("deliver_to_connections", page)
    assert chat.outbox.closed == []


def test_a_connect_after_its_session_ended_registers_nothing(client, chat, aws):
    session = signup(client)
    claims = auth.verify_token(session["token"])
    store.sessions().end(claims.session_id, clock.now_s())
    assert not store.sessions().attach_connection(claims.session_id, "late=", clock.now_s())
    assert chat.connect({"token": session["token"]})[1] == 401
    assert aws.scan(TableName=settings.get().connections_table)["Items"] == []


def test_a_frame_on_a_connection_of_an_ended_session_gets_unauthorized(client, chat):
    session = signup(client)
    connection = chat.connect({"token": session["token"]})[0]
    chat.outbox.delete_script[connection] = ["429"] * 100  # logout cannot close it
    claims = auth.verify_token(session["token"])
    store.sessions().end(claims.session_id, clock.now_s())
    lazy.reset()  # another container: it never saw this session (the 5 s cache is per process)
    (reply,) = chat.send(connection, {"action": "ping"})
    assert reply["code"] == "unauthorized"


# ------------------------------------------------------------------ device tokens


def guess_from_many_addresses(client, from_address, addresses=20):
    per_address = LIMITS.login_failures_per_user_ip
    for n in range(addresses):
        from_address(f"198.51.100.{n + 1}")
        for _ in range(per_address):
            assert login(client, "alice", "wrong password").status_code == 401


def test_a_device_token_from_an_earlier_login_gets_its_owner_past_a_lockout(
    client, from_address
):
    from_address("203.0.113.7")
    device = signup(client)["deviceToken"]
    guess_from_many_addresses(client, from_address)  # 20 addresses, 5 each: the name's 100 failures
    from_address("192.0.2.50")
    locked = login(client)
    assert locked.status_code == 429
    assert 0 < int(locked.headers["Retry-After"]) <= settings.get().login_window_seconds
    owner = login(client, device=device)
    assert owner.status_code == 200
    assert owner.json_body["deviceToken"] == device  # the same device, known again


def test_a_device_token_does_not_lift_the_limit_per_name_and_address(client, from_address):
    from_address("203.0.113.7")
    device = signup(client)["deviceToken"]
    for _ in range(LIMITS.login_failures_per_user_ip):
        login(client, "alice", "wrong password", device=device)
    assert login(client, device=device).status_code == 429


@pytest.mark.parametrize("which", ["other-user", "forged", "non-ascii", "junk"])
def test_only_a_genuine_device_token_of_that_user_exempts(client, from_address, which):
    from_address("203.0.113.7")
    signup(client)
    bob_device = signup(client, "bob")["deviceToken"]
    kid, nonce = bob_device.split(".")[1:3]
    device = {"other-user": bob_device, "forged": f"d1.{kid}.{nonce}.AAAA",
              "non-ascii": f"d1.{kid}.é.é", "junk": "x"}[which]
    guess_from_many_addresses(client, from_address)
    from_address("192.0.2.50")
    assert login(client, device=device).status_code == 429


def test_a_device_token_must_be_a_string(client):
    signup(client)
    assert login(client, device=5).status_code == 400
