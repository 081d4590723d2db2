"""`chatapp serve` end to end, protocol v3's "Rooms: public, private, direct": kinds,
owners and moderators, removal and bans, direct rooms, blocks, reports and the
directory, with real WebSocket clients against a server that has one admin."""

from __future__ import annotations

import contextlib
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.support.chatclient import ChatClient, call, login, signup, unique
from tests.support.localserver import LocalServer, server_fixture

REMOVED_DEADLINE = 5.0  # PROTOCOL.md: a removed user's connections leave within 5 s


def until_removed(client: ChatClient, *passing: str) -> dict:
    """The `removed` frame, within REMOVED_DEADLINE; before it only messages (and `passing`)."""

    def removed(frame: dict) -> bool:
        assert frame["type"] in ("message", *passing, "removed"), frame
        return frame["type"] == "removed"

    return client.recv_until(removed, timeout=REMOVED_DEADLINE)


@contextlib.contextmanager
def talking(client: ChatClient) -> Iterator[None]:
    """`client` sends a message every 50 ms while the block runs."""
    stop = threading.Event()

    def talk() -> None:
        n = 0
        while not stop.is_set():
            client.send("sendMessage", text=f"m{n}")
            n += 1
            time.sleep(0.05)

    talker = threading.Thread(target=talk)
    talker.start()
    try:
        yield
    finally:
        stop.set()
        talker.join()


class Server:
    def __init__(self, server: LocalServer, admin: str) -> None:
        self.server, self.admin = server, admin
        self.api_url, self.ws_url = server.api_url, server.ws_url

    def user(self) -> tuple[str, str]:
        return signup(self.api_url)

    def admin_token(self) -> str:
        status, body = login(self.api_url, self.admin)
        if status == 401:
            return signup(self.api_url, username=self.admin)[1]
        assert status == 200, body
        return body["token"]

    def rest(self, method: str, path: str, token: str, body=None) -> tuple[int, object]:
        return call(self.api_url, path, body, method=method, token=token)


ADMIN = f"admin-{uuid.uuid4().hex[:8]}"
server = server_fixture(admins=[ADMIN])


@pytest.fixture(scope="module")
def chat(server: LocalServer) -> Server:
    return Server(server, ADMIN)


def refused_status(chat: Server, token: str, room: str) -> int:
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{chat.ws_url}?token={token}&room={room}", open_timeout=10).close()
    return refused.value.response.status_code


def private_room(chat: Server, owner_token: str) -> str:
    room = unique("priv")
    status, body = chat.rest("POST", "/rooms", owner_token, {"room": room, "kind": "private"})
    assert (status, body) == (201, {"room": room, "kind": "private", "role": "owner"})
    return room


def rooms_of(chat: Server, token: str) -> dict[str, dict]:
    status, body = chat.rest("GET", "/rooms", token)
    assert status == 200, body
    return {r["room"]: r for r in body["rooms"]}


def test_a_private_room_refuses_a_non_member_at_connect_and_at_join(chat):
    (_, owner), (_, stranger) = chat.user(), chat.user()
    room = private_room(chat, owner)
    assert refused_status(chat, stranger, room) == 403
    with ChatClient(chat.ws_url, stranger, "general") as s:
        error = s.request("joinRoom", "error", room=room)
        assert error["code"] == "forbidden"
        s.send("sendMessage", text="still in general")
        assert s.recv_type("message")["message"]["room"] == "general"


def test_an_invited_member_enters_and_reads_history(chat):
    (_, owner), (member, member_token) = chat.user(), chat.user()
    room = private_room(chat, owner)
    with ChatClient(chat.ws_url, owner, room) as o:
        o.send("sendMessage", text="before you came")
        o.messages(1)
    assert chat.rest("PUT", f"/rooms/{room}/members/{member}", owner)[0] == 204
    listed = rooms_of(chat, member_token)[room]  # listed before first entering
    assert (listed["kind"], listed["role"]) == ("private", "member")
    with ChatClient(chat.ws_url, member_token, room) as m:
        (old,) = m.request("getMessages", "messages")["messages"]
        assert old["text"] == "before you came"
    assert rooms_of(chat, owner)[room]["role"] == "owner"


def test_a_removed_member_gets_removed_and_no_frame_of_the_room_even_in_flight(chat):
    (_, owner), (member, member_token) = chat.user(), chat.user()
    room = private_room(chat, owner)
    chat.rest("PUT", f"/rooms/{room}/members/{member}", owner)
    with ChatClient(chat.ws_url, owner, room) as o, ChatClient(
        chat.ws_url, member_token, room
    ) as m:
        with talking(o):  # messages keep flowing before, during and after the removal
            m.recv_type("message")
            assert chat.rest("DELETE", f"/rooms/{room}/members/{member}", owner)[0] == 204
            assert until_removed(m) == {"type": "removed", "room": room}
            after = m.quiet(2.0)
        assert [f for f in after if f.get("room", f.get("message", {}).get("room")) == room] == []
        assert m.request("getMessages", "error")["code"] == "forbidden"
        assert m.request("joinRoom", "error", room=room)["code"] == "forbidden"
    assert room not in rooms_of(chat, member_token)
    assert refused_status(chat, member_token, room) == 403


HELD_MS = 2_000  # the fault below: each room-index read of the room answered this late
IN_FLIGHT = "inflight"  # the fault's marker: rooms named with it


# A server whose Queries about IN_FLIGHT rooms answer HELD_MS late (CHATAPP_FAULTS):
# the fan-out reads who is in the room, and posts HELD_MS later.
held_reads_server = server_fixture(faults=f"slow-query={HELD_MS}@{IN_FLIGHT}")


@pytest.fixture(scope="module")
def held_reads(held_reads_server: LocalServer) -> Server:
    return Server(held_reads_server, "")


def test_the_slow_query_fault_is_parsed_and_needs_a_marker():
    from chatapp.faults import Faults, from_environment

    assert from_environment({"CHATAPP_FAULTS": f"slow-query=20@{IN_FLIGHT}"}) == Faults(
        slow_query_ms=20, slow_query_marker=IN_FLIGHT)
    for wrong in ("slow-query=20", "slow-query=soon@x"):
        with pytest.raises(ValueError, match="slow-query=MS@MARKER"):
            from_environment({"CHATAPP_FAULTS": wrong})


def test_a_removal_stops_frames_the_fan_out_addressed_before_it(held_reads):
    chat = held_reads
    (_, owner), (member, member_token) = chat.user(), chat.user()
    room = unique(IN_FLIGHT)
    assert chat.rest("POST", "/rooms", owner, {"room": room, "kind": "private"})[0] == 201
    assert chat.rest("PUT", f"/rooms/{room}/members/{member}", owner)[0] == 204
    with ChatClient(chat.ws_url, owner, room) as o, ChatClient(
        chat.ws_url, member_token, room
    ) as m:
        with talking(o):  # the fan-out is always reading the room (and held) meanwhile
            # (the first waits behind held reads of the member's own arrival too)
            m.recv_until(lambda frame: frame["type"] == "message", timeout=10 * HELD_MS / 1000)
            # A delivery just ended; the next one's read of the room (with the
            # member in it) is held now. Remove the member in the middle of it.
            time.sleep(HELD_MS / 2000)
            assert chat.rest("DELETE", f"/rooms/{room}/members/{member}", owner)[0] == 204
            assert until_removed(m, "presence") == {"type": "removed", "room": room}
            # Every read held when the member was removed has been answered by now.
            after = m.quiet(2 * HELD_MS / 1000 + 1)
        assert [f for f in after if f.get("room", f.get("message", {}).get("room")) == room] == []


def test_a_ban_keeps_a_user_out_of_a_public_room_until_let_back_in(chat):
    (_, owner), (user, user_token) = chat.user(), chat.user()
    room = unique("pub")
    assert chat.rest("POST", "/rooms", owner, {"room": room, "kind": "public"})[0] == 201
    with ChatClient(chat.ws_url, user_token, room) as u:
        assert chat.rest("DELETE", f"/rooms/{room}/members/{user}", owner)[0] == 204
        assert u.recv_type("removed", REMOVED_DEADLINE) == {"type": "removed", "room": room}
        assert u.request("joinRoom", "error", room=room)["code"] == "forbidden"
    assert refused_status(chat, user_token, room) == 403
    assert chat.rest("PUT", f"/rooms/{room}/members/{user}", owner)[0] == 204
    with ChatClient(chat.ws_url, user_token, room) as u:
        assert u.request("getMembers", "members")["room"] == room


def test_a_member_cannot_remove_or_invite(chat):
    (_, owner), (member, member_token), (other, _) = chat.user(), chat.user(), chat.user()
    room = private_room(chat, owner)
    chat.rest("PUT", f"/rooms/{room}/members/{member}", owner)
    assert chat.rest("PUT", f"/rooms/{room}/members/{other}", member_token)[0] == 403
    assert chat.rest("DELETE", f"/rooms/{room}/members/{other}", member_token)[0] == 403
    assert chat.rest("PUT", f"/rooms/{room}/moderators/{other}", member_token)[0] == 403


def test_a_member_leaves_and_the_owner_cannot_be_removed(chat):
    (owner_name, owner), (member, member_token) = chat.user(), chat.user()
    room = private_room(chat, owner)
    chat.rest("PUT", f"/rooms/{room}/members/{member}", owner)
    chat.rest("PUT", f"/rooms/{room}/moderators/{member}", owner)
    assert rooms_of(chat, member_token)[room]["role"] == "moderator"
    assert chat.rest("DELETE", f"/rooms/{room}/members/{owner_name}", member_token)[0] == 403
    assert chat.rest("DELETE", f"/rooms/{room}/members/{member}", member_token)[0] == 204
    assert room not in rooms_of(chat, member_token)
    assert refused_status(chat, member_token, room) == 403


def test_a_dm_is_the_same_room_both_ways_and_refuses_a_third_user(chat):
    (alice, alice_token), (bob, bob_token), (_, carol) = chat.user(), chat.user(), chat.user()
    status, first = chat.rest("POST", "/dms", alice_token, {"username": bob})
    assert status == 200 and first["kind"] == "direct" and first["with"] == bob
    status, second = chat.rest("POST", "/dms", bob_token, {"username": alice.upper()})
    assert status == 200 and second == {"room": first["room"], "kind": "direct", "with": alice}
    room = first["room"]
    assert rooms_of(chat, bob_token)[room]["with"] == alice
    assert refused_status(chat, carol, room) == 403
    assert refused_status(chat, chat.admin_token(), room) == 403  # admins never enter a DM
    assert chat.rest("PUT", f"/rooms/{room}/members/{alice}", carol)[0] == 403
    with ChatClient(chat.ws_url, alice_token, room) as a, ChatClient(
        chat.ws_url, bob_token, room
    ) as b:
        a.send("sendMessage", text="hi bob")
        assert b.messages(1)[0]["text"] == "hi bob"


def test_a_block_refuses_post_dms_and_send_message_in_the_dm(chat):
    (alice, alice_token), (bob, bob_token) = chat.user(), chat.user()
    room = chat.rest("POST", "/dms", alice_token, {"username": bob})[1]["room"]
    assert chat.rest("PUT", f"/blocks/{alice}", bob_token)[0] == 204
    assert chat.rest("GET", "/blocks", bob_token) == (200, {"blocked": [alice]})
    assert chat.rest("POST", "/dms", alice_token, {"username": bob})[0] == 403
    assert chat.rest("POST", "/dms", bob_token, {"username": alice})[0] == 403
    with ChatClient(chat.ws_url, alice_token, room) as a:
        assert a.request("sendMessage", "error", text="hello?")["code"] == "forbidden"
        assert a.request("getMessages", "messages")["messages"] == []  # access kept
    assert chat.rest("DELETE", f"/blocks/{alice}", bob_token)[0] == 204
    assert chat.rest("GET", "/blocks", bob_token) == (200, {"blocked": []})
    assert chat.rest("POST", "/dms", alice_token, {"username": bob})[0] == 200


def test_a_moderator_deletes_another_users_message_and_a_member_cannot(chat):
    (_, owner), (mod, mod_token), (member, member_token) = chat.user(), chat.user(), chat.user()
    room = private_room(chat, owner)
    for name in (mod, member):
        chat.rest("PUT", f"/rooms/{room}/members/{name}", owner)
    assert chat.rest("PUT", f"/rooms/{room}/moderators/{mod}", owner)[0] == 204
    with ChatClient(chat.ws_url, owner, room) as o, ChatClient(
        chat.ws_url, mod_token, room
    ) as d, ChatClient(chat.ws_url, member_token, room) as m:
        o.send("sendMessage", text="delete me")
        (message,) = m.messages(1)
        d.messages(1)
        assert m.request("deleteMessage", "error", id=message["id"])["code"] == "forbidden"
        d.send("deleteMessage", id=message["id"])
        assert m.recv_type("messageDeleted")["id"] == message["id"]


def test_an_admin_deletes_in_a_public_room_and_enters_a_private_one(chat):
    (_, owner), (_, user) = chat.user(), chat.user()
    room = private_room(chat, owner)
    admin = chat.admin_token()
    with ChatClient(chat.ws_url, owner, room) as o, ChatClient(chat.ws_url, admin, room) as a:
        o.send("sendMessage", text="hm")
        (message,) = a.messages(1)
        o.messages(1)
        a.send("deleteMessage", id=message["id"])
        assert o.recv_type("messageDeleted")["id"] == message["id"]
    assert room not in rooms_of(chat, admin)  # a visit makes no membership
    assert refused_status(chat, user, room) == 403


def test_an_admin_reads_reports_and_a_member_gets_403(chat):
    (sender, sender_token), (reporter, reporter_token) = chat.user(), chat.user()
    room = unique("pub")
    with ChatClient(chat.ws_url, sender_token, room) as s:
        s.send("sendMessage", text="something rude")
        (message,) = s.messages(1)
    body = {"room": room, "id": message["id"], "reason": "rude"}
    assert chat.rest("POST", "/reports", reporter_token, body)[0] == 201
    assert chat.rest("POST", "/reports", reporter_token, {**body, "reason": "again"})[0] == 200
    assert chat.rest("GET", "/reports", reporter_token)[0] == 403
    status, listed = chat.rest("GET", "/reports", chat.admin_token())
    assert status == 200
    mine = [r for r in listed["reports"] if r["id"] == message["id"]]
    assert len(mine) == 1
    assert {k: mine[0][k] for k in ("room", "sender", "text", "reporter", "reason")} == {
        "room": room, "sender": sender, "text": "something rude", "reporter": reporter,
        "reason": "rude"}
    assert "reportedAt" in mine[0]


def test_only_a_member_reports_a_private_rooms_message(chat):
    (_, owner), (_, stranger) = chat.user(), chat.user()
    room = private_room(chat, owner)
    with ChatClient(chat.ws_url, owner, room) as o:
        o.send("sendMessage", text="ours")
        (message,) = o.messages(1)
    body = {"room": room, "id": message["id"], "reason": "spam"}
    assert chat.rest("POST", "/reports", stranger, body)[0] == 403


def test_the_directory_lists_public_rooms_by_prefix_and_never_a_private_one(chat):
    (_, owner), (_, visitor) = chat.user(), chat.user()
    prefix = f"dir{uuid.uuid4().hex[:6]}"
    for name, kind in (("b", "public"), ("a", "public"), ("secret", "private")):
        chat.rest("POST", "/rooms", owner, {"room": f"{prefix}-{name}", "kind": kind})
    with ChatClient(chat.ws_url, visitor, f"{prefix}-c"):  # joining creates a public room
        status, body = chat.rest("GET", f"/directory?prefix={prefix}", visitor)
    assert status == 200
    assert body["rooms"] == [
        {"room": f"{prefix}-a", "online": 0},
        {"room": f"{prefix}-b", "online": 0},
        {"room": f"{prefix}-c", "online": 1},
    ]
    dm = chat.rest("POST", "/dms", owner, {"username": chat.user()[0]})[1]["room"]
    everything = chat.rest("GET", "/directory?prefix=dm-", visitor)[1]["rooms"]
    assert dm not in [r["room"] for r in everything]


def test_a_room_name_that_exists_gets_409(chat):
    (_, owner), (_, other) = chat.user(), chat.user()
    room = private_room(chat, owner)
    assert chat.rest("POST", "/rooms", other, {"room": room, "kind": "public"})[0] == 409
    with ChatClient(chat.ws_url, other, unique("used")) as c:
        used = c.request("getMembers", "members")["room"]
    assert chat.rest("POST", "/rooms", other, {"room": used, "kind": "private"})[0] == 409


@pytest.mark.parametrize(
    "method, path, body, status",
    [
        ("POST", "/rooms", {"room": "Bad Name", "kind": "public"}, 400),
        ("POST", "/rooms", {"room": "x" * 65, "kind": "private"}, 400),
        ("POST", "/rooms", {"room": "fine", "kind": "secret"}, 400),
        ("POST", "/rooms", {"room": "dm-mine", "kind": "public"}, 400),
        ("POST", "/rooms", ["not", "an", "object"], 400),
        ("PUT", "/rooms/{room}/members/nobody-{u}", None, 404),
        ("PUT", "/rooms/{room}/members/bad%20name", None, 400),
        ("PUT", "/rooms/no-such-room-{u}/members/{user}", None, 404),
        ("PUT", "/rooms/BAD/members/{user}", None, 400),
        ("DELETE", "/rooms/{room}/members/nobody-{u}", None, 404),
        ("PUT", "/rooms/{room}/moderators/nobody-{u}", None, 404),
        ("POST", "/dms", {"username": "nobody-{u}"}, 404),
        ("POST", "/dms", {"username": "no way!"}, 400),
        ("POST", "/dms", {"username": "{owner}"}, 400),
        ("POST", "/dms", {}, 400),
        ("PUT", "/blocks/nobody-{u}", None, 404),
        ("PUT", "/blocks/bad%20name", None, 400),
        ("PUT", "/blocks/{owner}", None, 400),
        ("GET", "/directory?prefix=No%20Way", None, 400),
        ("POST", "/reports", {"room": "{room}", "id": "x", "reason": "r" * 501}, 400),
        ("POST", "/reports", {"room": "{room}", "id": "x", "reason": "   "}, 400),
        ("POST", "/reports", {"room": "{room}", "id": "no-such-id", "reason": "r"}, 404),
        ("POST", "/reports", {"room": "no-such-{u}", "id": "x", "reason": "r"}, 404),
        ("POST", "/reports", {"room": "{room}", "id": 7, "reason": "r"}, 400),
    ],
)
def test_bad_input_gets_a_clear_error_and_changes_nothing(chat, method, path, body, status):
    (owner_name, owner), (user, user_token) = chat.user(), chat.user()
    room = private_room(chat, owner)
    chat.rest("PUT", f"/rooms/{room}/members/{user}", owner)
    u = uuid.uuid4().hex[:6]

    def fill(value):
        if isinstance(value, str):
            return value.format(room=room, user=user, owner=owner_name, u=u)
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value

    before = (rooms_of(chat, owner), rooms_of(chat, user_token),
              chat.rest("GET", "/blocks", owner), chat.rest("GET", "/reports", chat.admin_token()))
    answer = chat.rest(method, fill(path), owner, fill(body))
    assert answer[0] == status, answer
    assert answer[1]["Code"] in ("BadRequestError", "NotFoundError", "ForbiddenError")
    after = (rooms_of(chat, owner), rooms_of(chat, user_token),
             chat.rest("GET", "/blocks", owner), chat.rest("GET", "/reports", chat.admin_token()))
    assert after == before


def test_rest_calls_on_rooms_need_a_token(chat):
    for method, path in (("POST", "/rooms"), ("POST", "/dms"), ("GET", "/directory"),
                         ("GET", "/blocks"), ("GET", "/reports"),
                         ("PUT", "/rooms/general/members/" + urllib.parse.quote("someone"))):
        assert chat.rest(method, path, "not-a-token", {})[0] == 401


def test_the_owner_names_and_unnames_moderators_who_then_remove_members(chat):
    (_, owner), (mod, mod_token), (member, member_token) = chat.user(), chat.user(), chat.user()
    room = private_room(chat, owner)
    for name in (mod, member):
        chat.rest("PUT", f"/rooms/{room}/members/{name}", owner)
    assert chat.rest("PUT", f"/rooms/{room}/moderators/{mod}", owner)[0] == 204
    assert chat.rest("PUT", f"/rooms/{room}/moderators/{member}", mod_token)[0] == 403
    assert chat.rest("DELETE", f"/rooms/{room}/members/{member}", mod_token)[0] == 204
    assert room not in rooms_of(chat, member_token)
    assert chat.rest("PUT", f"/rooms/{room}/members/{member}", mod_token)[0] == 204
    assert rooms_of(chat, member_token)[room]["role"] == "member"
    assert chat.rest("DELETE", f"/rooms/{room}/moderators/{mod}", owner)[0] == 204
    assert rooms_of(chat, mod_token)[room]["role"] == "member"
    assert chat.rest("DELETE", f"/rooms/{room}/members/{member}", mod_token)[0] == 403


def test_a_private_rooms_unread_count_starts_when_one_became_a_member(chat):
    (_, owner), (member, member_token) = chat.user(), chat.user()
    room = private_room(chat, owner)
    with ChatClient(chat.ws_url, owner, room) as o:
        o.send("sendMessage", text="before")
        o.messages(1)
        chat.rest("PUT", f"/rooms/{room}/members/{member}", owner)
        o.send("sendMessage", text="after")
        o.messages(1)
    listed = rooms_of(chat, member_token)[room]
    assert listed["unread"] == 1
