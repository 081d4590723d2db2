"""Invalid frames are counted per user: a flood is answered rate_limited, then closed."""

from __future__ import annotations

from chalicelib import settings
from tests.support.inprocess import token_for


def test_150_invalid_frames_from_one_user_are_answered_rate_limited_before_the_150th(
    chat, stopped_clock
):
    # (the clock stopped: the allowance's window cannot pass while a slow machine sends)
    token = token_for("alice")
    connections = [chat.connect({"token": token, "room": f"r{n}"})[0] for n in range(3)]
    codes = []
    for n in range(150):
        connection = connections[n % len(connections)]  # spread over the user's connections
        if connection in chat.outbox.closed:
            break
        codes.extend(reply["code"] for reply in chat.send(connection, "{not json"))
    allowance = settings.get().rate_limit_invalid
    assert codes[:allowance] == ["bad_request"] * allowance
    assert codes[allowance] == "rate_limited"
    assert "rate_limited" in codes[:149]
    assert chat.outbox.closed  # it went on: the connections were closed


def test_a_few_invalid_frames_are_only_bad_requests_and_close_nothing(chat):
    connection = chat.join("alice")
    for _ in range(settings.get().rate_limit_invalid):
        assert chat.send(connection, "[]")[0]["code"] == "bad_request"
    assert chat.send(connection, {"action": "ping"}) == [{"type": "pong"}]
    assert chat.outbox.closed == []


def test_another_users_flood_does_not_limit_this_user(chat):
    flooder, bystander = chat.join("mallory"), chat.join("alice")
    for _ in range(settings.get().rate_limit_invalid + 1):
        chat.send(flooder, "{")
    assert chat.send(bystander, "{")[0]["code"] == "bad_request"
