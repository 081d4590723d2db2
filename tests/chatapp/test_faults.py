"""Failure paths, provoked through the local runtime's fault injection (CHATAPP_FAULTS)."""

from __future__ import annotations

import re
import socket

from tests.support.chatclient import ChatClient, signup, unique
from tests.support.localserver import LocalServer, server_fixture
from tests.support.waiting import wait_until

MARKER = "FAIL-THIS-WRITE"


faulty_server = server_fixture(faults=f"lost-disconnect,dynamodb={MARKER}")


def _gone_posts(server: LocalServer) -> list[str]:
    return re.findall(r"PostToConnection (\S+) 410 Gone", server.logs())


def _dropped_disconnects(server: LocalServer) -> int:
    return len(re.findall(r"\$disconnect \S+ dropped", server.logs()))


def test_handler_exception_becomes_an_internal_error_frame_not_a_dead_server(faulty_server):
    _, token = signup(faulty_server.api_url)
    room = unique("room")
    with ChatClient(faulty_server.ws_url, token, room) as client:
        client.send("sendMessage", text=f"this write fails: {MARKER}", clientId="c-1")
        error = client.recv_type("error")
        assert (error["code"], error["clientId"]) == ("internal", "c-1")

        client.send("sendMessage", text="this one is fine")
        assert [m["text"] for m in client.messages(1)] == ["this one is fine"]
        history = client.request("getMessages", "messages")["messages"]
        assert [m["text"] for m in history] == ["this one is fine"]


def test_vanished_client_is_cleaned_up_at_next_fanout_and_nobody_notices(faulty_server):
    room = unique("room")
    _, stayer_token = signup(faulty_server.api_url)
    _, leaver_token = signup(faulty_server.api_url)
    with ChatClient(faulty_server.ws_url, stayer_token, room) as stayer:
        leaver = ChatClient(faulty_server.ws_url, leaver_token, room)
        dropped_before = _dropped_disconnects(faulty_server)
        gone_before = _gone_posts(faulty_server)
        # Vanish: the TCP connection ends with no close frame (a crashed browser
        # or a dead network); with lost-disconnect, no $disconnect reaches the app.
        leaver.ws.socket.shutdown(socket.SHUT_RDWR)
        leaver.ws.socket.close()
        wait_until(  # the server saw the drop
            lambda: _dropped_disconnects(faulty_server) != dropped_before, faulty_server.logs
        )

        stayer.send("sendMessage", text="first after the vanishing")
        assert [m["text"] for m in stayer.messages(1)] == ["first after the vanishing"]
        stayer.send("sendMessage", text="second")
        assert [m["text"] for m in stayer.messages(1)] == ["second"]
        assert stayer.quiet(0.5) == []

    gone_after = _gone_posts(faulty_server)[len(gone_before) :]
    # The first fan-out after the drop (presence or a message) met GoneException
    # once and deleted the connection; later fan-outs no longer tried it.
    assert len(gone_after) == 1, faulty_server.logs()
