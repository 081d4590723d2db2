"""`chatapp serve` end to end, protocol v2's room features: presence, members,
typing, edit and delete, read markers and GET /rooms, with real WebSocket clients."""

from __future__ import annotations

import json
import urllib.request

from tests.support.chatclient import ChatClient, signup, unique

PRESENCE_DEADLINE = 5.0  # PROTOCOL.md promises 2 s locally; generous for a loaded CI


def get_rooms(api_url, token):
    request = urllib.request.Request(
        api_url + "/rooms", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["rooms"]


def test_presence_members_and_typing_between_two_users(local_server):
    room = unique("room")
    (alice, alice_token), (bob, bob_token) = signup(local_server.api_url), signup(
        local_server.api_url
    )
    with ChatClient(local_server.ws_url, alice_token, room, presence=True) as a:
        b = ChatClient(local_server.ws_url, bob_token, room)
        assert a.recv_type("presence", PRESENCE_DEADLINE) == {
            "type": "presence", "room": room, "username": bob, "status": "online"
        }
        members = b.request("getMembers", "members")
        assert (members["members"], members["count"]) == (sorted([alice, bob], key=str.lower), 2)
        b.send("typing")
        assert a.recv_type("typing") == {"type": "typing", "room": room, "username": bob}
        b.close()
        offline = a.recv_type("presence", PRESENCE_DEADLINE)
        assert (offline["username"], offline["status"]) == (bob, "offline")


def test_an_edit_and_a_delete_reach_the_other_user(local_server):
    room = unique("room")
    (_, alice_token), (_, bob_token) = signup(local_server.api_url), signup(local_server.api_url)
    with ChatClient(local_server.ws_url, alice_token, room) as a, ChatClient(
        local_server.ws_url, bob_token, room
    ) as b:
        a.send("sendMessage", text="teh typo")
        (message,) = b.messages(1)
        a.messages(1)
        a.send("editMessage", id=message["id"], text="the typo", clientId="e-1")
        updated = b.recv_type("messageUpdated")["message"]
        assert (updated["id"], updated["text"], updated["clientId"]) == (
            message["id"], "the typo", "e-1")
        assert "editedAt" in updated
        assert b.request("deleteMessage", "error", id=message["id"])["code"] == "forbidden"
        a.send("deleteMessage", id=message["id"])
        # Revisions: 1 the message, 2 the edit, 3 the delete (PROTOCOL.md v3).
        assert b.recv_type("messageDeleted") == {
            "type": "messageDeleted", "room": room, "id": message["id"], "rev": 3}
        (tombstone,) = b.request("getMessages", "messages")["messages"]
        assert tombstone["deleted"] is True and tombstone["text"] == ""


def test_unread_counts_in_get_rooms_and_mark_read_clears_them(local_server):
    room, elsewhere = unique("room"), unique("elsewhere")
    (_, alice_token), (_, bob_token) = signup(local_server.api_url), signup(local_server.api_url)
    with ChatClient(local_server.ws_url, bob_token, room) as b:
        b.request("joinRoom", "joined", room=elsewhere)  # bob now views another room
        with ChatClient(local_server.ws_url, alice_token, room) as a:
            for text in ("one", "two"):
                a.send("sendMessage", text=text)
            newest = a.messages(2)[-1]
        rooms = {r["room"]: r for r in get_rooms(local_server.api_url, bob_token)}
        assert rooms[room]["unread"] == 2
        assert rooms[room]["lastMessageAt"] == newest["sentAt"]
        assert rooms[elsewhere] == {"room": elsewhere, "lastMessageAt": None, "unread": 0,
                                    "kind": "public", "role": "member"}
        assert [r["room"] for r in get_rooms(local_server.api_url, bob_token)] == [room, elsewhere]
        b.request("joinRoom", "joined", room=room)
        assert b.request("markRead", "read", id=newest["id"]) == {
            "type": "read", "room": room, "id": newest["id"]}
        rooms = {r["room"]: r for r in get_rooms(local_server.api_url, bob_token)}
        assert rooms[room]["unread"] == 0
