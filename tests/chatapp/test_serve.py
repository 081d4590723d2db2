"""`chatapp serve` end to end: a real subprocess, real WebSocket clients, PROTOCOL.md."""

from __future__ import annotations

import json
import time
import urllib.request

import jwt
import pytest
from websockets.exceptions import InvalidStatus

from chalicelib.settings import LIMITS
from tests.support.chatclient import ChatClient, call, signup, unique
from tests.support.localserver import LocalServer

TEXT_MAX = LIMITS.text_max


@pytest.fixture
def room() -> str:
    return unique("room")


def test_two_users_in_a_room_see_each_others_messages_in_order(local_server, room):
    (alice, alice_token), (bob, bob_token) = signup(local_server.api_url), signup(
        local_server.api_url
    )
    with ChatClient(local_server.ws_url, alice_token, room) as a, ChatClient(
        local_server.ws_url, bob_token, room
    ) as b:
        for n in range(5):
            a.send("sendMessage", text=f"a{n}")
        b.send("sendMessage", text="b0")
        seen_by_a, seen_by_b = a.messages(6), b.messages(6)

    assert [m["text"] for m in seen_by_a] == [m["text"] for m in seen_by_b]
    texts_from_a = [m["text"] for m in seen_by_b if m["sender"] == alice]
    assert texts_from_a == ["a0", "a1", "a2", "a3", "a4"]
    assert {m["sender"] for m in seen_by_b} == {alice, bob}
    assert all(m["room"] == room for m in seen_by_b)
    ids = [m["id"] for m in seen_by_b]
    assert ids == sorted(ids) and len(set(ids)) == 6


def test_another_room_sees_nothing(local_server, room):
    _, sender_token = signup(local_server.api_url)
    _, other_token = signup(local_server.api_url)
    with ChatClient(local_server.ws_url, sender_token, room) as sender, ChatClient(
        local_server.ws_url, other_token, unique("elsewhere")
    ) as other:
        sender.send("sendMessage", text="only for my room")
        sender.messages(1)
        assert other.quiet(1.0) == []


def test_sender_is_the_authenticated_user_whatever_the_frame_says(local_server, room):
    alice, token = signup(local_server.api_url)
    with ChatClient(local_server.ws_url, token, room) as client:
        client.send("sendMessage", text="hi", sender="mallory")
        assert client.messages(1)[0]["sender"] == alice


def test_history_with_limit_before_and_after(local_server, room):
    _, token = signup(local_server.api_url)
    with ChatClient(local_server.ws_url, token, room) as client:
        for n in range(7):
            client.send("sendMessage", text=f"m{n}")
        ids = [m["id"] for m in client.messages(7)]

        newest = client.request("getMessages", "messages", limit=3)
        assert [m["text"] for m in newest["messages"]] == ["m4", "m5", "m6"]
        assert newest["hasMore"] is True and newest["room"] == room

        older = client.request("getMessages", "messages", limit=3, before=ids[4])
        assert [m["text"] for m in older["messages"]] == ["m1", "m2", "m3"]
        assert older["hasMore"] is True

        oldest = client.request("getMessages", "messages", limit=3, before=ids[1])
        assert [m["text"] for m in oldest["messages"]] == ["m0"]
        assert oldest["hasMore"] is False

        catch_up = client.request("getMessages", "messages", limit=4, after=ids[1])
        assert [m["text"] for m in catch_up["messages"]] == ["m2", "m3", "m4", "m5"]
        assert catch_up["hasMore"] is True

        everything = client.request("getMessages", "messages")
        assert [m["id"] for m in everything["messages"]] == ids
        assert everything["hasMore"] is False


def test_join_room_moves_the_connection(local_server, room):
    _, mover_token = signup(local_server.api_url)
    _, stayer_token = signup(local_server.api_url)
    target = unique("target")
    with ChatClient(local_server.ws_url, mover_token, room) as mover, ChatClient(
        local_server.ws_url, stayer_token, target
    ) as stayer:
        assert mover.request("joinRoom", "joined", room=target) == {
            "type": "joined",
            "room": target,
        }
        stayer.send("sendMessage", text="welcome")
        assert mover.messages(1)[0]["text"] == "welcome"
        mover.send("sendMessage", text="thanks")
        assert [m["text"] for m in stayer.messages(2)] == ["welcome", "thanks"]
        assert mover.messages(1)[0]["room"] == target


def test_ping_gets_pong(local_server):
    _, token = signup(local_server.api_url)
    with ChatClient(local_server.ws_url, token) as client:
        assert client.request("ping", "pong") == {"type": "pong"}


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "bad_request"),
        ("[1, 2]", "bad_request"),
        (json.dumps({"action": "sendMessage"}), "bad_request"),
        (json.dumps({"action": "sendMessage", "text": "   "}), "bad_request"),
        (json.dumps({"action": "joinRoom", "room": "Not A Room!"}), "bad_request"),
        (json.dumps({"action": "getMessages", "limit": 0}), "bad_request"),
        (json.dumps({"action": "dance"}), "unknown_action"),
        (json.dumps({"action": "sendMessage", "text": "x" * (TEXT_MAX + 1)}), "too_large"),
        (json.dumps({"action": "ping", "pad": "x" * LIMITS.frame_max_bytes}), "too_large"),
    ],
    ids=[
        "not-json",
        "not-an-object",
        "missing-text",
        "blank-text",
        "bad-room",
        "bad-limit",
        "unknown-action",
        "text-too-long",
        "frame-over-32KB",
    ],
)
def test_bad_frame_gets_an_error_frame_and_the_connection_stays(local_server, room, frame, code):
    _, token = signup(local_server.api_url)
    _, watcher_token = signup(local_server.api_url)
    with ChatClient(local_server.ws_url, token, room) as client, ChatClient(
        local_server.ws_url, watcher_token, room
    ) as watcher:
        client.send_raw(frame)
        error = client.recv_type("error")
        assert error["code"] == code and error["message"]
        assert client.request("ping", "pong") == {"type": "pong"}
        assert client.request("getMessages", "messages")["messages"] == []
        assert watcher.quiet(0.5) == []


def test_error_frame_echoes_action_and_client_id(local_server):
    _, token = signup(local_server.api_url)
    with ChatClient(local_server.ws_url, token) as client:
        client.send("sendMessage", text="", clientId="c-17")
        error = client.recv_type("error")
        assert (error["code"], error["action"], error["clientId"]) == (
            "bad_request",
            "sendMessage",
            "c-17",
        )


def test_rate_limit_refuses_the_message_over_the_limit(local_server, room):
    _, token = signup(local_server.api_url)
    allowed = LIMITS.rate_limit_writes
    with ChatClient(local_server.ws_url, token, room) as client:
        for n in range(allowed + 1):
            client.send("sendMessage", text=f"n{n}", clientId=f"c{n}")
        frames = [client.recv() for _ in range(allowed + 1)]
        limited = [f for f in frames if f["type"] == "error"]
        assert [(f["code"], f["clientId"]) for f in limited] == [("rate_limited", f"c{allowed}")]
        assert len([f for f in frames if f["type"] == "message"]) == allowed


def test_client_id_sent_twice_is_delivered_once(local_server, room):
    _, token = signup(local_server.api_url)
    _, watcher_token = signup(local_server.api_url)
    with ChatClient(local_server.ws_url, token, room) as client, ChatClient(
        local_server.ws_url, watcher_token, room
    ) as watcher:
        client.send("sendMessage", text="once", clientId="retry-1")
        client.send("sendMessage", text="once", clientId="retry-1")
        client.send("sendMessage", text="after")
        assert [m["text"] for m in watcher.messages(2)] == ["once", "after"]
        assert [m["text"] for m in client.messages(2)] == ["once", "after"]
        history = client.request("getMessages", "messages")["messages"]
        assert [m["text"] for m in history] == ["once", "after"]


def _refused_status(server: LocalServer, query: str) -> int:
    with pytest.raises(InvalidStatus) as refused:
        ChatClient(server.ws_url, query)
    return refused.value.response.status_code


def test_forged_token_is_refused_at_handshake(local_server):
    forged = jwt.encode(
        {"sub": "alice", "iat": int(time.time()), "exp": int(time.time()) + 600},
        "a secret that is not the server secret at all",
        algorithm="HS256",
    )
    assert _refused_status(local_server, forged) == 401


def test_expired_token_is_refused_at_handshake(local_server):
    username, token = signup(local_server.api_url)
    secret = (local_server.data_dir / "jwt-secret").read_text().strip()
    now = int(time.time())
    live_session = jwt.decode(token, options={"verify_signature": False})["sid"]
    expired = jwt.encode({"sub": username, "iat": now - 120, "exp": now - 60, "sid": live_session},
                         secret, "HS256")
    assert _refused_status(local_server, expired) == 401


def test_missing_and_malformed_tokens_are_refused_at_handshake(local_server):
    assert _refused_status(local_server, "") == 401
    assert _refused_status(local_server, "not.a.jwt") == 401


def test_rest_routes_answer_with_cors_as_chalice_local(local_server):
    request = urllib.request.Request(
        local_server.api_url + "/signup",
        method="OPTIONS",
        headers={"Origin": f"http://localhost:{local_server.port}",
                 "Access-Control-Request-Method": "POST"},
    )
    with urllib.request.urlopen(request) as response:
        assert response.status == 200
        assert "POST" in response.headers["Access-Control-Allow-Methods"]
        assert response.headers["Access-Control-Allow-Origin"] == (
            f"http://localhost:{local_server.port}")
    wrong = {"username": "nobody-here", "password": "x" * 9}
    status, body = call(local_server.api_url, "/login", wrong)
    assert (status, body["Code"]) == (401, "UnauthorizedError")
    assert call(local_server.api_url, "/health", method="GET") == (200, {"status": "ok"})


def test_config_json_points_at_this_server(local_server):
    with urllib.request.urlopen(local_server.url + "/config.json") as response:
        assert json.load(response) == {
            "apiUrl": local_server.api_url,
            "wsUrl": local_server.ws_url,
        }


def test_site_root_answers_html(local_server):
    with urllib.request.urlopen(local_server.url + "/") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/html")


def test_a_stage_trace_follows_a_message_from_its_frame_to_the_last_socket(local_server, room):
    # What bench/load.py --stages reads: every stand-in marks the message, one clock.
    stages_url = local_server.url + "/_local/stages"
    urllib.request.urlopen(urllib.request.Request(stages_url, method="POST"), timeout=30)
    _, token = signup(local_server.api_url)
    with ChatClient(local_server.ws_url, token, room) as client:
        client.send("sendMessage", text="traced", clientId="trace-1")
        client.messages(1)
    with urllib.request.urlopen(stages_url, timeout=30) as answer:
        traced = json.load(answer)["messages"]["trace-1"]
    assert traced["received"] <= traced["handlerStart"] <= traced["committed"]
    # The fan-out may start on another instance before the sender's invocation has returned.
    after_commit = ["read", "batchQueued", "batchStart", "firstPost", "lastPost", "lastWrite"]
    assert traced["handlerStart"] <= traced["read"]
    assert [traced[s] for s in after_commit] == sorted(traced[s] for s in after_commit)
