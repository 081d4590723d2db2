"""Order and catch-up (PROTOCOL.md v3) in a real browser: what a tab missed while
its connection was down, edits and deletes included, appears after it reconnects."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import WebSocketRoute, expect

from tests.frontend.chat_page import PASSWORD, confirmed, connection, join, sign_up, texts, unique
from tests.support.chatclient import ChatClient, signup

pytestmark = pytest.mark.browser


def next_message(client: ChatClient, text: str) -> dict:
    said = client.recv_until(lambda f: f["type"] == "message" and f["message"]["text"] == text)
    return said["message"]


def test_an_edit_and_a_delete_made_while_a_tab_was_offline_appear_after_it_reconnects(
    server, open_page, shots
):
    room = unique("away-")
    alice = open_page()
    # Every WebSocket of Alice's tab goes through this route: passed through to
    # the server while she is online, refused (closed at once) while she is away.
    away, routes = {"now": False}, []

    def route(ws: WebSocketRoute) -> None:
        if away["now"]:
            ws.close(code=4000, reason="offline")
            return
        routes.append((ws, ws.connect_to_server()))

    alice.route_web_socket(re.compile(r"/ws"), route)
    sign_up(alice, server.url, unique("alice"))
    join(alice, room)

    _, bob_token = signup(server.api_url, username=unique("bob"), password=PASSWORD)
    with ChatClient(server.ws_url, bob_token, room) as bob:
        bob.send("sendMessage", text="frist draft")
        draft = next_message(bob, "frist draft")
        bob.send("sendMessage", text="a regrettable remark")
        remark = next_message(bob, "a regrettable remark")
        expect(confirmed(alice, "a regrettable remark")).to_have_count(1)

        # Alice's connection drops, and she stays away.
        away["now"] = True
        for page_side, server_side in routes:
            page_side.close(code=4000, reason="offline")
            server_side.close()
        expect(connection(alice)).to_have_attribute("data-status", "reconnecting")

        bob.send("editMessage", id=draft["id"], text="first draft")
        bob.send("deleteMessage", id=remark["id"])
        bob.send("sendMessage", text="while you were away")
        next_message(bob, "while you were away")

        away["now"] = False
        alice.evaluate("window.dispatchEvent(new Event('online'))")  # back: retry now
        expect(connection(alice)).to_have_attribute("data-status", "live", timeout=45_000)
        expect(confirmed(alice, "first draft")).to_contain_text("(edited)")
        expect(confirmed(alice, "Message deleted")).to_have_count(1)
        expect(confirmed(alice, "a regrettable remark")).to_have_count(0)
        expect(confirmed(alice, "while you were away")).to_have_count(1)
        history = bob.request("getMessages", "messages")["messages"]
    assert [text.strip() for text in texts(alice)] == [
        m["text"] if not m.get("deleted") else "Message deleted" for m in history
    ]
    shots(alice, "caught-up-after-offline")
