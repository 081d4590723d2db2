"""The WebSocket handlers ($connect, $default actions, $disconnect) per PROTOCOL.md.

Driven through client.lambda_.invoke with API-Gateway-shaped events; what a
client sees is read from the frames posted to its connection.
"""

from __future__ import annotations

import json

import jwt
import pytest

from chalicelib import auth, clock, keys, lazy, settings
from chalicelib.settings import LIMITS
from tests.support.inprocess import token_for

JSON = {"Content-Type": "application/json"}


def items(aws, table):
    return aws.scan(TableName=getattr(settings.get(), f"{table}_table"))["Items"]


def connection_item(aws, connection):
    return aws.get_item(
        TableName=settings.get().connections_table, Key={"connection_id": {"S": connection}}
    ).get("Item")


def stored_texts(aws):
    return sorted(item["text"]["S"] for item in items(aws, "messages"))


# ------------------------------------------------------------------ $connect


def test_connect_with_a_valid_token_is_accepted_into_general(chat, aws):
    connection, status = chat.connect({"token": token_for("alice")})
    assert status == 200
    item = connection_item(aws, connection)
    assert item["username"]["S"] == "alice"
    assert item["room"]["S"] == LIMITS.default_room
    assert int(item["ttl"]["N"]) > clock.now_s() + 2 * 3600


def test_connect_joins_the_room_asked_for(chat, aws):
    connection, status = chat.connect({"token": token_for("alice"), "room": "random-1_x"})
    assert status == 200
    assert connection_item(aws, connection)["room"]["S"] == "random-1_x"


def forged(claims_change=None, secret=None, algorithm="HS256"):
    now = clock.now_s()
    claims = {"sub": "alice", "iat": now, "exp": now + 60, **(claims_change or {})}
    key_set = keys.current()
    key = secret if secret is not None else key_set.keys[key_set.signing]
    return jwt.encode(claims, key if algorithm != "none" else None, algorithm=algorithm,
                      headers={"kid": key_set.signing})


def tampered():
    header, payload, signature = auth.issue_token("alice", clock.now_s(), "s").token.split(".")
    body = json.loads(jwt.utils.base64url_decode(payload))
    body["sub"] = "mallory"
    payload = jwt.utils.base64url_encode(json.dumps(body).encode()).decode()
    return f"{header}.{payload}.{signature}"


REFUSED_TOKENS = {
    "no-query": None,
    "no-token": {},
    "empty-token": {"token": ""},
    "garbage": {"token": "not-a-jwt"},
    "wrong-secret": {"token": forged(secret="another secret of enough length 123")},
    "alg-none": {"token": forged(algorithm="none")},
    "expired": {"token": forged({"iat": 1, "exp": 2})},
    "tampered": {"token": tampered()},
    "no-exp": {"token": jwt.encode({"sub": "alice", "iat": 1}, "x" * 32)},
}


@pytest.mark.parametrize("query", REFUSED_TOKENS.values(), ids=REFUSED_TOKENS.keys())
def test_connect_without_a_usable_token_is_refused_and_stores_nothing(chat, aws, query):
    if query and query.get("token") and "x" * 32 in str(query):
        query = {"token": forged({"exp": None})}
    _, status = chat.connect(query)
    assert status == 401
    assert items(aws, "connections") == []


@pytest.mark.parametrize("room", ["", "General", "a" * 65, "with space", "ünï", "a/b"])
def test_connect_to_an_invalid_room_is_refused(chat, aws, room):
    _, status = chat.connect({"token": token_for("alice"), "room": room})
    assert status == 400
    assert items(aws, "connections") == []


def test_disconnect_forgets_the_connection(chat, aws):
    connection = chat.join("alice")
    chat.disconnect(connection)
    assert connection_item(aws, connection) is None


# --------------------------------------------------------------- sendMessage


def test_send_message_stores_it_as_the_authenticated_user(chat, aws):
    connection = chat.join("alice", "lobby")
    replies = chat.send(connection, {"action": "sendMessage", "text": "  hi there \n",
                                     "sender": "mallory", "room": "elsewhere"})
    assert replies == []  # the message itself arrives through the fan-out
    (item,) = items(aws, "messages")
    assert item["sender"]["S"] == "alice"
    assert item["room"]["S"] == "lobby"
    assert item["text"]["S"] == "hi there"


def test_text_of_exactly_the_limit_is_accepted(chat, aws):
    connection = chat.join("alice")
    assert chat.send(connection, {"action": "sendMessage", "text": "é" * LIMITS.text_max}) == []
    assert len(items(aws, "messages")) == 1


def test_same_client_id_twice_is_stored_once(chat, aws):
    connection = chat.join("alice")
    for _ in range(2):
        chat.send(connection, {"action": "sendMessage", "text": "once", "clientId": "c-1"})
    assert stored_texts(aws) == ["once"]


def test_same_client_id_after_a_reconnect_is_stored_once(chat, aws):
    first = chat.join("alice")
    chat.send(first, {"action": "sendMessage", "text": "once", "clientId": "c-1"})
    chat.disconnect(first)
    second = chat.join("alice")
    chat.send(second, {"action": "sendMessage", "text": "once", "clientId": "c-1"})
    assert stored_texts(aws) == ["once"]


def test_same_client_id_from_another_user_or_room_is_a_new_message(chat, aws):
    alice, bob = chat.join("alice"), chat.join("bob")
    elsewhere = chat.join("alice", "elsewhere")
    for connection in (alice, bob, elsewhere):
        chat.send(connection, {"action": "sendMessage", "text": "hi", "clientId": "c-1"})
    assert stored_texts(aws) == ["hi", "hi", "hi"]


WRITES, READS = LIMITS.rate_limit_writes, LIMITS.rate_limit_reads


def test_more_than_the_write_allowance_is_rate_limited_and_not_stored(chat, aws, stopped_clock):
    connection = chat.join("alice")
    for i in range(WRITES):
        assert chat.send(connection, {"action": "sendMessage", "text": f"m{i}"}) == []
    (reply,) = chat.send(connection, {"action": "sendMessage", "text": "one too many",
                                      "clientId": "c-9"})
    assert reply["type"] == "error"
    assert reply["code"] == "rate_limited"
    assert reply["clientId"] == "c-9"
    assert len(items(aws, "messages")) == WRITES


def test_the_allowance_is_shared_by_all_connections_of_a_user(chat, aws, stopped_clock):
    first, second = chat.join("alice"), chat.join("alice", "elsewhere")
    for i in range(WRITES):
        chat.send(first if i % 2 else second, {"action": "sendMessage", "text": f"m{i}"})
    (reply,) = chat.send(second, {"action": "sendMessage", "text": "one too many"})
    assert reply["code"] == "rate_limited"
    assert chat.send(chat.join("bob"), {"action": "sendMessage", "text": "bob is fine"}) == []


def test_reads_have_their_own_allowance(chat, aws, stopped_clock):
    connection = chat.join("alice")
    for i in range(WRITES):
        chat.send(connection, {"action": "sendMessage", "text": f"m{i}"})
    for _ in range(READS):
        assert chat.send(connection, {"action": "ping"}) == [{"type": "pong"}]
    (reply,) = chat.send(connection, {"action": "getMessages", "limit": 1})
    assert reply["code"] == "rate_limited"
    assert reply["action"] == "getMessages"


def test_rate_limit_window_passes(chat, aws, stopped_clock):
    connection = chat.join("alice")
    for i in range(WRITES):
        chat.send(connection, {"action": "sendMessage", "text": f"m{i}"})
    clock.get().advance(settings.get().rate_limit_window_seconds)
    assert chat.send(connection, {"action": "sendMessage", "text": "next window"}) == []


def test_a_burst_over_the_limit_is_limited_wherever_it_starts(chat, aws):
    connection = chat.join("alice")
    window = settings.get().rate_limit_window_seconds
    boundary = (clock.now_s() // window + 1) * window  # a multiple of the window
    clock.get().set(boundary - 0.5, stopped=True)
    for i in range(WRITES):
        if i == WRITES // 2:
            clock.get().set(boundary + 0.2, stopped=True)  # the burst straddles a boundary
        assert chat.send(connection, {"action": "sendMessage", "text": f"m{i}"}) == []
    (reply,) = chat.send(connection, {"action": "sendMessage", "text": "one too many"})
    assert reply["code"] == "rate_limited"


def test_allowances_zero_turn_both_off(chat, aws, monkeypatch):
    monkeypatch.setenv("RATE_LIMIT_WRITES", "0")
    monkeypatch.setenv("RATE_LIMIT_READS", "0")
    lazy.reset()
    connection = chat.join("alice")
    for i in range(WRITES + 5):
        assert chat.send(connection, {"action": "sendMessage", "text": f"m{i}"}) == []
    for _ in range(READS + 5):
        assert chat.send(connection, {"action": "ping"}) == [{"type": "pong"}]
    lazy.reset()


# ------------------------------------------------- connections per user, tokens


def test_the_eleventh_connection_of_a_user_is_refused_with_429(chat, aws):
    allowed = LIMITS.connections_per_user
    for _ in range(allowed):
        chat.join("alice")
    _, status = chat.connect({"token": token_for("alice")})
    assert status == 429
    assert len(items(aws, "connections")) == allowed
    assert chat.connect({"token": token_for("bob")})[1] == 200


def test_a_closed_connection_no_longer_counts(chat, aws):
    connections = [chat.join("alice") for _ in range(LIMITS.connections_per_user)]
    chat.disconnect(connections[0])
    assert chat.connect({"token": token_for("alice")})[1] == 200


def test_the_connection_lives_as_long_as_its_session_not_its_access_token(chat, aws):
    now = clock.now_s()
    connection, _ = chat.connect({"token": token_for("alice", now)})
    expected = now + settings.get().session_lifetime_seconds
    assert int(connection_item(aws, connection)["token_exp"]["N"]) == expected
    clock.get().advance(settings.get().token_lifetime_seconds + 60)
    assert chat.send(connection, {"action": "ping"}) == [{"type": "pong"}]


def test_a_frame_after_the_session_expired_gets_unauthorized_and_the_connection_closes(
    chat, aws
):
    connection = chat.join("alice")
    clock.get().advance(settings.get().session_lifetime_seconds + 1)
    (reply,) = chat.send(connection, {"action": "sendMessage", "text": "late", "clientId": "c"})
    assert reply["code"] == "unauthorized"
    assert reply["clientId"] == "c"
    assert chat.outbox.closed == [connection]
    assert items(aws, "messages") == []


def test_a_revoked_token_is_refused_at_connect(chat, aws, client):
    token = token_for("alice")
    logout = client.http.post("/logout", headers={"Authorization": f"Bearer {token}"}, body=b"")
    assert logout.status_code == 204
    assert chat.connect({"token": token})[1] == 401
    assert chat.connect({"token": token_for("alice")})[1] == 200  # a new login's token


def test_logout_tells_and_closes_the_sessions_connections_and_no_other(chat, aws, client):
    token = token_for("alice")
    mine = [chat.connect({"token": token})[0], chat.connect({"token": token, "room": "else"})[0]]
    other_session, bob = chat.join("alice"), chat.join("bob")
    client.http.post("/logout", headers={"Authorization": f"Bearer {token}"}, body=b"")
    assert sorted(chat.outbox.closed) == sorted(mine)
    for connection in mine:
        assert [f["code"] for f in chat.outbox.frames(connection)] == ["unauthorized"]
    assert chat.send(other_session, {"action": "ping"}) == [{"type": "pong"}]
    assert chat.send(bob, {"action": "ping"}) == [{"type": "pong"}]


def test_logout_everywhere_closes_every_connection_of_the_user_and_no_other(chat, aws, client):
    alices = [chat.join("alice"), chat.join("alice", "elsewhere")]
    bob = chat.join("bob")
    token = token_for("alice")
    client.http.post("/logout", headers={"Authorization": f"Bearer {token}", **JSON},
                     body=b'{"everywhere": true}')
    assert sorted(chat.outbox.closed) == sorted(alices)
    assert bob not in chat.outbox.closed
    for connection in alices:
        assert chat.outbox.frames(connection)[-1]["code"] == "unauthorized"


def test_logout_with_a_connection_already_gone_still_succeeds(chat, aws, client):
    connection = chat.join("alice")
    chat.outbox.gone.add(connection)
    token = token_for("alice")
    response = client.http.post("/logout", headers={"Authorization": f"Bearer {token}"}, body=b"")
    assert response.status_code == 204


# ------------------------------------------------------------------ bad frames

BAD_FRAMES = {
    "not-json": ("{nope", "bad_request"),
    "empty": ("", "bad_request"),
    "array": ("[]", "bad_request"),
    "string": ('"sendMessage"', "bad_request"),
    "no-action": ({"text": "hi"}, "bad_request"),
    "action-number": ({"action": 7}, "bad_request"),
    "unknown-action": ({"action": "deleteEverything"}, "unknown_action"),
    "text-missing": ({"action": "sendMessage"}, "bad_request"),
    "text-number": ({"action": "sendMessage", "text": 5}, "bad_request"),
    "text-empty": ({"action": "sendMessage", "text": ""}, "bad_request"),
    "text-whitespace": ({"action": "sendMessage", "text": " \n\t "}, "bad_request"),
    "text-over-limit": ({"action": "sendMessage", "text": "x" * (LIMITS.text_max + 1)},
                        "too_large"),
    "frame-over-32k": ({"action": "sendMessage", "text": "hi", "pad": "x" * 33000},
                       "too_large"),
    "client-id-empty": ({"action": "sendMessage", "text": "hi", "clientId": ""}, "bad_request"),
    "client-id-long": ({"action": "sendMessage", "text": "hi", "clientId": "c" * 65},
                       "bad_request"),
    "client-id-number": ({"action": "sendMessage", "text": "hi", "clientId": 5}, "bad_request"),
    "limit-zero": ({"action": "getMessages", "limit": 0}, "bad_request"),
    "limit-101": ({"action": "getMessages", "limit": 101}, "bad_request"),
    "limit-string": ({"action": "getMessages", "limit": "5"}, "bad_request"),
    "limit-bool": ({"action": "getMessages", "limit": True}, "bad_request"),
    "limit-float": ({"action": "getMessages", "limit": 2.5}, "bad_request"),
    "before-and-after": ({"action": "getMessages", "before": "1" * 13 + "-" + "a" * 10,
                          "after": "1" * 13 + "-" + "a" * 10}, "bad_request"),
    "before-garbage": ({"action": "getMessages", "before": "yesterday"}, "bad_request"),
    "join-no-room": ({"action": "joinRoom"}, "bad_request"),
    "join-bad-room": ({"action": "joinRoom", "room": "Not Valid"}, "bad_request"),
    "join-long-room": ({"action": "joinRoom", "room": "r" * 65}, "bad_request"),
    "nested-33": ('{"action": "ping", "x": ' + "[" * 32 + "]" * 32 + "}", "bad_request"),
    "nested-5000": ('{"action": "ping", "x": ' + "[" * 5000, "bad_request"),
    "surrogate-text": ('{"action": "sendMessage", "text": "\\ud800"}', "bad_request"),
    "surrogate-client-id": ('{"action": "sendMessage", "text": "hi", "clientId": "\\udfff"}',
                            "bad_request"),
    "nan": ('{"action": "getMessages", "limit": NaN}', "bad_request"),
    "duplicate-key": ('{"action": "sendMessage", "text": "a", "text": "b"}', "bad_request"),
    "bom": ('\ufeff{"action": "ping"}', "bad_request"),
}


@pytest.mark.parametrize(("frame", "code"), BAD_FRAMES.values(), ids=BAD_FRAMES.keys())
def test_bad_frames_get_an_error_frame_and_change_nothing(chat, aws, frame, code):
    connection, bystander = chat.join("alice"), chat.join("bob")
    before = connection_item(aws, connection)
    (reply,) = chat.send(connection, frame)
    assert chat.outbox.frames(bystander) == []  # it reaches no one else
    assert reply["type"] == "error"
    assert reply["code"] == code
    assert reply["message"]
    assert items(aws, "messages") == []
    assert connection_item(aws, connection) == before
    assert chat.send(connection, {"action": "ping"}) == [{"type": "pong"}]  # still usable


def test_error_frames_echo_the_action_and_client_id(chat, aws):
    connection = chat.join("alice")
    (reply,) = chat.send(connection, {"action": "sendMessage", "text": "", "clientId": "c-17"})
    assert reply == {"type": "error", "code": "bad_request", "action": "sendMessage",
                     "clientId": "c-17", "message": reply["message"]}


def test_a_handler_failure_is_an_internal_error_frame(chat, aws, monkeypatch):
    from chalicelib import store

    def broken(*args, **kwargs):
        raise RuntimeError("DynamoDB fell over")

    monkeypatch.setattr(store.messages(), "page", broken)
    connection = chat.join("alice")
    (reply,) = chat.send(connection, {"action": "getMessages", "clientId": "c-1"})
    assert reply["type"] == "error"
    assert reply["code"] == "internal"
    assert reply["action"] == "getMessages"
    assert "DynamoDB" not in reply["message"]  # no internals leak to clients
    assert chat.send(connection, {"action": "ping"}) == [{"type": "pong"}]


# ------------------------------------------------------------ other actions


def test_ping_gets_pong(chat, aws):
    connection = chat.join("alice")
    assert chat.send(connection, {"action": "ping"}) == [{"type": "pong"}]


def test_join_room_moves_the_connection_and_answers_joined(chat, aws):
    connection = chat.join("alice")
    assert chat.send(connection, {"action": "joinRoom", "room": "random"}) == [
        {"type": "joined", "room": "random"}
    ]
    assert connection_item(aws, connection)["room"]["S"] == "random"
    chat.send(connection, {"action": "sendMessage", "text": "in random"})
    (item,) = items(aws, "messages")
    assert item["room"]["S"] == "random"


def send_texts(chat, connection, texts):
    for text in texts:
        assert chat.send(connection, {"action": "sendMessage", "text": text}) == []


def history(chat, connection, **fields):
    (reply,) = chat.send(connection, {"action": "getMessages", **fields})
    assert reply["type"] == "messages", reply
    return reply


@pytest.fixture
def twelve(chat, aws, monkeypatch):
    monkeypatch.setenv("RATE_LIMIT_WRITES", "0")
    lazy.reset()
    connection = chat.join("alice", "history")
    send_texts(chat, connection, [f"m{i:02d}" for i in range(12)])
    yield connection
    lazy.reset()


def texts(reply):
    return [message["text"] for message in reply["messages"]]


def test_get_messages_returns_the_newest_oldest_first(chat, twelve):
    reply = history(chat, twelve, limit=5)
    assert reply["room"] == "history"
    assert texts(reply) == ["m07", "m08", "m09", "m10", "m11"]
    assert reply["hasMore"] is True
    message = reply["messages"][0]
    assert set(message) == {"id", "room", "sender", "text", "sentAt", "seq", "rev"}
    assert message["sender"] == "alice"
    assert message["sentAt"].endswith("Z")


def test_get_messages_default_page_holds_everything_and_has_no_more(chat, twelve):
    reply = history(chat, twelve)
    assert texts(reply) == [f"m{i:02d}" for i in range(12)]
    assert reply["hasMore"] is False


def test_ids_sort_in_the_order_messages_were_stored(chat, twelve):
    ids = [message["id"] for message in history(chat, twelve)["messages"]]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_get_messages_before_pages_back(chat, twelve):
    newest = history(chat, twelve, limit=5)
    older = history(chat, twelve, limit=5, before=newest["messages"][0]["id"])
    assert texts(older) == ["m02", "m03", "m04", "m05", "m06"]
    assert older["hasMore"] is True
    oldest = history(chat, twelve, limit=5, before=older["messages"][0]["id"])
    assert texts(oldest) == ["m00", "m01"]
    assert oldest["hasMore"] is False


def test_get_messages_after_catches_up(chat, twelve):
    everything = history(chat, twelve)["messages"]
    reply = history(chat, twelve, limit=4, after=everything[3]["id"])
    assert texts(reply) == ["m04", "m05", "m06", "m07"]
    assert reply["hasMore"] is True
    rest = history(chat, twelve, limit=4, after=reply["messages"][-1]["id"])
    assert texts(rest) == ["m08", "m09", "m10", "m11"]
    assert rest["hasMore"] is False


def test_get_messages_sees_only_its_own_room(chat, twelve):
    other = chat.join("bob", "other")
    reply = history(chat, other)
    assert reply == {"type": "messages", "room": "other", "messages": [], "hasMore": False}


def test_get_messages_reads_only_the_page(chat, twelve, aws, monkeypatch):
    from chalicelib import store

    seen = []
    query = store.client().query
    monkeypatch.setattr(store.client(), "query", lambda **kw: seen.append(kw) or query(**kw))
    history(chat, twelve, limit=3)
    (request,) = seen
    assert request["Limit"] == 4
    assert "room = :room" in request["KeyConditionExpression"]


def test_a_page_of_long_messages_is_cut_to_fit_one_frame(chat, aws, monkeypatch):
    monkeypatch.setenv("RATE_LIMIT_WRITES", "0")
    lazy.reset()
    connection = chat.join("alice", "long")
    send_texts(chat, connection, [f"{i:02d}" + "ü" * (LIMITS.text_max - 2) for i in range(10)])
    reply = history(chat, connection, limit=10)
    assert 0 < len(reply["messages"]) < 10
    assert reply["hasMore"] is True
    assert len(json.dumps(reply, ensure_ascii=False).encode()) <= LIMITS.frame_max_bytes
    assert reply["messages"][-1]["text"].startswith("09")  # the newest are kept
    lazy.reset()
